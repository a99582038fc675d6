using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

[Collection(IdentityCollection.Name)]
public sealed class AccountSecurityTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task Ten_wrong_passwords_lock_the_account_and_then_the_right_one_is_refused()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var email = Oidc.NewEmail("carol");
        var password = Oidc.StrongPassword();
        var user = await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-member"], await Oidc.CreateTenantAsync(_stack, operatorToken));
        using var browser = new Browser(_stack);

        Browser.Page page = await browser.NavigateAsync("/account/login");
        for (var i = 1; i <= 10; i++)
        {
            page = await browser.SubmitAsync(page, new Dictionary<string, string> { ["email"] = email, ["password"] = "Wrong-password-" + i });
            Assert.Equal(HttpStatusCode.Unauthorized, page.Status);
        }

        Assert.Contains("locked", page.Document.QuerySelector("#error")!.TextContent, StringComparison.Ordinal);
        var right = await browser.SubmitAsync(page, new Dictionary<string, string> { ["email"] = email, ["password"] = password });
        Assert.Equal(HttpStatusCode.Unauthorized, right.Status);
        Assert.Contains("locked", right.Document.QuerySelector("#error")!.TextContent, StringComparison.Ordinal);
        var (_, status, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users/" + user.GetProperty("id").GetString(), operatorToken);
        Assert.Equal("locked", status.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_blocked_user_is_refused_at_once_refresh_introspection_and_sign_in()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenantId = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var email = Oidc.NewEmail("dave");
        var password = Oidc.StrongPassword();
        var user = await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-admin"], tenantId);
        var userId = user.GetProperty("id").GetString();
        var clientId = await Oidc.CreatePublicAppAsync(_stack, operatorToken, tenantId, "openid offline_access users:read apikeys:read");
        using var browser = new Browser(_stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
        var (verifier, challenge) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(browser, clientId, "openid offline_access users:read apikeys:read", challenge);
        var (_, tokens) = await Oidc.RedeemAsync(_stack, clientId, code, verifier);
        var access = tokens.GetProperty("access_token").GetString()!;
        Assert.True((await Oidc.IntrospectAsync(_stack, access)).GetProperty("active").GetBoolean());
        var (apiBefore, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/api-keys", access);
        Assert.Equal(HttpStatusCode.OK, apiBefore);

        var (blocked, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/users/{userId}/block", operatorToken);
        Assert.Equal(HttpStatusCode.OK, blocked);
        Assert.Equal("blocked", body.GetProperty("status").GetString());

        var (refresh, refreshBody) = await Oidc.RefreshAsync(_stack, clientId, tokens.GetProperty("refresh_token").GetString()!);
        Assert.Equal(HttpStatusCode.BadRequest, refresh);
        Assert.Equal("invalid_grant", refreshBody.GetProperty("error").GetString());
        Assert.False((await Oidc.IntrospectAsync(_stack, access)).GetProperty("active").GetBoolean());
        var (api, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users/" + userId, access);
        Assert.Equal(HttpStatusCode.Unauthorized, api);

        // The api validates tokens locally, yet refuses the still-unexpired token within a second (blocked-subject
        // list over Redis pub/sub).
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var (apiAfter, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/api-keys", access);
        while (apiAfter != HttpStatusCode.Unauthorized && watch.Elapsed < TimeSpan.FromSeconds(1))
        {
            await Task.Delay(20);
            (apiAfter, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/api-keys", access);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, apiAfter);
        using var other = new Browser(_stack);
        var login = await other.NavigateAsync("/account/login");
        var refused = await other.SubmitAsync(login, new Dictionary<string, string> { ["email"] = email, ["password"] = password });
        Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
    }
}
