using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>RFC 6749 errors for the classic mistakes and attacks on the code flow — never a 500.</summary>
[Collection(IdentityCollection.Name)]
public sealed class ProtocolErrorTests(IdentityFixture fixture) : IAsyncLifetime, IDisposable
{
    private readonly MislataStack _stack = fixture.Stack;
    private Browser? _browser;
    private string _clientId = string.Empty;

    public async Task InitializeAsync()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenantId = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var email = Oidc.NewEmail("bob");
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-member"], tenantId);
        _clientId = await Oidc.CreatePublicAppAsync(_stack, operatorToken, tenantId, "openid offline_access keys:read");
        _browser = new Browser(_stack);
        await Oidc.SignInAsync(_browser, await _browser.NavigateAsync("/account/login"), email, password);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _browser?.Dispose();

    [Fact]
    public async Task Wrong_pkce_verifier_is_invalid_grant()
    {
        var (_, challenge) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(_browser!, _clientId, "openid keys:read", challenge);

        var (status, body) = await Oidc.RedeemAsync(_stack, _clientId, code, Oidc.Pkce().Verifier);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_grant", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_code_redeemed_twice_is_invalid_grant_the_second_time()
    {
        var (verifier, challenge) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(_browser!, _clientId, "openid keys:read", challenge);

        var (first, _) = await Oidc.RedeemAsync(_stack, _clientId, code, verifier);
        var (second, body) = await Oidc.RedeemAsync(_stack, _clientId, code, verifier);

        Assert.Equal(HttpStatusCode.OK, first);
        Assert.Equal(HttpStatusCode.BadRequest, second);
        Assert.Equal("invalid_grant", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_different_redirect_uri_at_the_token_endpoint_is_invalid_grant()
    {
        var (verifier, challenge) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(_browser!, _clientId, "openid keys:read", challenge);

        var (status, body) = await Oidc.RedeemAsync(_stack, _clientId, code, verifier, "http://127.0.0.1:9/other");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_grant", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task An_unregistered_redirect_uri_at_the_authorization_endpoint_is_invalid_request_without_a_redirect()
    {
        var (_, challenge) = Oidc.Pkce();
        var page = await _browser!.GetAsync(Oidc.AuthorizeUrl(_clientId, "openid", challenge, "s", "https://evil.example/callback"));

        Assert.Equal(HttpStatusCode.BadRequest, page.Status);
        Assert.Null(page.Location);
        Assert.Contains("invalid_request", page.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_client_is_refused_at_both_endpoints()
    {
        var (verifier, challenge) = Oidc.Pkce();
        var page = await _browser!.GetAsync(Oidc.AuthorizeUrl("no-such-client", "openid", challenge, "s"));
        var (status, body) = await Oidc.RedeemAsync(_stack, "no-such-client", "code", verifier);

        Assert.Equal(HttpStatusCode.BadRequest, page.Status);
        Assert.Null(page.Location);
        Assert.Contains("invalid_request", page.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("invalid_client", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_public_client_without_pkce_or_with_plain_pkce_is_refused()
    {
        var withoutPkce = await _browser!.GetAsync($"/connect/authorize?response_type=code&client_id={_clientId}&redirect_uri={Uri.EscapeDataString(Oidc.RedirectUri)}&scope=openid&state=s");
        var plain = await _browser.GetAsync($"/connect/authorize?response_type=code&client_id={_clientId}&redirect_uri={Uri.EscapeDataString(Oidc.RedirectUri)}&scope=openid&state=s&code_challenge=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG&code_challenge_method=plain");

        foreach (var page in new[] { withoutPkce, plain })
        {
            // Either answered to the client (redirect with error) or to the user (400 page): never a code.
            var error = page.Status == HttpStatusCode.Redirect ? Oidc.Query(page.Location!, "error") : page.Body;
            Assert.True(page.Status is HttpStatusCode.Redirect or HttpStatusCode.BadRequest, $"{(int)page.Status} {page.Body}");
            Assert.Contains("invalid_request", error, StringComparison.Ordinal);
            Assert.Null(page.Location is null ? null : Oidc.Query(page.Location, "code"));
        }
    }
}
