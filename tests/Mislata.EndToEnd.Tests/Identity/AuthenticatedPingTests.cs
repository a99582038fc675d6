using System.Net;
using System.Net.Http.Headers;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// <c>GET /api/v1/ping/auth</c> (issue 17's bench of authentication): 204 for any valid credential — an API key of any
/// scope, an ES256 and an ML-DSA-65 access token — and the same refusals as every other route: none or a forged one 401,
/// a revoked API key 401, a suspended tenant 403.
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class AuthenticatedPingTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    private async Task<HttpResponseMessage> PingAsync(string? apiKey = null, string? bearer = null)
    {
        using var client = _stack.Gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/ping/auth");
        if (apiKey is not null)
        {
            request.Headers.Add("X-Api-Key", apiKey);
        }

        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return await client.SendAsync(request);
    }

    private async Task<string> TokenAsync(string op, Guid tenant, string algorithm)
    {
        var (status, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op,
            new { name = "ping " + algorithm, type = "confidential", scopes = new[] { "billing:read" }, tenantId = tenant, tokenSigningAlgorithm = algorithm });
        Assert.True(status == HttpStatusCode.Created, body.ToString());
        var token = await Oidc.ClientCredentialsAsync(_stack, body.GetProperty("clientId").GetString()!, body.GetProperty("clientSecret").GetString()!);
        Assert.Equal(algorithm, new JsonWebToken(token).Alg);
        return token;
    }

    [Fact]
    public async Task Any_valid_credential_gets_204_and_every_invalid_one_the_usual_refusal()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);

        using (var anonymous = await PingAsync())
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);
        }

        // An API key with a scope unrelated to anything (no scope is needed), both tokens, and the operator's token.
        var (created, createdKey, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/admin/tenants/{tenant}/api-keys", op,
            new { name = "ping", scopes = new[] { "audit:read", "apikeys:write" } });
        Assert.True(created == HttpStatusCode.Created, createdKey.ToString());
        var apiKey = createdKey.GetProperty("key").GetString()!;
        var keyId = createdKey.GetProperty("id").GetString()!;
        var es256 = await TokenAsync(op, tenant, "ES256");
        var mlDsa = await TokenAsync(op, tenant, "ML-DSA-65");
        foreach (var (name, key, bearer) in new (string, string?, string?)[] { ("API key", apiKey, null), ("ES256", null, es256), ("ML-DSA-65", null, mlDsa), ("operator", null, op) })
        {
            using var ok = await PingAsync(key, bearer);
            Assert.True(ok.StatusCode == HttpStatusCode.NoContent, $"{name}: {(int)ok.StatusCode} {await ok.Content.ReadAsStringAsync()}");
        }

        // A forged token (a flipped signature byte) and an unknown API key.
        var parts = mlDsa.Split('.');
        parts[2] = (parts[2][0] == 'A' ? 'B' : 'A') + parts[2][1..];
        using (var forged = await PingAsync(bearer: string.Join('.', parts)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        }

        using (var unknown = await PingAsync(apiKey: apiKey[..^4] + (apiKey[^4..] == "AAAA" ? "BBBB" : "AAAA")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        }

        // A suspended tenant: 403 for its tokens and keys, until it is reactivated.
        var (suspended, suspendedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/admin/tenants/{tenant}/suspend", op);
        Assert.True(suspended == HttpStatusCode.OK, suspendedBody.ToString());
        Assert.Equal(HttpStatusCode.Forbidden, await CodeFlow.EventuallyAsync(async () => (await PingAsync(bearer: es256)).StatusCode, HttpStatusCode.Forbidden, TimeSpan.FromSeconds(2)));
        Assert.Equal(HttpStatusCode.Forbidden, await CodeFlow.EventuallyAsync(async () => (await PingAsync(apiKey)).StatusCode, HttpStatusCode.Forbidden, TimeSpan.FromSeconds(2)));
        var (reactivated, reactivatedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/admin/tenants/{tenant}/reactivate", op);
        Assert.True(reactivated == HttpStatusCode.OK, reactivatedBody.ToString());
        Assert.Equal(HttpStatusCode.NoContent, await CodeFlow.EventuallyAsync(async () => (await PingAsync(apiKey)).StatusCode, HttpStatusCode.NoContent, TimeSpan.FromSeconds(2)));

        // A revoked API key (it revokes itself): 401.
        var (revoked, revokedBody, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Delete, $"/api/v1/api-keys/{keyId}", apiKey);
        Assert.True(revoked is HttpStatusCode.NoContent or HttpStatusCode.OK, $"{(int)revoked} {revokedBody}");
        Assert.Equal(HttpStatusCode.Unauthorized, await CodeFlow.EventuallyAsync(async () => (await PingAsync(apiKey)).StatusCode, HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(2)));
    }
}
