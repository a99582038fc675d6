using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// Pushed authorization requests (RFC 9126) and <c>private_key_jwt</c> client authentication (RFC 7523), issue 17:
/// an application that requires PAR refuses a plain authorization request and works through <c>/connect/par</c>; a
/// client that registered its public keys authenticates with signed assertions, each good once.
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class ClientAuthenticationTests(IdentityFixture fixture)
{
    private const string JwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    private readonly MislataStack _stack = fixture.Stack;

    private async Task<JsonElement> DiscoveryAsync()
    {
        using var client = _stack.Gateway.CreateClient();
        return JsonDocument.Parse(await client.GetStringAsync(new Uri("/.well-known/openid-configuration", UriKind.Relative))).RootElement;
    }

    [Fact]
    public async Task A_PAR_only_application_refuses_a_plain_authorization_request_and_signs_in_through_connect_par()
    {
        var discovery = await DiscoveryAsync();
        Assert.Equal(new Uri(_stack.Gateway.BaseAddress, "connect/par").ToString(), discovery.GetProperty("pushed_authorization_request_endpoint").GetString());

        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var email = Oidc.NewEmail("par");
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, op, email, password, ["tenant-admin"], tenant);
        var (status, created, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, new
        {
            name = "PAR app", type = "public", redirectUris = new[] { Oidc.RedirectUri }, scopes = new[] { "openid", "keys:read" },
            tenantId = tenant, consentType = "implicit", requirePar = true,
        });
        Assert.True(status == HttpStatusCode.Created, created.ToString());
        var clientId = created.GetProperty("clientId").GetString()!;
        var appId = await IdentitySql.ApplicationIdAsync(_stack, clientId);
        var (_, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, $"/api/v1/applications/{appId}", op);
        Assert.True(app.GetProperty("requirePar").GetBoolean());

        using var browser = new Browser(_stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);

        // A plain request (parameters in the URL) gets no code.
        var (verifier, challenge) = Oidc.Pkce();
        var plain = await browser.NavigateAsync(Oidc.AuthorizeUrl(clientId, "openid keys:read", challenge, "s1"));
        Assert.True(plain.Location is null || Oidc.Query(plain.Location, "code") is null, $"a plain request got a code: {plain.Location}");
        Assert.True(plain.Location is null || Oidc.Query(plain.Location, "error") is not null, $"{(int)plain.Status} {plain.Location}");

        // Pushed first: the authorization request then names only the request_uri.
        var pushed = await Oidc.PostFormAsync(_stack, "/connect/par", new Dictionary<string, string>
        {
            ["client_id"] = clientId, ["response_type"] = "code", ["redirect_uri"] = Oidc.RedirectUri, ["scope"] = "openid keys:read",
            ["state"] = "s2", ["code_challenge"] = challenge, ["code_challenge_method"] = "S256",
        });
        Assert.True(pushed.Status == HttpStatusCode.Created, pushed.Body.ToString());
        var requestUri = pushed.Body.GetProperty("request_uri").GetString()!;
        Assert.StartsWith("urn:ietf:params:oauth:request_uri:", requestUri, StringComparison.Ordinal);
        Assert.True(pushed.Body.GetProperty("expires_in").GetInt32() > 0);

        var page = await browser.NavigateAsync($"/connect/authorize?client_id={Uri.EscapeDataString(clientId)}&request_uri={Uri.EscapeDataString(requestUri)}");
        Assert.True(page.Location is not null && page.Location.ToString().StartsWith(Oidc.RedirectUri, StringComparison.Ordinal), $"{(int)page.Status} {page.Location} {page.Body}");
        Assert.Equal("s2", Oidc.Query(page.Location!, "state"));
        var (redeemed, tokens) = await Oidc.RedeemAsync(_stack, clientId, Oidc.Query(page.Location!, "code")!, verifier);
        Assert.True(redeemed == HttpStatusCode.OK, tokens.ToString());

        // The request_uri is good once.
        var again = await browser.NavigateAsync($"/connect/authorize?client_id={Uri.EscapeDataString(clientId)}&request_uri={Uri.EscapeDataString(requestUri)}");
        Assert.True(again.Location is null || Oidc.Query(again.Location, "code") is null, $"a used request_uri gave a code: {again.Location}");
    }

    private static Dictionary<string, string> PublicJwk(SecurityKey key, string kid)
    {
        var jwk = key switch
        {
            ECDsaSecurityKey ec => JsonWebKeyConverter.ConvertFromECDsaSecurityKey(ec),
            RsaSecurityKey rsa => JsonWebKeyConverter.ConvertFromRSASecurityKey(rsa),
            _ => throw new ArgumentException("unsupported key", nameof(key)),
        };
        var members = new Dictionary<string, string> { ["kty"] = jwk.Kty, ["kid"] = kid, ["use"] = "sig" };
        foreach (var (name, value) in new[] { ("crv", jwk.Crv), ("x", jwk.X), ("y", jwk.Y), ("n", jwk.N), ("e", jwk.E) })
        {
            if (value is not null)
            {
                members[name] = value;
            }
        }

        return members;
    }

    private string Assertion(string clientId, SecurityKey key, string algorithm, string? jti = null, TimeSpan? lifetime = null) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = clientId,
            // The authorization server's issuer identifier (draft-ietf-oauth-rfc7523bis), as OpenIddict 7 requires.
            Audience = _stack.Gateway.BaseAddress.ToString(),
            Claims = new Dictionary<string, object> { ["sub"] = clientId, ["jti"] = jti ?? Guid.NewGuid().ToString("N") },
            Expires = DateTime.UtcNow + (lifetime ?? TimeSpan.FromMinutes(2)),
            TokenType = "client-authentication+jwt",
            SigningCredentials = new SigningCredentials(key, algorithm),
        });

    private Task<(HttpStatusCode Status, JsonElement Body)> TokenWithAssertionAsync(string clientId, string assertion) =>
        Oidc.TokenAsync(_stack, new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_assertion_type"] = JwtBearer, ["client_assertion"] = assertion,
        });

    [Theory]
    [InlineData("ES256")]
    [InlineData("RS256")]
    public async Task A_private_key_jwt_client_gets_a_token_once_per_assertion_and_only_with_its_own_key(string algorithm)
    {
        var methods = (await DiscoveryAsync()).GetProperty("token_endpoint_auth_methods_supported").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains("private_key_jwt", methods);

        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var rsa = RSA.Create(2048);
        SecurityKey key = algorithm == "ES256" ? new ECDsaSecurityKey(ecdsa) { KeyId = "c1" } : new RsaSecurityKey(rsa) { KeyId = "c1" };
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (status, created, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, new
        {
            name = "jwt client", type = "confidential", scopes = new[] { "billing:read" }, tenantId = tenant,
            jwks = new { keys = new[] { PublicJwk(key, "c1") } },
        });
        Assert.True(status == HttpStatusCode.Created, created.ToString());
        Assert.Equal(JsonValueKind.Null, created.GetProperty("clientSecret").ValueKind);
        var clientId = created.GetProperty("clientId").GetString()!;

        var assertion = Assertion(clientId, key, algorithm);
        var (ok, body) = await TokenWithAssertionAsync(clientId, assertion);
        Assert.True(ok == HttpStatusCode.OK, body.ToString());
        var (usage, usageBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/billing/usage", body.GetProperty("access_token").GetString());
        Assert.True(usage == HttpStatusCode.OK, usageBody.ToString());

        // Replayed: refused.
        var (replayed, replayBody) = await TokenWithAssertionAsync(clientId, assertion);
        Assert.NotEqual(HttpStatusCode.OK, replayed);
        Assert.Equal("invalid_client", replayBody.GetProperty("error").GetString());

        // Signed by another key under the registered kid, or valid for half an hour: refused.
        using var otherEc = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var otherRsa = RSA.Create(2048);
        SecurityKey other = algorithm == "ES256" ? new ECDsaSecurityKey(otherEc) { KeyId = "c1" } : new RsaSecurityKey(otherRsa) { KeyId = "c1" };
        var (forged, _) = await TokenWithAssertionAsync(clientId, Assertion(clientId, other, algorithm));
        Assert.NotEqual(HttpStatusCode.OK, forged);
        var (tooLong, tooLongBody) = await TokenWithAssertionAsync(clientId, Assertion(clientId, key, algorithm, lifetime: TimeSpan.FromMinutes(30)));
        Assert.NotEqual(HttpStatusCode.OK, tooLong);
        Assert.Equal("invalid_client", tooLongBody.GetProperty("error").GetString());

        // The same client cannot fall back to a secret it does not have.
        var (secretless, _) = await CodeFlow.ClientCredentialsAsync(_stack, clientId, "guess");
        Assert.Equal(HttpStatusCode.Unauthorized, secretless);

        // A fresh assertion still works.
        var (fresh, freshBody) = await TokenWithAssertionAsync(clientId, Assertion(clientId, key, algorithm));
        Assert.True(fresh == HttpStatusCode.OK, freshBody.ToString());
    }

    [Fact]
    public async Task Client_keys_are_public_signing_keys_given_inline()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var withPrivate = JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(ecdsa));
        using var small = RSA.Create(1024);
        var weak = PublicJwk(new RsaSecurityKey(small), "weak");
        var cases = new (string Field, object Body)[]
        {
            ("jwks", new { name = "x", type = "confidential", scopes = new[] { "billing:read" }, tenantId = tenant,
                jwks = new { keys = new[] { new { kty = "EC", crv = "P-256", x = withPrivate.X, y = withPrivate.Y, d = withPrivate.D } } } }),
            ("jwks", new { name = "x", type = "confidential", scopes = new[] { "billing:read" }, tenantId = tenant, jwks = new { keys = new[] { weak } } }),
            ("jwks", new { name = "x", type = "confidential", scopes = new[] { "billing:read" }, tenantId = tenant, jwks = new { keys = Array.Empty<object>() } }),
            ("jwks", new { name = "x", type = "confidential", scopes = new[] { "billing:read" }, tenantId = tenant, jwks = "not a set" }),
            ("jwksUri", new { name = "x", type = "confidential", scopes = new[] { "billing:read" }, tenantId = tenant, jwksUri = "https://client.example/jwks" }),
            ("jwks", new { name = "x", type = "public", redirectUris = new[] { Oidc.RedirectUri }, scopes = new[] { "openid" }, tenantId = tenant,
                jwks = new { keys = new[] { PublicJwk(new ECDsaSecurityKey(ecdsa), "k") } } }),
            ("requirePar", new { name = "x", type = "confidential", scopes = new[] { "billing:read" }, tenantId = tenant, requirePar = true }),
        };
        foreach (var (field, body) in cases)
        {
            var (status, problem, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, body);
            Assert.True(status == HttpStatusCode.BadRequest, $"{field}: {(int)status} {problem}");
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
            Assert.DoesNotContain(withPrivate.D, problem.ToString(), StringComparison.Ordinal);
        }
    }
}
