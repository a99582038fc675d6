using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// ML-DSA-65 access and ID tokens (issue 17): verified outside the server by an independent ML-DSA implementation
/// (@noble/post-quantum under Node.js, tests/tools/verify-jws.mjs) against the AKP key of the published JWKS, accepted by
/// the api and identity's userinfo, and refused once their key is retired. Applications choose ES256 or ML-DSA-65.
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class PostQuantumTokenTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    private static string ToolsDirectory => Path.Combine(TestEnvironment.RepositoryRoot, "tests", "tools");

    /// <summary>Runs the independent verifier: "valid" or "invalid: reason".</summary>
    private static async Task<string> VerifyOutsideAsync(string jwks, string token)
    {
        Assert.True(Directory.Exists(Path.Combine(ToolsDirectory, "node_modules", "@noble", "post-quantum")),
            "tests/tools is not installed: ./test.sh runs `npm ci` there (or run it by hand)");
        var folder = TestEnvironment.NewFolder("jws");
        var jwksFile = Path.Combine(folder, "jwks.json");
        var tokenFile = Path.Combine(folder, "token");
        await File.WriteAllTextAsync(jwksFile, jwks);
        await File.WriteAllTextAsync(tokenFile, token);
        try
        {
            return (await Processes.RunAsync("node", [Path.Combine(ToolsDirectory, "verify-jws.mjs"), jwksFile, tokenFile])).Trim();
        }
        catch (InvalidOperationException e) when (e.Message.Contains("invalid: ", StringComparison.Ordinal))
        {
            return e.Message[e.Message.IndexOf("invalid: ", StringComparison.Ordinal)..].Trim();
        }
    }

    private async Task<string> JwksAsync()
    {
        using var client = _stack.Gateway.CreateClient();
        return await client.GetStringAsync(new Uri("/.well-known/jwks", UriKind.Relative));
    }

    private static string Flip(string token, int part)
    {
        var parts = token.Split('.');
        var bytes = Base64UrlEncoder.DecodeBytes(parts[part]);
        bytes[bytes.Length / 2] ^= 0x01;
        parts[part] = Base64UrlEncoder.Encode(bytes);
        return string.Join('.', parts);
    }

    [Fact]
    public async Task A_new_application_gets_ML_DSA_65_tokens_that_an_independent_implementation_verifies_with_the_published_AKP_key()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (clientId, secret) = await CodeFlow.CreateServiceAppAsync(_stack, op, tenant, "billing:read");
        var appId = await IdentitySql.ApplicationIdAsync(_stack, clientId);
        var (_, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, $"/api/v1/applications/{appId}", op);
        Assert.Equal("ML-DSA-65", app.GetProperty("tokenSigningAlgorithm").GetString());

        var token = await Oidc.ClientCredentialsAsync(_stack, clientId, secret);
        var jwt = new JsonWebToken(token);
        Assert.Equal("ML-DSA-65", jwt.Alg);
        Assert.Equal("at+jwt", jwt.Typ);

        // The JWKS publishes the key as {kty: AKP, alg: ML-DSA-65, pub, kid, use: sig} beside the ES256 key, no private part.
        var jwks = await JwksAsync();
        var keys = JsonDocument.Parse(jwks).RootElement.GetProperty("keys").EnumerateArray().ToList();
        var akp = Assert.Single(keys, k => k.GetProperty("kid").GetString() == jwt.Kid);
        Assert.Equal("AKP", akp.GetProperty("kty").GetString());
        Assert.Equal("ML-DSA-65", akp.GetProperty("alg").GetString());
        Assert.Equal("sig", akp.GetProperty("use").GetString());
        Assert.Equal(1952, Base64UrlEncoder.DecodeBytes(akp.GetProperty("pub").GetString()).Length);
        Assert.False(akp.TryGetProperty("priv", out _));
        Assert.Contains(keys, k => k.GetProperty("kty").GetString() == "EC");

        Assert.Equal("valid", await VerifyOutsideAsync(jwks, token));
        Assert.StartsWith("invalid: the signature", await VerifyOutsideAsync(jwks, Flip(token, 2)), StringComparison.Ordinal);
        Assert.StartsWith("invalid: the signature", await VerifyOutsideAsync(jwks, Flip(token, 1)), StringComparison.Ordinal);

        // The api accepts it, and refuses the tampered ones.
        var (ok, okBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/billing/usage", token);
        Assert.True(ok == HttpStatusCode.OK, okBody.ToString());
        foreach (var tampered in new[] { Flip(token, 2), Flip(token, 1) })
        {
            var (refused, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/billing/usage", tampered);
            Assert.Equal(HttpStatusCode.Unauthorized, refused);
        }

        // Discovery lists both algorithms.
        using var client = _stack.Gateway.CreateClient();
        var discovery = JsonDocument.Parse(await client.GetStringAsync(new Uri("/.well-known/openid-configuration", UriKind.Relative))).RootElement;
        var algorithms = discovery.GetProperty("id_token_signing_alg_values_supported").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains("ES256", algorithms);
        Assert.Contains("ML-DSA-65", algorithms);
    }

    [Fact]
    public async Task An_application_chooses_ES256_or_ML_DSA_65_and_nothing_else()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (status, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op,
            new { name = "classic", type = "confidential", scopes = new[] { "billing:read" }, tenantId = tenant, tokenSigningAlgorithm = "ES256" });
        Assert.True(status == HttpStatusCode.Created, body.ToString());
        var clientId = body.GetProperty("clientId").GetString()!;
        var secret = body.GetProperty("clientSecret").GetString()!;
        Assert.Equal("ES256", new JsonWebToken(await Oidc.ClientCredentialsAsync(_stack, clientId, secret)).Alg);

        var appId = await IdentitySql.ApplicationIdAsync(_stack, clientId);
        var (patched, patchedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Patch, $"/api/v1/applications/{appId}", op, new { tokenSigningAlgorithm = "ML-DSA-65" });
        Assert.True(patched == HttpStatusCode.OK, patchedBody.ToString());
        Assert.Equal("ML-DSA-65", patchedBody.GetProperty("tokenSigningAlgorithm").GetString());
        Assert.Equal("ML-DSA-65", new JsonWebToken(await Oidc.ClientCredentialsAsync(_stack, clientId, secret)).Alg);

        foreach (var wrong in new[] { "RS256", "ml-dsa-65", "none", "" })
        {
            var (bad, badBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op,
                new { name = "bad", type = "confidential", scopes = new[] { "billing:read" }, tenantId = tenant, tokenSigningAlgorithm = wrong });
            Assert.Equal(HttpStatusCode.BadRequest, bad);
            Assert.True(badBody.GetProperty("errors").TryGetProperty("tokenSigningAlgorithm", out _), badBody.ToString());
            var (badPatch, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Patch, $"/api/v1/applications/{appId}", op, new { tokenSigningAlgorithm = wrong });
            Assert.Equal(HttpStatusCode.BadRequest, badPatch);
        }

        // Nothing changed by the refused requests.
        Assert.Equal("ML-DSA-65", new JsonWebToken(await Oidc.ClientCredentialsAsync(_stack, clientId, secret)).Alg);
    }

    [Fact]
    public async Task A_user_signs_in_through_an_ML_DSA_application_and_identity_verifies_the_token_at_userinfo()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var email = Oidc.NewEmail("pq");
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, op, email, password, ["tenant-admin"], tenant);
        var clientId = await Oidc.CreatePublicAppAsync(_stack, op, tenant, "openid profile email keys:read");
        using var browser = new Browser(_stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
        var (verifier, challenge) = Oidc.Pkce();
        var (redeemed, tokens) = await Oidc.RedeemAsync(_stack, clientId, await Oidc.AuthorizeAsync(browser, clientId, "openid profile email keys:read", challenge), verifier);
        Assert.True(redeemed == HttpStatusCode.OK, tokens.ToString());

        var access = tokens.GetProperty("access_token").GetString()!;
        var id = tokens.GetProperty("id_token").GetString()!;
        Assert.Equal("ML-DSA-65", new JsonWebToken(access).Alg);
        Assert.Equal("ML-DSA-65", new JsonWebToken(id).Alg);
        var jwks = await JwksAsync();
        Assert.Equal("valid", await VerifyOutsideAsync(jwks, id));
        Assert.Equal("valid", await VerifyOutsideAsync(jwks, access));

        using var client = _stack.Gateway.CreateClient();
        using (var userinfo = new HttpRequestMessage(HttpMethod.Get, "/connect/userinfo"))
        {
            userinfo.Headers.Authorization = new AuthenticationHeaderValue("Bearer", access);
            using var response = await client.SendAsync(userinfo);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            Assert.Equal(email, JsonDocument.Parse(text).RootElement.GetProperty("email").GetString());
        }

        using (var tampered = new HttpRequestMessage(HttpMethod.Get, "/connect/userinfo"))
        {
            tampered.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Flip(access, 2));
            using var response = await client.SendAsync(tampered);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var (keysStatus, keysBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/keys", access);
        Assert.True(keysStatus == HttpStatusCode.OK, keysBody.ToString());
    }

    [Fact]
    public async Task The_api_refuses_an_ML_DSA_token_once_its_key_is_retired()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (clientId, secret) = await CodeFlow.CreateServiceAppAsync(_stack, op, tenant, "billing:read");
        var before = await Oidc.ClientCredentialsAsync(_stack, clientId, secret);
        var (accepted, acceptedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/billing/usage", before);
        Assert.True(accepted == HttpStatusCode.OK, acceptedBody.ToString());

        // Retire the ML-DSA key (as the end of its retention does) and restart identity: a new key signs and the old one
        // leaves the JWKS.
        var kid = new JsonWebToken(before).Kid;
        Assert.Equal(1, await IdentitySql.ExecuteAsync(_stack, $"UPDATE identity.signing_keys SET \"ExpiresAt\" = now() - interval '1 second' WHERE \"KeyId\" = '{kid}'"));
        foreach (var identity in _stack.Of("identity").ToList())
        {
            await _stack.RestartAsync(identity);
        }

        await _stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        var after = await Oidc.ClientCredentialsAsync(_stack, clientId, secret);
        Assert.NotEqual(kid, new JsonWebToken(after).Kid);
        Assert.DoesNotContain(kid, await JwksAsync(), StringComparison.Ordinal);

        // The first token under the new key makes the api fetch the JWKS again (at most every 10 s); from then on the
        // retired key's token is refused although it has not expired.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        HttpStatusCode fresh;
        do
        {
            (fresh, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/billing/usage", after);
            if (fresh != HttpStatusCode.OK)
            {
                await Task.Delay(1000);
            }
        }
        while (fresh != HttpStatusCode.OK && DateTime.UtcNow < deadline);

        Assert.Equal(HttpStatusCode.OK, fresh);
        var (refused, refusedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/billing/usage", before);
        Assert.Equal(HttpStatusCode.Unauthorized, refused);
        Assert.Equal("unauthorized", refusedBody.TryGetProperty("error", out var e) ? e.GetString() : null);
        Assert.Equal("invalid: no key " + kid + " in the JWKS", await VerifyOutsideAsync(await JwksAsync(), before));
    }
}
