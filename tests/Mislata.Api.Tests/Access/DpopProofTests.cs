using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http;
using Mislata.Api.Access;
using Mislata.Infrastructure.Authentication;
using Mislata.Testing;
using StackExchange.Redis;

namespace Mislata.Api.Tests.Access;

/// <summary>
/// The DPoP proof checks of RFC 9449 §4.3, field by field: each test changes one thing of a proof that otherwise
/// passes (proofs made by <see cref="DpopTestKey"/>, independent of the server's code).
/// </summary>
public sealed class DpopProofTests : IDisposable
{
    private const string Url = "https://mislata.example/api/v1/keys";
    private const string Token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
    private readonly DpopTestKey _key = DpopTestKey.Es256();

    public void Dispose() => _key.Dispose();

    private static DpopProofCheck Check(string proof, string method = "GET", string url = Url, string? token = Token) =>
        DpopProof.Validate(proof, method, new Uri(url), token, Now);

    private string Good(Action<Dictionary<string, object>>? header = null, Action<Dictionary<string, object>>? payload = null, DateTimeOffset? iat = null) =>
        _key.Proof("GET", Url, Token, iat ?? Now, header: header, payload: payload);

    [Theory]
    [InlineData("ES256")]
    [InlineData("ES384")]
    [InlineData("RS256")]
    [InlineData("PS256")]
    public void A_good_proof_passes_with_the_RFC_7638_thumbprint_of_its_key(string algorithm)
    {
        using var key = algorithm switch { "ES256" => DpopTestKey.Es256(), "ES384" => DpopTestKey.Es384(), "RS256" => DpopTestKey.Rs256(), _ => DpopTestKey.Ps256() };
        var check = Check(key.Proof("GET", Url, Token, Now, jti: "j1"));
        Assert.True(check.IsValid, check.Error);
        Assert.Equal(key.Thumbprint, check.Thumbprint);
        Assert.Equal("j1", check.JwtId);
    }

    [Fact]
    public void The_thumbprint_is_the_RFC_7638_example_value()
    {
        // RFC 7638 §3.1: the example RSA key (members beyond the required ones do not count) and its thumbprint.
        using var jwk = System.Text.Json.JsonDocument.Parse("""
            {"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}
            """);
        Assert.Equal("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", DpopProof.JwkThumbprint(jwk.RootElement));
    }

    [Fact]
    public void A_proof_made_by_the_Python_recipe_of_docs_identity_tokens_md_passes()
    {
        // Golden: made once by the documented recipe (Python, cryptography) with iat fixed to the test's clock.
        const string proof = "eyJ0eXAiOiAiZHBvcCtqd3QiLCAiYWxnIjogIkVTMjU2IiwgImp3ayI6IHsiY3J2IjogIlAtMjU2IiwgImt0eSI6ICJFQyIsICJ4IjogIkNVQS0wMXZPWXhpSWZCOHg3VlpQbExBdHY4QkFnT3g3czRnMXNnd0RtVzgiLCAieSI6ICJLUC14emZEbFBHNWlnQTRCajhPMHFFc0g5eUl0anZsSnpLQ1pqaUdiSjJNIn19"
            + ".eyJqdGkiOiAiYWU0ZWJmYzYtZmIyOS00ZGQ5LTliMDQtNGVmMzc0NzA2ZmE2IiwgImh0bSI6ICJHRVQiLCAiaHR1IjogImh0dHBzOi8vbWlzbGF0YS5leGFtcGxlL2FwaS92MS9rZXlzIiwgImlhdCI6IDE4MDAwMDAwMDAsICJhdGgiOiAibjBuUmN6a1RfQmFnSjFNT1lPSzQ0Z2xKUVIzc0dSVFk1SzNZakRtYjM2NCJ9"
            + ".jNRAwpM3EzQHU0eGV0BGwg7p-XFLzzE-IUfUDbUpPPfj7VfWY-2DGNUP9uITGDNNX_dRI_SJP-fhuQcmffPbcA";
        var check = Check(proof);
        Assert.True(check.IsValid, check.Error);
        Assert.Equal("OVNRZWgZU_oQQk7ueQvw9HjcVhtw4Lc8HfzHqxoKPvg", check.Thumbprint);
    }

