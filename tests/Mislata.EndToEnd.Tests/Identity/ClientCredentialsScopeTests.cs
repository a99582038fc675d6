using System.Net;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// A tenant's service application (client credentials) gets exactly the tenant scopes it was permitted, and the api
/// honours exactly those: identity and the api apply one rule (Core <c>TokenScopes</c>).
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class ClientCredentialsScopeTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task A_tenant_client_token_works_at_the_api_for_exactly_its_permitted_tenant_scopes()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (clientId, secret) = await CodeFlow.CreateServiceAppAsync(_stack, op, tenant, "billing:read");
        var token = await Oidc.ClientCredentialsAsync(_stack, clientId, secret);

        var (usage, usageBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/billing/usage", token);
        Assert.True(usage == HttpStatusCode.OK, usageBody.ToString());
        var (keys, keysBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/api-keys", token);
        Assert.Equal(HttpStatusCode.Forbidden, keys);
        Assert.Equal("insufficient_scope", keysBody.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_tenant_client_never_gets_platform_or_partner_scopes_even_when_its_row_permits_them()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (clientId, secret) = await CodeFlow.CreateServiceAppAsync(_stack, op, tenant, "billing:read");

        // The API refuses to permit them to a tenant's application; a row changed with SQL permits them anyway.
        Assert.Equal(1, await IdentitySql.ExecuteAsync(_stack,
            "UPDATE identity.\"OpenIddictApplications\" SET \"Permissions\" = (\"Permissions\"::jsonb || '[\"scp:platform:admin\", \"scp:partner:admin\"]'::jsonb)::text " +
            $"WHERE \"ClientId\" = '{clientId}'"));

        var (status, body) = await CodeFlow.ClientCredentialsAsync(_stack, clientId, secret, "billing:read platform:admin partner:admin");
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        var token = body.GetProperty("access_token").GetString()!;
        var jwt = new JsonWebToken(token);
        Assert.Equal(["billing:read"], jwt.GetClaim("scope").Value.Split(' '));
        Assert.Equal(tenant.ToString(), jwt.GetClaim("tenant_id").Value);
        Assert.False(jwt.TryGetClaim("role", out _), "a tenant's client is no operator");

        var (admin, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/admin/tenants", token);
        Assert.Equal(HttpStatusCode.Forbidden, admin);
        var (all, allBody) = await CodeFlow.ClientCredentialsAsync(_stack, clientId, secret);
        Assert.Equal(["billing:read"], new JsonWebToken(allBody.GetProperty("access_token").GetString()!).GetClaim("scope").Value.Split(' '));
        Assert.Equal(HttpStatusCode.OK, all);
    }
}
