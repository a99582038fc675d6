using System.Net;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>A partner admin is a person: bound to one partner, signing in, and managing that partner's tenants.</summary>
[Collection(IdentityCollection.Name)]
public sealed class PartnerAdminTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task A_partner_admin_signs_in_and_its_token_reaches_only_its_partners_tenants()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var (created, partner, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/admin/partners", operatorToken, new { name = "reseller-" + Guid.NewGuid().ToString("N")[..8] });
        Assert.Equal(HttpStatusCode.Created, created);
        var partnerId = partner.GetProperty("id").GetGuid();

        // The binding is checked: a partner-admin needs an existing partner, nobody else takes one.
        var (noPartner, noPartnerBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/users", operatorToken,
            new { email = Oidc.NewEmail("pa"), password = Oidc.StrongPassword(), roles = new[] { "partner-admin" } });
        Assert.Equal(HttpStatusCode.BadRequest, noPartner);
        Assert.True(noPartnerBody.GetProperty("errors").TryGetProperty("partnerId", out _));
        var (ghost, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/users", operatorToken,
            new { email = Oidc.NewEmail("pa"), password = Oidc.StrongPassword(), roles = new[] { "partner-admin" }, partnerId = Guid.NewGuid() });
        Assert.Equal(HttpStatusCode.BadRequest, ghost);

        var email = Oidc.NewEmail("partner-admin");
        var password = Oidc.StrongPassword();
        var (made, user, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/users", operatorToken,
            new { email, password, roles = new[] { "partner-admin" }, partnerId });
        Assert.True(made == HttpStatusCode.Created, user.ToString());
        Assert.Equal(partnerId, user.GetProperty("partnerId").GetGuid());

        var clientId = await Oidc.CreatePublicAppAsync(_stack, operatorToken, null, "openid offline_access partner:admin");
        using var browser = new Browser(_stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
        var (verifier, challenge) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(browser, clientId, "openid offline_access partner:admin", challenge);
        var (status, tokens) = await Oidc.RedeemAsync(_stack, clientId, code, verifier);
        Assert.True(status == HttpStatusCode.OK, tokens.ToString());
        var access = tokens.GetProperty("access_token").GetString()!;

        var jwt = new JsonWebToken(access);
        Assert.Equal(partnerId.ToString(), jwt.GetClaim("partner_id").Value);
        Assert.Equal("partner-admin", jwt.GetClaim("role").Value);
        Assert.False(jwt.TryGetClaim("tenant_id", out _));

        // The api takes the person's token for the partner portal.
        var (tenantCreated, tenant, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/partner/tenants", access, new { name = "customer-" + Guid.NewGuid().ToString("N")[..8] });
        Assert.True(tenantCreated == HttpStatusCode.Created, tenant.ToString());
        var (listed, list, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/partner/tenants", access);
        Assert.Equal(HttpStatusCode.OK, listed);
        Assert.Equal([tenant.GetProperty("id").GetGuid()], list.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetGuid()));
        var (admin, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/admin/tenants", access);
        Assert.Equal(HttpStatusCode.Forbidden, admin);
    }
}
