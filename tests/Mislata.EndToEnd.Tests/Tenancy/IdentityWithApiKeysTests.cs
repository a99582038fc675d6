using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Tenancy;

/// <summary>Identity's management API takes a tenant's API keys like the api does, and keeps the plan's maxUsers.</summary>
[Collection(TenancyCollection.Name)]
public sealed class IdentityWithApiKeysTests(TenancyFixture fixture)
{
    private static string Email() => $"u-{Guid.NewGuid():N}@e2e.mislata.test";

    [Fact]
    public async Task A_tenant_key_manages_its_users_within_the_plan_and_usage_counts_them()
    {
        var tenant = await fixture.CreateTenantAsync("community");
        // It gives tenant-member, so it holds that role's scopes (no role beyond the caller's).
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["users:read", "users:write", "billing:read", "keys:read", "encryption:write", "secrets:read", "secrets:write"]);
        var (_, readOnly) = await fixture.CreateKeyAsync(tenant, ["users:read"]);
        var other = await fixture.CreateTenantAsync();
        var (_, otherKey) = await fixture.CreateKeyAsync(other, ["users:read", "users:write"]);
        using var client = fixture.WithKey(key);

        // The community plan allows 5 users; the sixth is a quota error and creates nothing.
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            using var created = await client.PostAsJsonAsync(new Uri("/api/v1/users", UriKind.Relative),
                new { email = Email(), password = "Pw-" + Guid.NewGuid().ToString("N") + "-Z", roles = new[] { "tenant-member" } });
            var body = await created.Content.ReadAsStringAsync();
            Assert.True(created.StatusCode == HttpStatusCode.Created, body);
            var user = JsonDocument.Parse(body).RootElement;
            Assert.Equal(tenant, user.GetProperty("tenantId").GetGuid());
            ids.Add(user.GetProperty("id").GetString()!);
        }

        using (var sixth = await client.PostAsJsonAsync(new Uri("/api/v1/users", UriKind.Relative),
            new { email = Email(), password = "Pw-" + Guid.NewGuid().ToString("N") + "-Z", roles = new[] { "tenant-member" } }))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, sixth.StatusCode);
            Assert.Equal("quota_exceeded", await TenancyFixture.ErrorCodeAsync(sixth));
        }

        using (var usage = await client.GetAsync(new Uri("/api/v1/billing/usage", UriKind.Relative)))
        {
            var text = await usage.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, usage.StatusCode);
            Assert.Contains("\"users\"", text, StringComparison.Ordinal);
            Assert.Equal(5, FindCount(JsonDocument.Parse(text).RootElement, "users"));
        }

        // Another tenant's key sees none of them (404); a key without users:write cannot create (403).
        using (var foreign = fixture.WithKey(otherKey))
        {
            using var r = await foreign.GetAsync(new Uri("/api/v1/users/" + ids[0], UriKind.Relative));
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        }

        using (var reader = fixture.WithKey(readOnly))
        {
            using var list = await reader.GetAsync(new Uri("/api/v1/users", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            Assert.Equal(5, JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement.GetProperty("data").GetArrayLength());
            using var create = await reader.PostAsJsonAsync(new Uri("/api/v1/users", UriKind.Relative), new { email = Email(), roles = new[] { "tenant-member" } });
            Assert.Equal(HttpStatusCode.Forbidden, create.StatusCode);
            Assert.Equal("insufficient_scope", await TenancyFixture.ErrorCodeAsync(create));
        }

        using (var unknown = fixture.WithKey("qapi_" + new string('A', 43)))
        {
            using var r = await unknown.GetAsync(new Uri("/api/v1/users", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            Assert.True(r.Headers.WwwAuthenticate.Count > 0);
        }
    }

    [Fact]
    public async Task Creating_users_and_applications_honours_idempotency_keys()
    {
        var tenant = await fixture.CreateTenantAsync("business");
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["users:read", "users:write", "applications:write", "keys:read", "encryption:write", "secrets:read", "secrets:write"]);
        using var client = fixture.WithKey(key);
        var user = new { email = Email(), password = "Pw-" + Guid.NewGuid().ToString("N") + "-Z", roles = new[] { "tenant-member" } };
        var idempotencyKey = "create-user-" + Guid.NewGuid().ToString("N");

        async Task<HttpResponseMessage> PostAsync(string path, object body, string idemKey)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
            request.Headers.Add("Idempotency-Key", idemKey);
            return await client.SendAsync(request);
        }

        using var first = await PostAsync("/api/v1/users", user, idempotencyKey);
        using var repeat = await PostAsync("/api/v1/users", user, idempotencyKey);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, repeat.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await repeat.Content.ReadAsStringAsync());
        Assert.Equal("true", Assert.Single(repeat.Headers.GetValues("Idempotent-Replayed")));

        using var different = await PostAsync("/api/v1/users", user with { email = Email() }, idempotencyKey);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, different.StatusCode);
        Assert.Equal("application/problem+json", different.Content.Headers.ContentType?.MediaType);

        // One user was created, not two.
        using var list = await client.GetAsync(new Uri("/api/v1/users", UriKind.Relative));
        Assert.Equal(1, JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement.GetProperty("data").GetArrayLength());

        var app = new { name = "svc", type = "confidential", scopes = new[] { "users:read" } };
        using var appFirst = await PostAsync("/api/v1/applications", app, "create-app-1");
        using var appRepeat = await PostAsync("/api/v1/applications", app, "create-app-1");
        Assert.Equal(HttpStatusCode.Created, appFirst.StatusCode);
        Assert.Equal(await appFirst.Content.ReadAsStringAsync(), await appRepeat.Content.ReadAsStringAsync());
    }

    /// <summary>The count of a resource in /billing/usage, wherever the response nests it.</summary>
    private static long FindCount(JsonElement element, string resource)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (property.NameEquals(resource))
            {
                var value = property.Value;
                if (value.ValueKind == JsonValueKind.Number)
                {
                    return value.GetInt64();
                }

                foreach (var name in new[] { "used", "count", "current" })
                {
                    if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty(name, out var used) && used.ValueKind == JsonValueKind.Number)
                    {
                        return used.GetInt64();
                    }
                }
            }

            if (property.Value.ValueKind == JsonValueKind.Object)
            {
                var nested = FindCount(property.Value, resource);
                if (nested >= 0)
                {
                    return nested;
                }
            }
        }

        return -1;
    }
}
