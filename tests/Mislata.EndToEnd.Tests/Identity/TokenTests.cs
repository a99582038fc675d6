using System.Net;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Mislata.EndToEnd.Tests.Identity;

[Collection(IdentityCollection.Name)]
public sealed class TokenTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task Operator_client_gets_an_ES256_access_token_that_verifies_with_only_the_published_jwks()
    {
        var token = await Oidc.OperatorTokenAsync(_stack);

        var result = await Jwks.ValidateAsync(_stack, token);
        Assert.True(result.IsValid, result.Exception?.ToString());
        var jwt = (JsonWebToken)result.SecurityToken;
        Assert.Equal("ES256", jwt.Alg);
        Assert.Equal("at+jwt", jwt.Typ);
        Assert.Equal(_stack.Gateway.BaseAddress.ToString(), jwt.Issuer);
        Assert.Equal(new[] { "mislata-api" }, jwt.Audiences);
        Assert.Equal(_stack.BootstrapClientId, jwt.Subject);
        Assert.Equal(_stack.BootstrapClientId, jwt.GetClaim("client_id").Value);
        Assert.Equal("platform-admin", jwt.GetClaim("role").Value);
        Assert.False(jwt.TryGetClaim("tenant_id", out _), "operators carry no tenant_id");
        var scopes = jwt.GetClaim("scope").Value.Split(' ');
        Assert.Contains("platform:admin", scopes);
        Assert.Contains("users:write", scopes);
        Assert.Equal(TimeSpan.FromMinutes(15), jwt.ValidTo - jwt.IssuedAt);
    }

    [Fact]
    public async Task Discovery_names_the_public_issuer_and_is_served_over_plain_http_inside_the_network()
    {
        var identity = _stack.Of("identity").First();
        using var client = new HttpClient { BaseAddress = identity.BaseAddress };
        var discovery = JsonDocument.Parse(await client.GetStringAsync(new Uri("/.well-known/openid-configuration", UriKind.Relative))).RootElement;
        using var jwks = await client.GetAsync(new Uri("/.well-known/jwks", UriKind.Relative));

        Assert.Equal(_stack.Gateway.BaseAddress.ToString(), discovery.GetProperty("issuer").GetString());
        // Endpoints are given for the address asked (inside: identity's own), the issuer is always the public one.
        Assert.Equal(new Uri(identity.BaseAddress, "/.well-known/jwks").ToString(), discovery.GetProperty("jwks_uri").GetString());
        var (publicIssuer, _) = await Jwks.DiscoverAsync(_stack);
        Assert.Equal(_stack.Gateway.BaseAddress.ToString(), publicIssuer);
        Assert.Equal(new[] { "S256" }, discovery.GetProperty("code_challenge_methods_supported").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Equal(HttpStatusCode.OK, jwks.StatusCode);
        var key = JsonDocument.Parse(await jwks.Content.ReadAsStringAsync()).RootElement.GetProperty("keys")[0];
        Assert.Equal("EC", key.GetProperty("kty").GetString());
        Assert.False(key.TryGetProperty("d", out _), "the private part is never published");
    }

    [Fact]
    public async Task Unknown_client_and_wrong_secret_get_invalid_client()
    {
        var (unknown, unknownBody) = await Oidc.TokenAsync(_stack, new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials", ["client_id"] = "no-such-client", ["client_secret"] = "x",
        });
        var (wrong, wrongBody) = await Oidc.TokenAsync(_stack, new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials", ["client_id"] = _stack.BootstrapClientId, ["client_secret"] = "wrong",
        });

        Assert.Equal(HttpStatusCode.Unauthorized, unknown);
        Assert.Equal("invalid_client", unknownBody.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, wrong);
        Assert.Equal("invalid_client", wrongBody.GetProperty("error").GetString());
    }
}
