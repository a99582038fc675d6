using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// DPoP sender-constrained tokens (RFC 9449, issue 17) through the gateway: a token request with a proof gets a token
/// bound to the proof's key (<c>cnf.jkt</c>, <c>token_type</c> DPoP); the api and identity (userinfo, management API)
/// accept it only with the DPoP scheme and a fresh proof of that key, and refuse another key's proof, a replayed proof,
/// no proof and the token sent as Bearer. A public client's refresh token is bound to the same key. An application
/// with <c>requireDpop</c> gets no token without a proof. Proofs are made by the tests' own JWS code (DpopTestKey).
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class DpopTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    private string Url(string path) => new Uri(_stack.Gateway.BaseAddress, path.TrimStart('/')).ToString();

    internal static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseHeaders Headers)> SendAsync(
        MislataStack stack, HttpMethod method, string path, string? scheme, string? token, params string[] proofs)
    {
        using var client = stack.Gateway.CreateClient();
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue(scheme!, token);
        }

        foreach (var proof in proofs)
        {
            request.Headers.TryAddWithoutValidation("DPoP", proof);
        }

        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var body = string.IsNullOrWhiteSpace(text) || !text.TrimStart().StartsWith('{') ? default : JsonDocument.Parse(text).RootElement.Clone();
        return (response.StatusCode, body, response.Headers);
    }

    internal static async Task<(HttpStatusCode Status, JsonElement Body)> TokenAsync(MislataStack stack, IDictionary<string, string> form, string? proof)
    {
        var (status, body, _) = await TokenWithNonceAsync(stack, form, proof);
        return (status, body);
    }

    /// <summary>A token request, and the <c>DPoP-Nonce</c> of its answer (null without one).</summary>
    internal static async Task<(HttpStatusCode Status, JsonElement Body, string? Nonce)> TokenWithNonceAsync(MislataStack stack, IDictionary<string, string> form, string? proof)
    {
        using var client = stack.Gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/token") { Content = new FormUrlEncodedContent(form) };
        if (proof is not null)
        {
            request.Headers.TryAddWithoutValidation("DPoP", proof);
        }

        using var response = await client.SendAsync(request);
        var nonce = response.Headers.TryGetValues("DPoP-Nonce", out var values) ? values.Single() : null;
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone(), nonce);
    }

    internal static async Task<(string ClientId, string Secret)> ConfidentialAppAsync(MislataStack stack, string op, bool requireDpop = false)
    {
        var tenant = await Oidc.CreateTenantAsync(stack, op);
        var (status, created, _) = await Oidc.ApiAsync(stack, HttpMethod.Post, "/api/v1/applications", op, new
        {
            name = "dpop client", type = "confidential", scopes = new[] { "keys:read" }, tenantId = tenant, requireDpop,
        });
        Assert.True(status == HttpStatusCode.Created, created.ToString());
        return (created.GetProperty("clientId").GetString()!, created.GetProperty("clientSecret").GetString()!);
    }

    private static Dictionary<string, string> ClientCredentials(string clientId, string secret) =>
        new() { ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = secret };

    private static string? Jkt(string accessToken) =>
        new JsonWebToken(accessToken).TryGetPayloadValue<JsonElement>("cnf", out var cnf) && cnf.TryGetProperty("jkt", out var jkt) ? jkt.GetString() : null;

    [Fact]
    public async Task Discovery_lists_the_proof_algorithms_identity_verifies()
    {
        using var client = _stack.Gateway.CreateClient();
        var discovery = JsonDocument.Parse(await client.GetStringAsync(new Uri("/.well-known/openid-configuration", UriKind.Relative))).RootElement;
        Assert.Equal(["ES256", "ES384", "RS256", "PS256"], discovery.GetProperty("dpop_signing_alg_values_supported").EnumerateArray().Select(e => e.GetString()!));
    }

    [Fact]
    public async Task A_client_credentials_token_bound_by_a_proof_works_at_the_api_only_with_a_fresh_proof_of_its_key()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (clientId, secret) = await ConfidentialAppAsync(_stack, op);
        using var key = DpopTestKey.Es256();
        using var other = DpopTestKey.Es256();

        // Bad proofs at the token endpoint: 400 invalid_dpop_proof.
        foreach (var bad in new[]
        {
            key.Proof("POST", Url("/connect/other")),
            key.Proof("GET", Url("/connect/token")),
            key.Proof("POST", Url("/connect/token"), issuedAt: DateTimeOffset.UtcNow.AddMinutes(-10)),
            key.Proof("POST", Url("/connect/token"), header: h => h["jwk"] = key.PrivateJwk()),
        })
        {
            var (status, error) = await TokenAsync(_stack, ClientCredentials(clientId, secret), bad);
            Assert.True(status == HttpStatusCode.BadRequest && error.GetProperty("error").GetString() == "invalid_dpop_proof", $"{(int)status} {error}");
        }

        var proof = key.Proof("POST", Url("/connect/token"));
        var (ok, tokens) = await TokenAsync(_stack, ClientCredentials(clientId, secret), proof);
        Assert.True(ok == HttpStatusCode.OK, tokens.ToString());
        Assert.Equal("DPoP", tokens.GetProperty("token_type").GetString());
        var access = tokens.GetProperty("access_token").GetString()!;
        Assert.Equal(key.Thumbprint, Jkt(access));

        // The token-endpoint proof is good once.
        var (replayed, replayError) = await TokenAsync(_stack, ClientCredentials(clientId, secret), proof);
        Assert.True(replayed == HttpStatusCode.BadRequest && replayError.GetProperty("error").GetString() == "invalid_dpop_proof", replayError.ToString());

        // At the api: a fresh proof of the bound key passes, once.
        var good = key.Proof("GET", Url("/api/v1/keys"), access);
        var (first, body, _) = await SendAsync(_stack, HttpMethod.Get, "/api/v1/keys", "DPoP", access, good);
        Assert.True(first == HttpStatusCode.OK, body.ToString());
        var (again, _, againHeaders) = await SendAsync(_stack, HttpMethod.Get, "/api/v1/keys", "DPoP", access, good);
        Assert.Equal(HttpStatusCode.Unauthorized, again);
        Assert.StartsWith("DPoP", againHeaders.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        // Another key's proof, no proof, the token as Bearer, a proof for another path or another token: 401.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/api/v1/keys", "DPoP", access, other.Proof("GET", Url("/api/v1/keys"), access))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/api/v1/keys", "DPoP", access)).Status);
        var (asBearer, _, bearerHeaders) = await SendAsync(_stack, HttpMethod.Get, "/api/v1/keys", "Bearer", access, key.Proof("GET", Url("/api/v1/keys"), access));
        Assert.Equal(HttpStatusCode.Unauthorized, asBearer);
        Assert.Contains("error=\"invalid_token\"", bearerHeaders.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/api/v1/keys", "DPoP", access, key.Proof("GET", Url("/api/v1/secrets"), access))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/api/v1/keys", "DPoP", access, key.Proof("GET", Url("/api/v1/keys"), op))).Status);

        // Identity's management API follows the same rule: refused as Bearer (401), accepted with a proof (then 403:
        // this client has no applications scope).
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/api/v1/applications", "Bearer", access)).Status);
        var (managed, managedBody, _) = await SendAsync(_stack, HttpMethod.Get, "/api/v1/applications", "DPoP", access, key.Proof("GET", Url("/api/v1/applications"), access));
        Assert.True(managed == HttpStatusCode.Forbidden, $"{(int)managed} {managedBody}");

        // An unbound token keeps working as Bearer, and is refused with the DPoP scheme.
        var plain = await Oidc.ClientCredentialsAsync(_stack, clientId, secret);
        Assert.Null(Jkt(plain));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(_stack, HttpMethod.Get, "/api/v1/keys", "Bearer", plain)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/api/v1/keys", "DPoP", plain, key.Proof("GET", Url("/api/v1/keys"), plain))).Status);
    }

    /// <summary>A tenant's public application for <paramref name="scope"/> and a tenant admin signed in in a browser.</summary>
    private async Task<(string ClientId, SignedInUser User)> PublicClientAndSignedInUserAsync(string scope)
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var clientId = await Oidc.CreatePublicAppAsync(_stack, op, tenant, scope);
        return (clientId, await CodeFlow.SignedInUserAsync(_stack, op, tenant, "tenant-admin"));
    }

    [Fact]
    public async Task A_user_token_bound_in_the_code_flow_works_at_userinfo_only_with_its_key_and_refreshes_only_with_it()
    {
        const string scope = "openid offline_access email keys:read";
        var (clientId, user) = await PublicClientAndSignedInUserAsync(scope);
        using var signedIn = user;
        using var key = DpopTestKey.Es256();
        using var other = DpopTestKey.Rs256();

        var (verifier, challenge) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(user.Browser, clientId, scope, challenge);
        var (redeemed, tokens) = await TokenAsync(_stack, new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["client_id"] = clientId, ["code"] = code, ["code_verifier"] = verifier, ["redirect_uri"] = Oidc.RedirectUri,
        }, key.Proof("POST", Url("/connect/token")));
        Assert.True(redeemed == HttpStatusCode.OK, tokens.ToString());
        Assert.Equal("DPoP", tokens.GetProperty("token_type").GetString());
        var access = tokens.GetProperty("access_token").GetString()!;
        var refresh = tokens.GetProperty("refresh_token").GetString()!;
        Assert.Equal(key.Thumbprint, Jkt(access));

        // Userinfo: the bound key's fresh proof → 200; replayed, another key's, none, as Bearer → 401.
        var good = key.Proof("GET", Url("/connect/userinfo"), access);
        var (ok, info, _) = await SendAsync(_stack, HttpMethod.Get, "/connect/userinfo", "DPoP", access, good);
        Assert.True(ok == HttpStatusCode.OK, info.ToString());
        Assert.Equal(user.Id.ToString(), info.GetProperty("sub").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/connect/userinfo", "DPoP", access, good)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/connect/userinfo", "DPoP", access, other.Proof("GET", Url("/connect/userinfo"), access))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/connect/userinfo", "DPoP", access)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/connect/userinfo", "Bearer", access)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(_stack, HttpMethod.Get, "/connect/userinfo", "DPoP", access, key.Proof("POST", Url("/connect/userinfo"), access))).Status);

        // The api too.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(_stack, HttpMethod.Get, "/api/v1/keys", "DPoP", access, key.Proof("GET", Url("/api/v1/keys"), access))).Status);

        // The public client's refresh token is bound to the key: another key's proof or none is refused.
        var form = new Dictionary<string, string> { ["grant_type"] = "refresh_token", ["client_id"] = clientId, ["refresh_token"] = refresh };
        var (otherKey, otherError) = await TokenAsync(_stack, form, other.Proof("POST", Url("/connect/token")));
        Assert.True(otherKey == HttpStatusCode.BadRequest && otherError.GetProperty("error").GetString() == "invalid_grant", $"{(int)otherKey} {otherError}");
        var (none, noneError) = await TokenAsync(_stack, form, null);
        Assert.True(none == HttpStatusCode.BadRequest && noneError.GetProperty("error").GetString() == "invalid_dpop_proof", $"{(int)none} {noneError}");
        var (refreshed, renewed) = await TokenAsync(_stack, form, key.Proof("POST", Url("/connect/token")));
        Assert.True(refreshed == HttpStatusCode.OK, renewed.ToString());
        Assert.Equal("DPoP", renewed.GetProperty("token_type").GetString());
        Assert.Equal(key.Thumbprint, Jkt(renewed.GetProperty("access_token").GetString()!));
    }

    [Fact]
    public async Task An_authorization_request_with_dpop_jkt_gives_a_code_only_a_proof_of_that_key_redeems()
    {
        const string scope = "openid keys:read";
        var (clientId, user) = await PublicClientAndSignedInUserAsync(scope);
        using var signedIn = user;
        using var key = DpopTestKey.Es256();
        using var other = DpopTestKey.Es256();

        // A malformed dpop_jkt: no code.
        var (_, badChallenge) = Oidc.Pkce();
        var bad = await user.Browser.NavigateAsync(Oidc.AuthorizeUrl(clientId, scope, badChallenge, "s0") + "&dpop_jkt=not-a-thumbprint");
        Assert.True(bad.Location is null || Oidc.Query(bad.Location, "code") is null, $"a malformed dpop_jkt got a code: {bad.Location}");

        var (verifier, challenge) = Oidc.Pkce();
        var page = await user.Browser.NavigateAsync(Oidc.AuthorizeUrl(clientId, scope, challenge, "s1") + "&dpop_jkt=" + key.Thumbprint);
        Assert.True(page.Location is not null && Oidc.Query(page.Location, "code") is not null, $"{(int)page.Status} {page.Location}");
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["client_id"] = clientId, ["code"] = Oidc.Query(page.Location!, "code")!,
            ["code_verifier"] = verifier, ["redirect_uri"] = Oidc.RedirectUri,
        };

        var (none, noneError) = await TokenAsync(_stack, form, null);
        Assert.True(none == HttpStatusCode.BadRequest && noneError.GetProperty("error").GetString() == "invalid_dpop_proof", $"{(int)none} {noneError}");
        var (otherKey, otherError) = await TokenAsync(_stack, form, other.Proof("POST", Url("/connect/token")));
        Assert.True(otherKey == HttpStatusCode.BadRequest && otherError.GetProperty("error").GetString() == "invalid_grant", $"{(int)otherKey} {otherError}");
        var (ok, tokens) = await TokenAsync(_stack, form, key.Proof("POST", Url("/connect/token")));
        Assert.True(ok == HttpStatusCode.OK, tokens.ToString());
        Assert.Equal(key.Thumbprint, Jkt(tokens.GetProperty("access_token").GetString()!));
    }

    [Fact]
    public async Task An_application_that_requires_DPoP_gets_no_token_without_a_proof_nor_without_the_server_nonce()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (clientId, secret) = await ConfidentialAppAsync(_stack, op, requireDpop: true);
        var appId = await IdentitySql.ApplicationIdAsync(_stack, clientId);
        var (_, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, $"/api/v1/applications/{appId}", op);
        Assert.True(app.GetProperty("requireDpop").GetBoolean());

        var (refused, error) = await TokenAsync(_stack, ClientCredentials(clientId, secret), null);
        Assert.True(refused == HttpStatusCode.BadRequest && error.GetProperty("error").GetString() == "invalid_dpop_proof", $"{(int)refused} {error}");

        // A proof without the server's nonce, or with a made-up one: use_dpop_nonce, and the nonce to use.
        using var key = DpopTestKey.Ps256();
        var (noNonce, noNonceError, nonce) = await TokenWithNonceAsync(_stack, ClientCredentials(clientId, secret), key.Proof("POST", Url("/connect/token")));
        Assert.True(noNonce == HttpStatusCode.BadRequest && noNonceError.GetProperty("error").GetString() == "use_dpop_nonce", $"{(int)noNonce} {noNonceError}");
        Assert.False(string.IsNullOrEmpty(nonce));
        var (madeUp, madeUpError, _) = await TokenWithNonceAsync(_stack, ClientCredentials(clientId, secret), key.Proof("POST", Url("/connect/token"), payload: p => p["nonce"] = "made-up"));
        Assert.True(madeUp == HttpStatusCode.BadRequest && madeUpError.GetProperty("error").GetString() == "use_dpop_nonce", $"{(int)madeUp} {madeUpError}");

        var (ok, tokens, next) = await TokenWithNonceAsync(_stack, ClientCredentials(clientId, secret), key.Proof("POST", Url("/connect/token"), payload: p => p["nonce"] = nonce!));
        Assert.True(ok == HttpStatusCode.OK, tokens.ToString());
        Assert.False(string.IsNullOrEmpty(next));
        Assert.Equal(key.Thumbprint, Jkt(tokens.GetProperty("access_token").GetString()!));

        // PATCH turns it off again.
        var (patched, updated, _) = await Oidc.ApiAsync(_stack, HttpMethod.Patch, $"/api/v1/applications/{appId}", op, new { requireDpop = false });
        Assert.True(patched == HttpStatusCode.OK, updated.ToString());
        Assert.False(updated.GetProperty("requireDpop").GetBoolean());
        var (plain, plainTokens) = await TokenAsync(_stack, ClientCredentials(clientId, secret), null);
        Assert.True(plain == HttpStatusCode.OK, plainTokens.ToString());
        Assert.Equal("Bearer", plainTokens.GetProperty("token_type").GetString());
    }
}
