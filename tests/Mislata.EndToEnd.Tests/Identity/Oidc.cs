using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OtpNet;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>Small OAuth 2.0 / OIDC client helpers for the tests, written against the RFCs (not OpenIddict).</summary>
public static class Oidc
{
    public const string RedirectUri = "http://127.0.0.1:9/callback";
    public const string PostLogoutRedirectUri = "http://127.0.0.1:9/signed-out";

    public static string StrongPassword() => "Pw-" + TestEnvironment.RandomToken(12) + "-7aZ";

    public static string NewEmail(string prefix) => $"{prefix}-{Guid.NewGuid():N}@e2e.mislata.test";

    public static (string Verifier, string Challenge) Pkce()
    {
        var verifier = TestEnvironment.RandomToken(32);
        var challenge = Convert.ToBase64String(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return (verifier, challenge);
    }

    public static Task<(HttpStatusCode Status, JsonElement Body)> TokenAsync(MislataStack stack, IDictionary<string, string> form) =>
        PostFormAsync(stack, "/connect/token", form);

    /// <summary>A form POST to one of identity's endpoints through the gateway (token, PAR).</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body)> PostFormAsync(MislataStack stack, string path, IDictionary<string, string> form)
    {
        ArgumentNullException.ThrowIfNull(stack);
        using var client = stack.Gateway.CreateClient();
        using var content = new FormUrlEncodedContent(form);
        using var response = await client.PostAsync(new Uri(path, UriKind.Relative), content);
        return (response.StatusCode, await ReadJsonAsync(response));
    }

    public static async Task<string> ClientCredentialsAsync(MislataStack stack, string clientId, string secret, string? scope = null)
    {
        var form = new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = secret };
        if (scope is not null)
        {
            form["scope"] = scope;
        }

        var (status, body) = await TokenAsync(stack, form);
        Assert.True(status == HttpStatusCode.OK, $"client_credentials: {(int)status} {body}");
        return body.GetProperty("access_token").GetString()!;
    }

    public static Task<string> OperatorTokenAsync(MislataStack stack) =>
        ClientCredentialsAsync(stack, stack.BootstrapClientId, stack.BootstrapClientSecret);

