using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Tenancy;

/// <summary>
/// A key minted by an API key never exceeds that key: expiry no later, allowlist no wider, rate limit no higher; what the
/// request leaves out is the creating key's (issue 8, "No privilege beyond the caller's").
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class ApiKeyLimitsTests(TenancyFixture fixture)
{
    private static readonly Uri ApiKeys = new("/api/v1/api-keys", UriKind.Relative);

    /// <summary>A parent key, usable through the gateway (127.0.0.1 is the client address the services see), with limits.</summary>
    private async Task<(string Key, DateTimeOffset ExpiresAt)> ParentAsync()
    {
        var tenant = await fixture.CreateTenantAsync();
        var expiresAt = DateTimeOffset.UtcNow.AddDays(2);
        using var op = fixture.Operator();
        using var response = await op.PostAsJsonAsync(new Uri($"/api/v1/admin/tenants/{tenant}/api-keys", UriKind.Relative), new
        {
            name = "parent",
            scopes = new[] { "apikeys:read", "apikeys:write" },
            expiresAt,
            ipAllowlist = new[] { "127.0.0.1/32", "10.0.0.0/8" },
            rateLimitPerMinute = 100,
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        return (JsonDocument.Parse(body).RootElement.GetProperty("key").GetString()!, expiresAt);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> MintAsync(HttpClient client, object request)
    {
        using var response = await client.PostAsJsonAsync(ApiKeys, request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task A_key_cannot_mint_a_key_that_outlives_it_reaches_wider_or_calls_faster()
    {
        var (parent, expiresAt) = await ParentAsync();
        using var client = fixture.WithKey(parent);
        var scopes = new[] { "apikeys:read" };

        var cases = new (string Limit, object Request)[]
        {
            ("expiresAt", new { name = "later", scopes, expiresAt = expiresAt.AddDays(1) }),
            ("ipAllowlist", new { name = "wider", scopes, ipAllowlist = new[] { "0.0.0.0/0" } }),
            ("ipAllowlist", new { name = "overlapping", scopes, ipAllowlist = new[] { "10.0.0.0/7" } }),
            ("ipAllowlist", new { name = "other family", scopes, ipAllowlist = new[] { "::/0" } }),
            ("rateLimitPerMinute", new { name = "faster", scopes, rateLimitPerMinute = 101 }),
        };
        foreach (var (limit, request) in cases)
        {
            var (status, body) = await MintAsync(client, request);
            Assert.True(status == HttpStatusCode.Forbidden, $"{limit}: {(int)status} {body}");
            Assert.Equal("forbidden", body.GetProperty("error").GetString());
            Assert.Contains(limit, body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // Scopes keep their own answer.
        var (scopeStatus, scopeBody) = await MintAsync(client, new { name = "scope", scopes = new[] { "keys:read" } });
        Assert.Equal(HttpStatusCode.Forbidden, scopeStatus);
        Assert.Equal("insufficient_scope", scopeBody.GetProperty("error").GetString());

        // Nothing was issued by the refused requests: only the parent is listed.
        using var list = await client.GetAsync(ApiKeys);
        Assert.Equal(1, JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement.GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task A_key_minted_by_a_key_inherits_the_limits_left_out_and_may_narrow_them()
    {
        var (parent, expiresAt) = await ParentAsync();
        using var client = fixture.WithKey(parent);

        var (status, inherited) = await MintAsync(client, new { name = "inherits", scopes = new[] { "apikeys:read" } });
        Assert.True(status == HttpStatusCode.Created, inherited.ToString());
        Assert.Equal(expiresAt.ToUnixTimeSeconds(), inherited.GetProperty("expiresAt").GetDateTimeOffset().ToUnixTimeSeconds());
        Assert.Equal(["127.0.0.1/32", "10.0.0.0/8"], inherited.GetProperty("ipAllowlist").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(100, inherited.GetProperty("rateLimitPerMinute").GetInt32());

        var narrowExpiry = expiresAt.AddHours(-1);
        var (narrowStatus, narrow) = await MintAsync(client, new
        {
            name = "narrower",
            scopes = new[] { "apikeys:read" },
            expiresAt = narrowExpiry,
            ipAllowlist = new[] { "10.1.0.0/16", "127.0.0.1/32" },
            rateLimitPerMinute = 100,
        });
        Assert.True(narrowStatus == HttpStatusCode.Created, narrow.ToString());
        Assert.Equal(narrowExpiry.ToUnixTimeSeconds(), narrow.GetProperty("expiresAt").GetDateTimeOffset().ToUnixTimeSeconds());
        Assert.Equal(["10.1.0.0/16", "127.0.0.1/32"], narrow.GetProperty("ipAllowlist").EnumerateArray().Select(n => n.GetString()));

        // The child works from where its parent does.
        using var child = fixture.WithKey(inherited.GetProperty("key").GetString());
        using var read = await child.GetAsync(ApiKeys);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }

    [Fact]
    public async Task A_key_without_a_rate_limit_mints_keys_no_faster_than_the_default_and_an_operator_is_not_bound()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, unlimited) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write"]);
        using var client = fixture.WithKey(unlimited);
        var (status, body) = await MintAsync(client, new { name = "faster than default", scopes = new[] { "apikeys:read" }, rateLimitPerMinute = 1_000_000 });
        Assert.True(status == HttpStatusCode.Forbidden, body.ToString());
        Assert.Contains("rateLimitPerMinute", body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // An operator (an access token, not a key) gives a tenant's key any limits.
        using var op = fixture.Operator();
        using var response = await op.PostAsJsonAsync(new Uri($"/api/v1/admin/tenants/{tenant}/api-keys", UriKind.Relative),
            new { name = "fast", scopes = new[] { "apikeys:read" }, rateLimitPerMinute = 1_000_000 });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }
}
