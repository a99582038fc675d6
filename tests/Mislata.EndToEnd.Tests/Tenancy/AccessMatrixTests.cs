using System.Net;
using System.Text;

namespace Mislata.EndToEnd.Tests.Tenancy;

/// <summary>Every tenant endpoint with no credential, another tenant's key, a key lacking the scope and a suspended tenant's key.</summary>
[Collection(TenancyCollection.Name)]
public sealed class AccessMatrixTests(TenancyFixture fixture)
{
    private sealed record Endpoint(string Method, string Path, bool HasId, string? Body = null);

    private static readonly string[] AllScopes = ["apikeys:read", "apikeys:write", "billing:read", "audit:read"];

    [Fact]
    public async Task Every_tenant_endpoint_answers_401_404_403_403()
    {
        var tenantA = await fixture.CreateTenantAsync();
        var tenantB = await fixture.CreateTenantAsync();
        var tenantC = await fixture.CreateTenantAsync();
        var (_, keyB) = await fixture.CreateKeyAsync(tenantB, AllScopes);
        var (_, keyC) = await fixture.CreateKeyAsync(tenantC, AllScopes);
        var (resourceOfA, _) = await fixture.CreateKeyAsync(tenantA, ["apikeys:read"]);
        var (_, lacking) = await fixture.CreateKeyAsync(tenantA, ["keys:read"]);
        using (var op = fixture.Operator())
        {
            Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(new Uri($"/api/v1/admin/tenants/{tenantC}/suspend", UriKind.Relative), null)).StatusCode);
        }

        // The suspension reaches both replicas within a second (pub/sub); the matrix starts once it has.
        foreach (var replica in fixture.ApiReplicas)
        {
            using var direct = fixture.WithKey(keyC, replica);
            var (status, _, _) = await TenancyFixture.EventuallyAsync(() => direct.GetAsync(new Uri("/api/v1/billing/usage", UriKind.Relative)), HttpStatusCode.Forbidden, TimeSpan.FromSeconds(1));
            Assert.Equal(HttpStatusCode.Forbidden, status);
        }

        var createKey = "{\"name\":\"m\",\"scopes\":[\"apikeys:read\"]}";
        Endpoint[] endpoints =
        [
            new("GET", "/api/v1/api-keys", false),
            new("POST", "/api/v1/api-keys", false, createKey),
            new("GET", $"/api/v1/api-keys/{resourceOfA}", true),
            new("DELETE", $"/api/v1/api-keys/{resourceOfA}", true),
            new("GET", "/api/v1/billing/subscription", false),
            new("GET", "/api/v1/billing/usage", false),
            new("GET", "/api/v1/billing/usage/history?months=3", false),
            new("GET", "/api/v1/audit", false),
            new("GET", "/api/v1/audit/verify", false),
            new("GET", $"/api/v1/audit?resourceId={resourceOfA}&tenantId={tenantA}", true),
        ];

        var failures = new List<string>();
        foreach (var endpoint in endpoints)
        {
            await Expect(endpoint, null, HttpStatusCode.Unauthorized, "unauthorized", failures);
            if (endpoint.HasId)
            {
                await Expect(endpoint, keyB, HttpStatusCode.NotFound, "not_found", failures);
            }

            await Expect(endpoint, lacking, HttpStatusCode.Forbidden, "insufficient_scope", failures);
            await Expect(endpoint, keyC, HttpStatusCode.Forbidden, "forbidden", failures);
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // The resource of A is untouched by B's DELETE attempt.
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.api_keys WHERE id = '{resourceOfA}' AND revoked_at IS NULL"));
    }

    private async Task Expect(Endpoint endpoint, string? key, HttpStatusCode status, string code, List<string> failures)
    {
        using var client = fixture.WithKey(key);
        using var request = new HttpRequestMessage(new HttpMethod(endpoint.Method), new Uri(endpoint.Path, UriKind.Relative));
        if (endpoint.Body is not null)
        {
            request.Content = new StringContent(endpoint.Body, Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request);
        var actual = await TenancyFixture.ErrorCodeAsync(response);
        if (response.StatusCode != status || actual != code)
        {
            failures.Add($"{endpoint.Method} {endpoint.Path} with {(key is null ? "no credential" : key[..13])}: {(int)response.StatusCode} {actual}, expected {(int)status} {code}");
        }

        if (status == HttpStatusCode.Unauthorized && !response.Headers.WwwAuthenticate.Any())
        {
            failures.Add($"{endpoint.Method} {endpoint.Path}: 401 without WWW-Authenticate");
        }
    }
}