    public static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseHeaders Headers)> ApiAsync(MislataStack stack, HttpMethod method, string path, string? token, object? body = null)
    {
        var answer = await SendAsync(stack, method, path, token, body);
        Assert.True((int)answer.Status < 500, $"{method} {path}: {(int)answer.Status} {answer.Body}");
        return answer;
    }

    /// <summary>Like <see cref="ApiAsync"/>, but any status is returned (the audit-down tests expect 503).</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseHeaders Headers)> SendAsync(MislataStack stack, HttpMethod method, string path, string? token, object? body = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        using var client = stack.Gateway.CreateClient();
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await client.SendAsync(request);
        return (response.StatusCode, await ReadJsonAsync(response), response.Headers);
    }

    /// <summary>A real tenant, created by the operator through the api (identity checks a user's tenant exists).</summary>
    public static async Task<Guid> CreateTenantAsync(MislataStack stack, string operatorToken)
    {
        var (status, body, _) = await ApiAsync(stack, HttpMethod.Post, "/api/v1/admin/tenants", operatorToken, new { name = "idp-" + Guid.NewGuid().ToString("N")[..12] });
        Assert.True(status == HttpStatusCode.Created, $"create tenant: {(int)status} {body}");
        return body.GetProperty("id").GetGuid();
    }

    public static async Task<JsonElement> CreateUserAsync(MislataStack stack, string token, string email, string? password, string[] roles, Guid? tenantId)
    {
        var (status, body, _) = await ApiAsync(stack, HttpMethod.Post, "/api/v1/users", token, new { email, password, roles, tenantId });
        Assert.True(status == HttpStatusCode.Created, $"create user: {(int)status} {body}");
        return body;
    }

    /// <summary>A public, user-facing application (PKCE) of a tenant, created by the operator.</summary>
    public static async Task<string> CreatePublicAppAsync(MislataStack stack, string token, Guid? tenantId, string scopes, string consentType = "implicit")
    {
        var (status, body, _) = await ApiAsync(stack, HttpMethod.Post, "/api/v1/applications", token, new
        {
            name = "E2E app",
            type = "public",
            redirectUris = new[] { RedirectUri },
            postLogoutRedirectUris = new[] { PostLogoutRedirectUri },
            scopes = scopes.Split(' '),
            tenantId,
            consentType,
        });
        Assert.True(status == HttpStatusCode.Created, $"create application: {(int)status} {body}");
        return body.GetProperty("clientId").GetString()!;
    }

    public static string AuthorizeUrl(string clientId, string scope, string challenge, string state, string redirectUri = RedirectUri) =>
        "/connect/authorize?" + string.Join('&', new Dictionary<string, string>
        {
            ["response_type"] = "code",
            ["client_id"] = clientId,
            ["redirect_uri"] = redirectUri,
            ["scope"] = scope,
            ["state"] = state,
            ["code_challenge"] = challenge,
            ["code_challenge_method"] = "S256",
        }.Select(p => $"{p.Key}={Uri.EscapeDataString(p.Value)}"));

    /// <summary>Fills the login page (and the TOTP page when <paramref name="totpSecret"/> is given); returns the page after the last redirect inside the gateway.</summary>
    public static async Task<Browser.Page> SignInAsync(Browser browser, Browser.Page loginPage, string email, string password, string? totpSecret = null)
    {
        ArgumentNullException.ThrowIfNull(browser);
        Assert.Contains("Sign in", loginPage.Document.Title ?? string.Empty, StringComparison.Ordinal);
        var afterLogin = await browser.SubmitAsync(loginPage, new Dictionary<string, string> { ["email"] = email, ["password"] = password });
        Assert.True(afterLogin.Status == HttpStatusCode.Redirect, $"login: {(int)afterLogin.Status} {afterLogin.Body}");
        var next = await browser.FollowAsync(afterLogin);
        if (totpSecret is null)
        {
            return next;
        }

        Assert.Contains("Two-factor", next.Document.Title ?? string.Empty, StringComparison.Ordinal);
        // The next time step's code: accepted (±2 steps) and never the one used at set-up.
        var code = new Totp(Base32Encoding.ToBytes(totpSecret)).ComputeTotp(DateTime.UtcNow.AddSeconds(30));
        var afterMfa = await browser.SubmitAsync(next, new Dictionary<string, string> { ["code"] = code });
        Assert.True(afterMfa.Status == HttpStatusCode.Redirect, $"mfa: {(int)afterMfa.Status} {afterMfa.Body}");
        return await browser.FollowAsync(afterMfa);
    }

    /// <summary>Extracts a query parameter of a redirect to the client.</summary>
    public static string? Query(Uri location, string name)
    {
        ArgumentNullException.ThrowIfNull(location);
        foreach (var part in location.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = part.Split('=', 2);
            if (Uri.UnescapeDataString(kv[0]) == name)
            {
                return kv.Length > 1 ? Uri.UnescapeDataString(kv[1].Replace('+', ' ')) : string.Empty;
            }
        }

        return null;
    }

    /// <summary>Runs the authorization request in a signed-in browser (accepting consent if asked) and returns the code.</summary>
    public static async Task<string> AuthorizeAsync(Browser browser, string clientId, string scope, string challenge)
    {
        ArgumentNullException.ThrowIfNull(browser);
        var state = TestEnvironment.RandomToken(8);
        var page = await browser.NavigateAsync(AuthorizeUrl(clientId, scope, challenge, state));
        if (page.Location is null && page.Document.QuerySelector("button[value=accept]") is not null)
        {
            page = await browser.FollowAsync(await browser.SubmitAsync(page, submitName: "submit", submitValue: "accept"));
        }

        Assert.True(page.Location is not null && page.Location.ToString().StartsWith(RedirectUri, StringComparison.Ordinal), $"authorize: {(int)page.Status} {page.Location} {page.Body}");
        Assert.Equal(state, Query(page.Location!, "state"));
        return Query(page.Location!, "code") ?? throw new InvalidOperationException("no code in " + page.Location);
    }

    public static Task<(HttpStatusCode Status, JsonElement Body)> RedeemAsync(MislataStack stack, string clientId, string code, string verifier, string redirectUri = RedirectUri) =>
        TokenAsync(stack, new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["client_id"] = clientId,
            ["code"] = code,
            ["code_verifier"] = verifier,
            ["redirect_uri"] = redirectUri,
        });

    public static Task<(HttpStatusCode Status, JsonElement Body)> RefreshAsync(MislataStack stack, string clientId, string refreshToken) =>
        TokenAsync(stack, new Dictionary<string, string> { ["grant_type"] = "refresh_token", ["client_id"] = clientId, ["refresh_token"] = refreshToken });

    public static async Task<JsonElement> IntrospectAsync(MislataStack stack, string token)
    {
        ArgumentNullException.ThrowIfNull(stack);
        using var client = stack.Gateway.CreateClient();
        using var response = await client.PostAsync(new Uri("/connect/introspect", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = stack.BootstrapClientId,
            ["client_secret"] = stack.BootstrapClientSecret,
            ["token"] = token,
        }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await ReadJsonAsync(response);
    }

    private static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        try
        {
            return string.IsNullOrWhiteSpace(text) ? default : JsonDocument.Parse(text).RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonDocument.Parse(JsonSerializer.Serialize(new { raw = text })).RootElement.Clone();
        }
    }
}
