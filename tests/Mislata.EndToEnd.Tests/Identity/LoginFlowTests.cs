using System.Net;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Mislata.EndToEnd.Tests.Identity;

[Collection(IdentityCollection.Name)]
public sealed class LoginFlowTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task A_user_signs_in_with_code_and_pkce_and_totp_refreshes_with_rotation_and_signs_out()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenantId = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var email = Oidc.NewEmail("alice");
        var password = Oidc.StrongPassword();
        var user = await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-admin"], tenantId);
        var clientId = await Oidc.CreatePublicAppAsync(_stack, operatorToken, tenantId, "openid profile email offline_access keys:read users:read apikeys:read", consentType: "explicit");
        var before = _stack.Of("identity").Select(s => Count(s.Output)).ToArray();

        // 1. MFA set-up in one browser: the page shows the secret and otpauth URI, then the recovery codes.
        string secret;
        using (var setup = new Browser(_stack))
        {
            var login = await setup.NavigateAsync("/account/mfa/setup");
            var page = await Oidc.SignInAsync(setup, login, email, password);
            Assert.Equal("Set up two-factor authentication · Mislata", page.Document.Title);
            Assert.Equal("en", page.Document.DocumentElement.GetAttribute("lang"));
            secret = page.Document.QuerySelector("#secret")!.TextContent;
            Assert.StartsWith("otpauth://totp/", page.Document.QuerySelector("#otpauth-uri")!.TextContent, StringComparison.Ordinal);
            var code = new OtpNet.Totp(OtpNet.Base32Encoding.ToBytes(secret)).ComputeTotp();
            var done = await setup.SubmitAsync(page, new Dictionary<string, string> { ["code"] = code });
            Assert.True(done.Status == HttpStatusCode.OK, $"{(int)done.Status} {done.Body}");
            Assert.Equal(10, done.Document.QuerySelectorAll("#recovery-codes li").Length);
        }

        // 2. The authorization code flow in a fresh browser: login page, TOTP, consent, code.
        using var browser = new Browser(_stack);
        var (verifier, challenge) = Oidc.Pkce();
        var state = TestEnvironment.RandomToken(8);
        var loginPage = await browser.NavigateAsync(Oidc.AuthorizeUrl(clientId, "openid offline_access keys:read users:read apikeys:read", challenge, state));
        var consent = await Oidc.SignInAsync(browser, loginPage, email, password, secret);
        Assert.NotNull(consent.Document.QuerySelector("button[value=accept]"));
        var redirect = await browser.FollowAsync(await browser.SubmitAsync(consent, submitName: "submit", submitValue: "accept"));
        Assert.StartsWith(Oidc.RedirectUri, redirect.Location!.ToString(), StringComparison.Ordinal);
        Assert.Equal(state, Oidc.Query(redirect.Location!, "state"));
        var code1 = Oidc.Query(redirect.Location!, "code")!;

        var (status, tokens) = await Oidc.RedeemAsync(_stack, clientId, code1, verifier);
        Assert.True(status == HttpStatusCode.OK, tokens.ToString());
        var access = tokens.GetProperty("access_token").GetString()!;
        var refresh = tokens.GetProperty("refresh_token").GetString()!;
        Assert.False(string.IsNullOrEmpty(tokens.GetProperty("id_token").GetString()));

        var validated = await Jwks.ValidateAsync(_stack, access);
        Assert.True(validated.IsValid, validated.Exception?.ToString());
        var jwt = (JsonWebToken)validated.SecurityToken;
        Assert.Equal(user.GetProperty("id").GetString(), jwt.Subject);
        Assert.Equal(tenantId.ToString(), jwt.GetClaim("tenant_id").Value);
        Assert.Equal("tenant-admin", jwt.GetClaim("role").Value);
        Assert.Equal(clientId, jwt.GetClaim("client_id").Value);
        Assert.Equal(new[] { "apikeys:read", "keys:read", "offline_access", "openid", "users:read" }, jwt.GetClaim("scope").Value.Split(' ').Order(StringComparer.Ordinal).ToArray());

        // 3. The access token works on the management API; refresh rotates; the old refresh token is then refused.
        var (me, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users/" + user.GetProperty("id").GetString(), access);
        Assert.Equal(HttpStatusCode.OK, me);

        // The api accepts the same token (validated locally against identity's JWKS) for the user's own tenant, and
        // another tenant's resource is 404 to it.
        var (keys, keysBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/api-keys", access);
        Assert.True(keys == HttpStatusCode.OK, keysBody.ToString());
        var otherTenant = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var (_, otherKey, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/admin/tenants/{otherTenant}/api-keys", operatorToken, new { name = "tenant-b", scopes = new[] { "apikeys:read" } });
        var (foreign, foreignBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/api-keys/" + otherKey.GetProperty("id").GetString(), access);
        Assert.Equal(HttpStatusCode.NotFound, foreign);
        Assert.Equal("not_found", foreignBody.GetProperty("error").GetString());
        var (refreshed, newTokens) = await Oidc.RefreshAsync(_stack, clientId, refresh);
        Assert.True(refreshed == HttpStatusCode.OK, newTokens.ToString());
        var newRefresh = newTokens.GetProperty("refresh_token").GetString()!;
        Assert.NotEqual(refresh, newRefresh);
        var (reused, reusedBody) = await Oidc.RefreshAsync(_stack, clientId, refresh);
        Assert.Equal(HttpStatusCode.BadRequest, reused);
        Assert.Equal("invalid_grant", reusedBody.GetProperty("error").GetString());

        // 4. Sign-out through the end-session endpoint ends the session: the next authorize asks for a login again.
        var endSession = await browser.NavigateAsync("/connect/endsession?client_id=" + clientId + "&post_logout_redirect_uri=" + Uri.EscapeDataString(Oidc.PostLogoutRedirectUri));
        var signedOut = await browser.FollowAsync(await browser.SubmitAsync(endSession));
        Assert.Equal(Oidc.PostLogoutRedirectUri, signedOut.Location?.ToString());
        var again = await browser.NavigateAsync(Oidc.AuthorizeUrl(clientId, "openid", challenge, state));
        Assert.Equal("Sign in · Mislata", again.Document.Title);

        // 5. Both identity replicas served parts of this one flow (round robin at the gateway).
        var after = _stack.Of("identity").Select(s => Count(s.Output)).ToArray();
        Assert.Equal(2, after.Length);
        Assert.All(after.Zip(before), p => Assert.True(p.First > p.Second, $"steps per replica before {string.Join(',', before)}, after {string.Join(',', after)}"));
    }

    private static int Count(string output) => output.Split('\n').Count(l => l.Contains("Account step", StringComparison.Ordinal));
}
