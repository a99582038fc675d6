using System.Net;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Mislata.EndToEnd.Tests.Identity;

[Collection(IdentityCollection.Name)]
public sealed class RestartTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task Restarting_identity_keeps_keys_users_clients_and_sessions()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenantId = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var email = Oidc.NewEmail("erin");
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-admin"], tenantId);
        var clientId = await Oidc.CreatePublicAppAsync(_stack, operatorToken, tenantId, "openid offline_access keys:read");
        using var browser = new Browser(_stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
        var (verifier, challenge) = Oidc.Pkce();
        var (_, tokens) = await Oidc.RedeemAsync(_stack, clientId, await Oidc.AuthorizeAsync(browser, clientId, "openid offline_access keys:read", challenge), verifier);
        var kidBefore = new JsonWebToken(operatorToken).Kid;

        foreach (var identity in _stack.Of("identity").ToList())
        {
            await _stack.RestartAsync(identity);
        }

        await _stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));

        // Keys: the token signed before the restart still verifies with the JWKS, and new tokens use the same key.
        var old = await Jwks.ValidateAsync(_stack, operatorToken);
        Assert.True(old.IsValid, old.Exception?.ToString());
        Assert.Equal(kidBefore, new JsonWebToken(await Oidc.OperatorTokenAsync(_stack)).Kid);

        // Session: the browser is still signed in (the ticket lives in Redis) and gets a code without a login page.
        var (verifier2, challenge2) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(browser, clientId, "openid keys:read", challenge2);
        var (redeemed, _) = await Oidc.RedeemAsync(_stack, clientId, code, verifier2);
        Assert.Equal(HttpStatusCode.OK, redeemed);

        // Users and clients: refresh tokens from before still work; the user can sign in anew.
        var (refreshed, body) = await Oidc.RefreshAsync(_stack, clientId, tokens.GetProperty("refresh_token").GetString()!);
        Assert.True(refreshed == HttpStatusCode.OK, body.ToString());
        using var fresh = new Browser(_stack);
        var home = await Oidc.SignInAsync(fresh, await fresh.NavigateAsync("/account/login"), email, password);
        Assert.Equal(email, home.Document.QuerySelector("#user")?.TextContent);
    }
}