    [Theory]
    [InlineData("JWT")]
    [InlineData("at+jwt")]
    [InlineData("")]
    public void A_proof_without_typ_dpop_jwt_is_refused(string typ) =>
        Assert.Contains("typ", Check(Good(header: h => h["typ"] = typ)).Error, StringComparison.Ordinal);

    [Theory]
    [InlineData("none")]
    [InlineData("HS256")]
    [InlineData("ES512")]
    [InlineData("EdDSA")]
    public void A_proof_with_alg_none_symmetric_or_unlisted_is_refused(string alg) =>
        Assert.Contains("alg", Check(Good(header: h => h["alg"] = alg)).Error, StringComparison.Ordinal);

    [Fact]
    public void An_unsigned_proof_with_alg_none_and_an_empty_signature_is_refused()
    {
        var parts = Good(header: h => h["alg"] = "none").Split('.');
        Assert.False(Check(parts[0] + "." + parts[1] + ".").IsValid);
    }

    [Fact]
    public void A_proof_whose_jwk_carries_the_private_key_is_refused() =>
        Assert.Contains("private", Check(Good(header: h => h["jwk"] = _key.PrivateJwk())).Error, StringComparison.Ordinal);

    [Fact]
    public void A_proof_without_a_jwk_or_with_a_jwk_of_another_curve_is_refused()
    {
        Assert.Contains("jwk", Check(Good(header: h => h.Remove("jwk"))).Error, StringComparison.Ordinal);
        using var p384 = DpopTestKey.Es384();
        Assert.False(Check(Good(header: h => h["jwk"] = p384.PublicJwk())).IsValid);
    }

