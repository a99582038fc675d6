using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// Issue 8, attack 1: an application owned by a tenant signs in only that tenant's users — at authorize, at the code
/// exchange and at every refresh — and an application without an owner row is nobody's, so it serves nobody.
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class TenantBoundaryTests(IdentityFixture fixture)
{
    private const string EvilRedirect = "https://evil.example/cb";
    private const string Scope = "openid offline_access keys:read";
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task An_application_of_one_tenant_does_not_sign_in_a_user_of_another_tenant()
    {
        // The attack as it succeeded: tenant A's application, implicit consent, a redirect URI of the attacker's, and a
        // signed-in user of tenant B sent to its authorize URL.
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenantA = await Oidc.CreateTenantAsync(_stack, op);
        var tenantB = await Oidc.CreateTenantAsync(_stack, op);
        var (created, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, new
        {
            name = "innocent", type = "public", consentType = "implicit", redirectUris = new[] { EvilRedirect }, scopes = Scope.Split(' '), tenantId = tenantA,
        });
        Assert.True(created == HttpStatusCode.Created, app.ToString());
        using var victim = await CodeFlow.SignedInUserAsync(_stack, op, tenantB, "tenant-admin");

        var page = await CodeFlow.AuthorizeOnceAsync(victim.Browser, app.GetProperty("clientId").GetString()!, Scope, EvilRedirect);

        // Back to the client with access_denied: no code, and no consent page on the way.
        CodeFlow.AssertDeniedWithoutCode(page, EvilRedirect);
    }

    [Fact]
    public async Task A_code_is_not_exchanged_once_its_application_belongs_to_another_tenant()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenantA = await Oidc.CreateTenantAsync(_stack, op);
        var tenantB = await Oidc.CreateTenantAsync(_stack, op);
        var clientId = await Oidc.CreatePublicAppAsync(_stack, op, tenantA, Scope);
        using var user = await CodeFlow.SignedInUserAsync(_stack, op, tenantA, "tenant-member");
        var (verifier, challenge) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(user.Browser, clientId, Scope, challenge);

        await IdentitySql.SetOwnerAsync(_stack, clientId, tenantB);
        var (status, body) = await Oidc.RedeemAsync(_stack, clientId, code, verifier);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_grant", body.GetProperty("error").GetString());
        Assert.False(body.TryGetProperty("access_token", out _));
    }

    [Fact]
    public async Task A_refresh_token_is_refused_once_its_application_belongs_to_another_tenant()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenantA = await Oidc.CreateTenantAsync(_stack, op);
        var tenantB = await Oidc.CreateTenantAsync(_stack, op);
        var clientId = await Oidc.CreatePublicAppAsync(_stack, op, tenantA, Scope);
        using var user = await CodeFlow.SignedInUserAsync(_stack, op, tenantA, "tenant-member");
        var refresh = (await CodeFlow.TokensAsync(_stack, user.Browser, clientId, Scope)).GetProperty("refresh_token").GetString()!;

        await IdentitySql.SetOwnerAsync(_stack, clientId, tenantB);
        var (moved, movedBody) = await Oidc.RefreshAsync(_stack, clientId, refresh);
        Assert.Equal(HttpStatusCode.BadRequest, moved);
        Assert.Equal("invalid_grant", movedBody.GetProperty("error").GetString());

        // The refusal is the boundary's, not a spent token's: back with its tenant, the same refresh token works.
        await IdentitySql.SetOwnerAsync(_stack, clientId, tenantA);
        var (back, backBody) = await Oidc.RefreshAsync(_stack, clientId, refresh);
        Assert.True(back == HttpStatusCode.OK, backBody.ToString());
    }

    [Fact]
    public async Task An_application_without_an_owner_row_is_refused_everywhere()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);

        // A platform service application (owner row without a tenant), then its owner row is lost.
        var (serviceId, secret) = await CodeFlow.CreateServiceAppAsync(_stack, op, null, "platform:admin", "audit:read");
        var (before, _) = await CodeFlow.ClientCredentialsAsync(_stack, serviceId, secret);
        Assert.Equal(HttpStatusCode.OK, before);
        await IdentitySql.ExecuteAsync(_stack, $"DELETE FROM identity.application_owners WHERE \"ApplicationId\" = '{await IdentitySql.ApplicationIdAsync(_stack, serviceId)}'");

        var (status, body) = await CodeFlow.ClientCredentialsAsync(_stack, serviceId, secret);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("invalid_client", body.GetProperty("error").GetString());
        Assert.False(body.TryGetProperty("access_token", out _));

        // Introspection (the permission of platform applications) is refused to it too.
        using (var client = _stack.Gateway.CreateClient())
        using (var response = await client.PostAsync(new Uri("/connect/introspect", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = serviceId, ["client_secret"] = secret, ["token"] = op,
        })))
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.BadRequest, $"introspect: {(int)response.StatusCode} {text}");
            Assert.Contains("\"invalid_client\"", text, StringComparison.Ordinal);
        }

        // A user-facing application without an owner signs nobody in, not even a user of its former tenant.
        var clientId = await Oidc.CreatePublicAppAsync(_stack, op, tenant, Scope);
        await IdentitySql.ExecuteAsync(_stack, $"DELETE FROM identity.application_owners WHERE \"ApplicationId\" = '{await IdentitySql.ApplicationIdAsync(_stack, clientId)}'");
        using var user = await CodeFlow.SignedInUserAsync(_stack, op, tenant, "tenant-member");
        CodeFlow.AssertDeniedWithoutCode(await CodeFlow.AuthorizeOnceAsync(user.Browser, clientId, Scope));
    }

    [Fact]
    public async Task The_consent_page_names_the_application_and_its_owning_tenant()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (tenantId, tenantName) = await CodeFlow.CreateNamedTenantAsync(_stack, op);
        var (created, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, new
        {
            name = "Ledger <portal>", type = "public", consentType = "explicit", redirectUris = new[] { Oidc.RedirectUri }, scopes = Scope.Split(' '), tenantId,
        });
        Assert.True(created == HttpStatusCode.Created, app.ToString());
        var platformApp = await Oidc.CreatePublicAppAsync(_stack, op, null, Scope, consentType: "explicit");
        using var user = await CodeFlow.SignedInUserAsync(_stack, op, tenantId, "tenant-member");

        var consent = await CodeFlow.AuthorizeOnceAsync(user.Browser, app.GetProperty("clientId").GetString()!, Scope);
        Assert.True(consent.Status == HttpStatusCode.OK, $"{(int)consent.Status} {consent.Location} {consent.Body}");
        Assert.Equal("Ledger <portal>", consent.Document.QuerySelector("#application")?.TextContent);
        Assert.Equal(tenantName, consent.Document.QuerySelector("#owner")?.TextContent);

        var platformConsent = await CodeFlow.AuthorizeOnceAsync(user.Browser, platformApp, Scope);
        Assert.Equal("Mislata platform", platformConsent.Document.QuerySelector("#owner")?.TextContent);
    }
}
