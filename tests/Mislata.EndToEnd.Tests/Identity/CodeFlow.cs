using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>Set-ups shared by the tenant-boundary tests: tenants with names, signed-in browsers, token pairs, raw calls.</summary>
public static class CodeFlow
{
    /// <summary>A tenant created by the operator with a name of our choosing (the consent page shows it).</summary>
    public static async Task<(Guid Id, string Name)> CreateNamedTenantAsync(MislataStack stack, string operatorToken)
    {
        var name = "Tenant " + Guid.NewGuid().ToString("N")[..10];
        var (status, body, _) = await Oidc.ApiAsync(stack, HttpMethod.Post, "/api/v1/admin/tenants", operatorToken, new { name });
        Assert.True(status == HttpStatusCode.Created, $"create tenant: {(int)status} {body}");
        return (body.GetProperty("id").GetGuid(), name);
    }

    /// <summary>A user with the given roles in the tenant, and a browser signed in as that user.</summary>
    public static async Task<SignedInUser> SignedInUserAsync(MislataStack stack, string operatorToken, Guid? tenantId, params string[] roles)
    {
        var email = Oidc.NewEmail("u");
        var password = Oidc.StrongPassword();
        var user = await Oidc.CreateUserAsync(stack, operatorToken, email, password, roles, tenantId);
        var browser = new Browser(stack);
        try
        {
            await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
            return new SignedInUser(browser, Guid.Parse(user.GetProperty("id").GetString()!));
        }
        catch
        {
            browser.Dispose();
            throw;
        }
    }

    /// <summary>Code flow with PKCE in a signed-in browser, then the code exchange: the token response (asserted 200).</summary>
    public static async Task<JsonElement> TokensAsync(MislataStack stack, Browser browser, string clientId, string scope)
    {
        var (verifier, challenge) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(browser, clientId, scope, challenge);
        var (status, tokens) = await Oidc.RedeemAsync(stack, clientId, code, verifier);
        Assert.True(status == HttpStatusCode.OK, $"redeem: {(int)status} {tokens}");
        return tokens;
    }

    /// <summary>One authorization request in the browser, accepting nothing: where it ends (a redirect leaving the gateway, or a page).</summary>
    public static async Task<Browser.Page> AuthorizeOnceAsync(Browser browser, string clientId, string scope, string redirectUri = Oidc.RedirectUri)
    {
        ArgumentNullException.ThrowIfNull(browser);
        var (_, challenge) = Oidc.Pkce();
        return await browser.NavigateAsync(Oidc.AuthorizeUrl(clientId, scope, challenge, TestEnvironment.RandomToken(8), redirectUri));
    }

    /// <summary>Asserts an authorization response that went back to the client with <c>error=access_denied</c> and no code.</summary>
    public static void AssertDeniedWithoutCode(Browser.Page page, string redirectUri = Oidc.RedirectUri)
    {
        ArgumentNullException.ThrowIfNull(page);
        Assert.True(page.Location is not null && page.Location.ToString().StartsWith(redirectUri, StringComparison.Ordinal),
            $"expected a redirect to {redirectUri}: {(int)page.Status} {page.Location} {page.Body}");
        Assert.Null(Oidc.Query(page.Location!, "code"));
        Assert.Equal("access_denied", Oidc.Query(page.Location!, "error"));
    }

    /// <summary>A confidential (client-credentials) application created by <paramref name="token"/>: (client id, secret).</summary>
    public static async Task<(string ClientId, string Secret)> CreateServiceAppAsync(MislataStack stack, string token, Guid? tenantId, params string[] scopes)
    {
        var (status, body, _) = await Oidc.ApiAsync(stack, HttpMethod.Post, "/api/v1/applications", token,
            new { name = "service " + Guid.NewGuid().ToString("N")[..6], type = "confidential", scopes, tenantId });
        Assert.True(status == HttpStatusCode.Created, $"create application: {(int)status} {body}");
        return (body.GetProperty("clientId").GetString()!, body.GetProperty("clientSecret").GetString()!);
    }

    public static Task<(HttpStatusCode Status, JsonElement Body)> ClientCredentialsAsync(MislataStack stack, string clientId, string secret, string? scope = null)
    {
        var form = new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = secret };
        if (scope is not null)
        {
            form["scope"] = scope;
        }

        return Oidc.TokenAsync(stack, form);
    }

    /// <summary>A request that may answer 5xx (unlike <see cref="Oidc.ApiAsync"/>): status and problem <c>error</c> code.</summary>
    public static async Task<(HttpStatusCode Status, string? Error)> SendAsync(HttpClient client, HttpMethod method, string path, string token, object? body = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = System.Net.Http.Json.JsonContent.Create(body);
        }

        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        string? error = null;
        try
        {
            error = text.Length > 0 && JsonDocument.Parse(text).RootElement.TryGetProperty("error", out var e) ? e.GetString() : null;
        }
        catch (JsonException)
        {
        }

        return (response.StatusCode, error);
    }

    /// <summary>
    /// Polls until <paramref name="send"/> answers <paramref name="expected"/> or <paramref name="within"/> passes
    /// (changes reach the other replicas over Redis pub/sub); returns the last status.
    /// </summary>
    public static async Task<HttpStatusCode> EventuallyAsync(Func<Task<HttpStatusCode>> send, HttpStatusCode expected, TimeSpan within)
    {
        ArgumentNullException.ThrowIfNull(send);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var status = await send();
            if (status == expected || watch.Elapsed >= within)
            {
                return status;
            }

            await Task.Delay(20);
        }
    }
}

/// <summary>A user's id and a browser holding their session.</summary>
public sealed record SignedInUser(Browser Browser, Guid Id) : IDisposable
{
    public void Dispose() => Browser.Dispose();
}