    [Fact]
    public void A_proof_signed_by_another_key_than_its_jwk_or_with_a_broken_signature_is_refused()
    {
        using var other = DpopTestKey.Es256();
        Assert.Contains("signature", Check(Good(header: h => h["jwk"] = other.PublicJwk())).Error, StringComparison.Ordinal);

        var parts = Good().Split('.');
        var signature = Convert.FromBase64String(parts[2].Replace('-', '+').Replace('_', '/') + "==".Substring(0, (4 - (parts[2].Length % 4)) % 4));
        signature[10] ^= 0x01;
        Assert.Contains("signature", Check(parts[0] + "." + parts[1] + "." + DpopTestKey.B64(signature)).Error, StringComparison.Ordinal);

        // A payload changed after signing.
        var tampered = DpopTestKey.B64(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Convert.FromBase64String(parts[1].Replace('-', '+').Replace('_', '/') + "==".Substring(0, (4 - (parts[1].Length % 4)) % 4))).Replace("GET", "PUT", StringComparison.Ordinal)));
        Assert.False(Check(parts[0] + "." + tampered + "." + parts[2], method: "PUT").IsValid);
    }

    [Fact]
    public void A_proof_for_another_method_is_refused() =>
        Assert.Contains("htm", Check(Good(), method: "POST").Error, StringComparison.Ordinal);

    [Theory]
    [InlineData("https://mislata.example/api/v1/secrets")]
    [InlineData("https://evil.example/api/v1/keys")]
    [InlineData("http://mislata.example/api/v1/keys")]
    [InlineData("/api/v1/keys")]
    public void A_proof_for_another_URL_is_refused(string htu) =>
        Assert.Contains("htu", Check(Good(payload: p => p["htu"] = htu)).Error, StringComparison.Ordinal);

    [Theory]
    [InlineData("https://MISLATA.example/api/v1/keys")]
    [InlineData("https://mislata.example:443/api/v1/keys")]
    [InlineData("https://mislata.example/api/v1/keys?limit=5")]
    [InlineData("https://mislata.example/api/v1/keys#x")]
    public void The_htu_is_compared_without_case_of_the_host_default_port_query_or_fragment(string htu)
    {
        var check = Check(Good(payload: p => p["htu"] = htu));
        Assert.True(check.IsValid, check.Error);
    }

    [Theory]
    [InlineData(-61)]
    [InlineData(61)]
    [InlineData(-3600)]
    public void A_proof_issued_outside_the_window_is_refused(int seconds) =>
        Assert.Contains("iat", Check(Good(iat: Now.AddSeconds(seconds))).Error, StringComparison.Ordinal);

    [Theory]
    [InlineData(-60)]
    [InlineData(60)]
    public void A_proof_issued_at_the_edge_of_the_window_passes(int seconds) =>
        Assert.True(Check(Good(iat: Now.AddSeconds(seconds))).IsValid);

    [Fact]
    public void A_proof_without_iat_or_jti_is_refused()
    {
        Assert.Contains("iat", Check(Good(payload: p => p.Remove("iat"))).Error, StringComparison.Ordinal);
        Assert.Contains("iat", Check(Good(payload: p => p["iat"] = "1800000000")).Error, StringComparison.Ordinal);
        Assert.Contains("jti", Check(Good(payload: p => p.Remove("jti"))).Error, StringComparison.Ordinal);
        Assert.Contains("jti", Check(Good(payload: p => p["jti"] = new string('j', 257))).Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_proof_for_another_access_token_or_without_ath_is_refused()
    {
        Assert.Contains("ath", Check(Good(), token: Token + "x").Error, StringComparison.Ordinal);
        Assert.Contains("ath", Check(Good(payload: p => p.Remove("ath"))).Error, StringComparison.Ordinal);
        Assert.True(Check(_key.Proof("POST", Url, null, Now), method: "POST", token: null).IsValid); // the token endpoint: no ath
    }

    [Theory]
    [InlineData("")]
    [InlineData("a.b")]
    [InlineData("a.b.c.d")]
    [InlineData("!!!.???.***")]
    [InlineData("W10.W10.AA")]
    public void Malformed_proofs_are_refused(string proof) => Assert.False(Check(proof).IsValid);

    [Fact]
    public void An_oversized_proof_is_refused() =>
        Assert.Contains("too long", Check(Good(payload: p => p["pad"] = new string('x', 9000))).Error, StringComparison.Ordinal);
}

/// <summary>The api's gate (RFC 9449 §7) with a real Redis: scheme rules, the bound key, replay, and Redis down.</summary>
public sealed class DpopProofGateTests : IClassFixture<RedisAndDatabase>, IDisposable
{
    private const string Issuer = "https://mislata.example";
    private const string Token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
    private readonly RedisAndDatabase _shared;
    private readonly DpopTestKey _key = DpopTestKey.Es256();
    private readonly DpopProofGate _gate;

    public DpopProofGateTests(RedisAndDatabase shared)
    {
        _shared = shared;
        _gate = new DpopProofGate(shared.Connection, new AccessTokenOptions { Issuer = Issuer }, TimeProvider.System);
    }

    public void Dispose() => _key.Dispose();

    private static ClaimsIdentity Bound(string? jkt) =>
        new(jkt is null ? [new Claim("sub", "u")] : [new Claim("sub", "u"), new Claim("cnf", $$"""{"jkt":"{{jkt}}"}""", "JSON")]);

    private static DefaultHttpContext Request(string scheme, string? proof, string path = "/api/v1/keys", string method = "GET")
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Scheme = "http"; // the api behind the gateway: the public URL comes from the issuer, not from the request
        context.Request.Host = new HostString("api.internal", 5282);
        context.Request.Path = path;
        context.Request.Headers.Authorization = scheme + " " + Token;
        if (proof is not null)
        {
            context.Request.Headers["DPoP"] = proof;
        }

        return context;
    }

    [Fact]
    public async Task A_bound_token_passes_once_with_a_proof_of_its_key_and_a_replay_is_refused()
    {
        var proof = _key.Proof("GET", Issuer + "/api/v1/keys", Token);
        Assert.Null(await _gate.RefusalAsync(Request("DPoP", proof).Request, Token, Bound(_key.Thumbprint)));
        Assert.Equal("dpop_proof_replayed", await _gate.RefusalAsync(Request("DPoP", proof).Request, Token, Bound(_key.Thumbprint)));
    }

    [Fact]
    public async Task A_bound_token_is_refused_with_another_keys_proof_without_proof_as_Bearer_and_for_another_path()
    {
        using var other = DpopTestKey.Es256();
        Assert.Equal("dpop_proof_other_key", await _gate.RefusalAsync(Request("DPoP", other.Proof("GET", Issuer + "/api/v1/keys", Token)).Request, Token, Bound(_key.Thumbprint)));
        Assert.Equal("dpop_proof_missing", await _gate.RefusalAsync(Request("DPoP", null).Request, Token, Bound(_key.Thumbprint)));
        Assert.Equal("dpop_bound_token_as_bearer", await _gate.RefusalAsync(Request("Bearer", _key.Proof("GET", Issuer + "/api/v1/keys", Token)).Request, Token, Bound(_key.Thumbprint)));
        Assert.Equal("dpop_proof_invalid", await _gate.RefusalAsync(Request("DPoP", _key.Proof("GET", Issuer + "/api/v1/secrets", Token)).Request, Token, Bound(_key.Thumbprint)));
        Assert.Equal("dpop_proof_invalid", await _gate.RefusalAsync(Request("DPoP", _key.Proof("GET", "http://api.internal:5282/api/v1/keys", Token)).Request, Token, Bound(_key.Thumbprint)));

        var two = Request("DPoP", null);
        two.Request.Headers["DPoP"] = new Microsoft.Extensions.Primitives.StringValues([_key.Proof("GET", Issuer + "/api/v1/keys", Token), _key.Proof("GET", Issuer + "/api/v1/keys", Token)]);
        Assert.Equal("dpop_proof_missing", await _gate.RefusalAsync(two.Request, Token, Bound(_key.Thumbprint)));
    }

    [Fact]
    public async Task An_unbound_token_passes_as_Bearer_without_Redis_and_is_refused_with_the_DPoP_scheme()
    {
        // Redis down must not matter to an unbound Bearer token: the gate makes no Redis call for it.
        var down = await ConnectionMultiplexer.ConnectAsync("127.0.0.1:1,abortConnect=false,connectTimeout=200,connectRetry=0");
        await using (down)
        {
            var gate = new DpopProofGate(down, new AccessTokenOptions { Issuer = Issuer }, TimeProvider.System);
            Assert.Null(await gate.RefusalAsync(Request("Bearer", null).Request, Token, Bound(null)));
            Assert.Equal("dpop_unbound_token", await gate.RefusalAsync(Request("DPoP", _key.Proof("GET", Issuer + "/api/v1/keys", Token)).Request, Token, Bound(null)));
        }
    }

    [Fact]
    public async Task With_Redis_down_a_good_proof_is_not_accepted_unchecked()
    {
        var down = await ConnectionMultiplexer.ConnectAsync("127.0.0.1:1,abortConnect=false,connectTimeout=200,connectRetry=0");
        await using (down)
        {
            var gate = new DpopProofGate(down, new AccessTokenOptions { Issuer = Issuer }, TimeProvider.System);
            await Assert.ThrowsAnyAsync<RedisException>(() => gate.RefusalAsync(Request("DPoP", _key.Proof("GET", Issuer + "/api/v1/keys", Token)).Request, Token, Bound(_key.Thumbprint)));
        }
    }

    [Fact]
    public async Task Used_proof_ids_live_in_Redis_under_mislata_dpop_with_a_TTL()
    {
        var proof = _key.Proof("GET", Issuer + "/api/v1/keys", Token, jti: "ttl-" + Guid.NewGuid().ToString("N"));
        Assert.Null(await _gate.RefusalAsync(Request("DPoP", proof).Request, Token, Bound(_key.Thumbprint)));
        var server = _shared.Connection.GetServers()[0];
        var keys = server.Keys(pattern: "mislata:dpop:*").ToList();
        Assert.NotEmpty(keys);
        var ttl = await _shared.Connection.GetDatabase().KeyTimeToLiveAsync(keys[0]);
        Assert.True(ttl is { } t && t > TimeSpan.Zero && t <= DpopProof.ReplayRetention, $"ttl {ttl}");
    }

    [Theory]
    [InlineData("dpop_proof_replayed", "invalid_dpop_proof")]
    [InlineData("dpop_bound_token_as_bearer", "invalid_token")]
    public void The_challenge_names_the_DPoP_scheme_its_algorithms_and_the_error(string refusal, string error)
    {
        var challenge = DpopProofGate.ChallengeFor(refusal);
        Assert.StartsWith("DPoP algs=\"ES256 ES384 RS256 PS256\"", challenge, StringComparison.Ordinal);
        Assert.EndsWith($"error=\"{error}\"", challenge, StringComparison.Ordinal);
    }
}
