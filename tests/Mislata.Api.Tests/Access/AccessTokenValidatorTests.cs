using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Mislata.Api.Access;
using Mislata.Core.Access;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Infrastructure.Authentication;

namespace Mislata.Api.Tests.Access;

/// <summary>Tokens minted with a test ES256 key; the JWKS is served by an in-memory handler (no call to identity).</summary>
public sealed class AccessTokenValidatorTests : IDisposable
{
    private const string Issuer = "https://mislata.example";
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly JwksHandler _jwks = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    public AccessTokenValidatorTests() => _jwks.Json = JwksOf(_key, "k1");

    public void Dispose()
    {
        _key.Dispose();
        _jwks.Dispose();
    }

    private AccessTokenValidator NewValidator()
    {
        var options = new AccessTokenOptions { Issuer = Issuer, JwksUri = new Uri("http://identity.test/.well-known/jwks") };
#pragma warning disable CA2000 // the validator owns the client for the test's lifetime
        return new AccessTokenValidator(new JwksCache(new HttpClient(_jwks), options, _time, NullLogger<JwksCache>.Instance), options, _time);
#pragma warning restore CA2000
    }

    private static string Mint(ECDsa key, string kid, Dictionary<string, object> claims, string issuer = Issuer, string audience = AccessTokenOptions.Audience, DateTime? expires = null, string type = "at+jwt")
    {
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Claims = claims,
            Expires = expires ?? DateTime.UtcNow.AddMinutes(15),
            TokenType = type,
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(key) { KeyId = kid }, SecurityAlgorithms.EcdsaSha256),
        };
        return new JsonWebTokenHandler().CreateToken(descriptor);
    }

    /// <summary>A JWT assembled by hand, as an attacker would: any header, any payload, any signature bytes.</summary>
    private static string Forge(object header, Dictionary<string, object> claims, Func<byte[], byte[]> sign)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var payload = new Dictionary<string, object>(claims)
        {
            ["iss"] = Issuer,
            ["aud"] = AccessTokenOptions.Audience,
            ["iat"] = now,
            ["nbf"] = now,
            ["exp"] = now + 900,
        };
        var signingInput = B64(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + B64(JsonSerializer.SerializeToUtf8Bytes(payload));
        return signingInput + "." + B64(sign(Encoding.ASCII.GetBytes(signingInput)));
    }

    private static string B64(byte[] bytes) => Base64UrlEncoder.Encode(bytes);

    private static string JwksOf(ECDsa key, string kid)
    {
        var jwk = JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(key) { KeyId = kid });
        return $$"""{"keys":[{"kty":"EC","crv":"P-256","x":"{{jwk.X}}","y":"{{jwk.Y}}","kid":"{{kid}}","use":"sig","alg":"ES256"}]}""";
    }

    private static Dictionary<string, object> OperatorClaims() => new()
    {
        [ClaimNames.Subject] = "op-client",
        [ClaimNames.ClientId] = "op-client",
        [ClaimNames.Role] = Roles.PlatformAdmin,
        [ClaimNames.Scope] = "platform:admin audit:read",
    };

    [Fact]
    public async Task A_valid_operator_token_gives_an_operator_caller()
    {
        var identity = await NewValidator().ValidateAsync(Mint(_key, "k1", OperatorClaims()), CancellationToken.None);
        Assert.NotNull(identity);
        var (caller, refusal) = CallerAuthenticationMiddleware.FromAccessToken(identity);
        Assert.Null(refusal);
        Assert.Null(caller!.TenantId);
        Assert.True(caller.Has(Scopes.PlatformAdmin));
        Assert.Equal("op-client", caller.ActorId);
    }

    [Fact]
    public async Task Wrong_issuer_audience_expired_or_foreign_key_is_refused()
    {
        var validator = NewValidator();
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), issuer: "https://evil.example"), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), audience: "other-api"), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), expires: DateTime.UtcNow.AddMinutes(-5)), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(Mint(other, "k1", OperatorClaims()), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync("not.a.token", CancellationToken.None));
    }

    [Fact]
    public async Task A_correctly_signed_token_whose_typ_is_not_at_jwt_is_refused()
    {
        var validator = NewValidator();
        Assert.NotNull(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims()), CancellationToken.None));
        Assert.NotNull(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), type: "application/at+jwt"), CancellationToken.None));

        // An ID token (or any other JWT identity signs) is typ JWT: never an access token.
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), type: "JWT"), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), type: "id_token+jwt"), CancellationToken.None));
        var withoutTyp = Forge(new { alg = "ES256", kid = "k1" }, OperatorClaims(), input => _key.SignData(input, HashAlgorithmName.SHA256));
        Assert.Null(await validator.ValidateAsync(withoutTyp, CancellationToken.None));
    }

    [Fact]
    public async Task A_token_without_an_issue_time_is_refused_because_it_could_not_be_revoked()
    {
        var validator = NewValidator();
        var signed = Forge(new { alg = "ES256", typ = "at+jwt", kid = "k1" }, OperatorClaims(), input => _key.SignData(input, HashAlgorithmName.SHA256));
        Assert.NotNull(await validator.ValidateAsync(signed, CancellationToken.None));

        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        var withoutIat = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = AccessTokenOptions.Audience,
            Claims = OperatorClaims(),
            Expires = DateTime.UtcNow.AddMinutes(15),
            TokenType = "at+jwt",
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(_key) { KeyId = "k1" }, SecurityAlgorithms.EcdsaSha256),
        });
        Assert.Null(await validator.ValidateAsync(withoutIat, CancellationToken.None));
    }

    [Fact]
    public async Task An_unsigned_alg_none_token_is_refused()
    {
        var validator = NewValidator();
        foreach (var alg in new[] { "none", "None", "NONE" })
        {
            var token = Forge(new { alg, typ = "at+jwt", kid = "k1" }, OperatorClaims(), _ => []);
            Assert.Null(await validator.ValidateAsync(token, CancellationToken.None));
            // …and with a real ES256 signature left in place behind the "none" header.
            var resigned = Forge(new { alg, typ = "at+jwt", kid = "k1" }, OperatorClaims(), input => _key.SignData(input, HashAlgorithmName.SHA256));
            Assert.Null(await validator.ValidateAsync(resigned, CancellationToken.None));
        }
    }

    [Fact]
    public async Task An_HS256_token_keyed_with_the_public_key_bytes_is_refused()
    {
        var validator = NewValidator();
        var jwk = JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(_key) { KeyId = "k1" });
        var x = Base64UrlEncoder.DecodeBytes(jwk.X);
        var y = Base64UrlEncoder.DecodeBytes(jwk.Y);
        // Every form of the public key an attacker could feed a confused verifier as the HMAC secret.
        byte[][] secrets =
        [
            Encoding.UTF8.GetBytes(_jwks.Json),
            Encoding.UTF8.GetBytes(_key.ExportSubjectPublicKeyInfoPem()),
            _key.ExportSubjectPublicKeyInfo(),
            [0x04, .. x, .. y],
            [.. x, .. y],
        ];
        foreach (var secret in secrets)
        {
            foreach (var alg in new[] { "HS256", "HS384", "HS512" })
            {
                byte[] Sign(byte[] input) => alg switch
                {
                    "HS256" => HMACSHA256.HashData(secret, input),
                    "HS384" => HMACSHA384.HashData(secret, input),
                    _ => HMACSHA512.HashData(secret, input),
                };

                // With identity's kid, and without one (a verifier then tries every key it knows).
                Assert.Null(await validator.ValidateAsync(Forge(new { alg, typ = "at+jwt", kid = "k1" }, OperatorClaims(), Sign), CancellationToken.None));
                Assert.Null(await validator.ValidateAsync(Forge(new { alg, typ = "at+jwt" }, OperatorClaims(), Sign), CancellationToken.None));
            }
        }
    }

    [Fact]
    public async Task An_unknown_kid_refreshes_the_jwks_at_most_once_per_interval()
    {
        var validator = NewValidator();
        Assert.NotNull(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims()), CancellationToken.None));
        Assert.Equal(1, _jwks.Requests);

        // Identity rotates to k2: the first token signed with it triggers one refresh.
        using var rotated = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _jwks.Json = JwksOf(rotated, "k2");
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.NotNull(await validator.ValidateAsync(Mint(rotated, "k2", OperatorClaims()), CancellationToken.None));
        Assert.Equal(2, _jwks.Requests);

        // Forged tokens with unknown kids in a burst do not hammer identity.
        using var forger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        for (var i = 0; i < 5; i++)
        {
            Assert.Null(await validator.ValidateAsync(Mint(forger, "k-unknown-" + i, OperatorClaims()), CancellationToken.None));
        }

        Assert.Equal(2, _jwks.Requests);
    }

    private static MlDsa65SecurityKey NewMlDsaKey(string kid)
    {
        var material = AlgorithmRegistry.Default.Generate(MlDsaJose.Algorithm, KeyType.Signing, OsRandomSource.Instance);
        return new MlDsa65SecurityKey(material.PublicKey!, material, kid);
    }

    private static string MintMlDsa(MlDsa65SecurityKey key, Dictionary<string, object> claims, DateTime? expires = null) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = AccessTokenOptions.Audience,
            Claims = claims,
            Expires = expires ?? DateTime.UtcNow.AddMinutes(15),
            TokenType = "at+jwt",
            SigningCredentials = new SigningCredentials(key, MlDsaJose.Algorithm),
        });

    private static string JwksWith(string esJson, params MlDsa65SecurityKey[] keys)
    {
        var extra = string.Join(',', keys.Select(k => JsonSerializer.Serialize(MlDsaJose.ToJwk(k))));
        return esJson.Replace("}]}", "}" + (extra.Length > 0 ? "," + extra : string.Empty) + "]}", StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_ML_DSA_65_token_verifies_against_its_AKP_key_and_a_flipped_byte_does_not()
    {
        var mldsa = NewMlDsaKey("pq1");
        _jwks.Json = JwksWith(JwksOf(_key, "k1"), mldsa);
        var validator = NewValidator();
        var token = MintMlDsa(mldsa, OperatorClaims());
        Assert.Contains("\"alg\":\"ML-DSA-65\"", Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(token.Split('.')[0])), StringComparison.Ordinal);
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.NotNull(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims()), CancellationToken.None));

        var parts = token.Split('.');
        var signature = Base64UrlEncoder.DecodeBytes(parts[2]);
        signature[signature.Length / 2] ^= 0x01;
        Assert.Null(await validator.ValidateAsync($"{parts[0]}.{parts[1]}.{Base64UrlEncoder.Encode(signature)}", CancellationToken.None));

        // The payload changed under the same signature.
        var claims = OperatorClaims();
        claims[ClaimNames.Scope] = "platform:admin audit:read keys:write";
        var other = MintMlDsa(mldsa, claims).Split('.');
        Assert.Null(await validator.ValidateAsync($"{parts[0]}.{other[1]}.{parts[2]}", CancellationToken.None));

        // Signed by another ML-DSA key under the published kid.
        var stranger = NewMlDsaKey("pq1");
        Assert.Null(await validator.ValidateAsync(MintMlDsa(stranger, OperatorClaims()), CancellationToken.None));
    }

    [Fact]
    public async Task An_ML_DSA_signature_under_an_ES256_header_or_an_AKP_key_with_a_private_part_is_refused()
    {
        var mldsa = NewMlDsaKey("pq1");
        _jwks.Json = JwksWith(JwksOf(_key, "k1"), mldsa);
        var validator = NewValidator();
        var provider = mldsa.CryptoProviderFactory.CreateForSigning(mldsa, MlDsaJose.Algorithm);
        Assert.Null(await validator.ValidateAsync(Forge(new { alg = "ES256", typ = "at+jwt", kid = "pq1" }, OperatorClaims(), provider.Sign), CancellationToken.None));
        Assert.NotNull(await validator.ValidateAsync(Forge(new { alg = "ML-DSA-65", typ = "at+jwt", kid = "pq1" }, OperatorClaims(), provider.Sign), CancellationToken.None));

        // A JWK that carries a private part, another algorithm or a short key is not an ML-DSA-65 verification key.
        var jwk = MlDsaJose.ToJwk(mldsa);
        Assert.True(MlDsaJose.TryFromJwk(JsonSerializer.SerializeToElement(jwk), out var parsed));
        Assert.Equal(mldsa.PublicKey.Raw.ToArray(), parsed.PublicKey.Raw.ToArray());
        Assert.False(MlDsaJose.TryFromJwk(JsonSerializer.SerializeToElement(new Dictionary<string, string>(jwk) { ["priv"] = "AAAA" }), out _));
        Assert.False(MlDsaJose.TryFromJwk(JsonSerializer.SerializeToElement(new Dictionary<string, string>(jwk) { ["alg"] = "ML-DSA-44" }), out _));
        Assert.False(MlDsaJose.TryFromJwk(JsonSerializer.SerializeToElement(new Dictionary<string, string>(jwk) { ["use"] = "enc" }), out _));
        Assert.False(MlDsaJose.TryFromJwk(JsonSerializer.SerializeToElement(new Dictionary<string, string>(jwk) { ["pub"] = jwk["pub"][..100] }), out _));
    }

    [Fact]
    public async Task A_remembered_ML_DSA_token_is_refused_once_its_key_leaves_the_JWKS()
    {
        var mldsa = NewMlDsaKey("pq1");
        _jwks.Json = JwksWith(JwksOf(_key, "k1"), mldsa);
        var validator = NewValidator();
        var token = MintMlDsa(mldsa, OperatorClaims());
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.Equal(1, _jwks.Requests);

        // Identity retires pq1: at the next refresh the remembered verification no longer counts.
        _jwks.Json = JwksWith(JwksOf(_key, "k1"), NewMlDsaKey("pq2"));
        _time.Advance(new AccessTokenOptions().RefreshInterval + TimeSpan.FromSeconds(1));
        Assert.Null(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(token, CancellationToken.None));
    }

    [Fact]
    public async Task A_remembered_token_is_refused_after_it_expires()
    {
        var mldsa = NewMlDsaKey("pq1");
        _jwks.Json = JwksWith(JwksOf(_key, "k1"), mldsa);
        var validator = NewValidator();
        var token = MintMlDsa(mldsa, OperatorClaims(), DateTime.UtcNow.AddMinutes(2));
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        _time.Advance(TimeSpan.FromMinutes(3));
        Assert.Null(await validator.ValidateAsync(token, CancellationToken.None));
    }

    private AccessTokenValidator NewValidator(AccessTokenOptions options)
    {
#pragma warning disable CA2000 // the validator owns the client for the test's lifetime
        return new AccessTokenValidator(new JwksCache(new HttpClient(_jwks), options, _time, NullLogger<JwksCache>.Instance), options, _time);
#pragma warning restore CA2000
    }

    /// <summary>
    /// A valid token of exactly <paramref name="length"/> characters: a padding claim, and a padding header parameter of
    /// one to three characters (base64url lengths of 4k + 1 do not exist, so the header has to shift the remainder).
    /// </summary>
    private string MintOfLength(int length)
    {
        string WithPadding(int pad, int headerPad)
        {
            var claims = OperatorClaims();
            claims["pad"] = new string('p', pad);
            return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
            {
                Issuer = Issuer,
                Audience = AccessTokenOptions.Audience,
                Claims = claims,
                Expires = DateTime.UtcNow.AddMinutes(15),
                TokenType = "at+jwt",
                AdditionalHeaderClaims = new Dictionary<string, object> { ["pad"] = new string('h', headerPad) },
                SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(_key) { KeyId = "k1" }, SecurityAlgorithms.EcdsaSha256),
            });
        }

        for (var headerPad = 1; headerPad <= 3; headerPad++)
        {
            // Base64url: three characters of padding make four of token.
            var estimate = (length - WithPadding(0, headerPad).Length) * 3 / 4;
            for (var pad = estimate - 8; pad <= estimate + 8; pad++)
            {
                var token = WithPadding(pad, headerPad);
                if (token.Length == length)
                {
                    return token;
                }
            }
        }

        throw new InvalidOperationException("no padding gives a token of " + length + " characters");
    }

    [Fact]
    public async Task A_token_of_exactly_16_KiB_is_read_and_one_character_more_is_refused_unread()
    {
        var validator = NewValidator();
        var atLimit = MintOfLength(16 * 1024);
        var overLimit = MintOfLength(16 * 1024 + 1);

        Assert.Equal(16_384, atLimit.Length);
        Assert.NotNull(await validator.ValidateAsync(atLimit, CancellationToken.None));
        Assert.Equal(16_385, overLimit.Length);
        Assert.Null(await validator.ValidateAsync(overLimit, CancellationToken.None));
    }

    [Fact]
    public async Task Without_a_JWKS_source_no_token_is_read_and_identity_is_never_called()
    {
        var options = new AccessTokenOptions { Issuer = Issuer };
        var validator = NewValidator(options);

        Assert.False(validator.Enabled);
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims()), CancellationToken.None));
        using var http = new HttpClient(_jwks, disposeHandler: false);
        var cache = new JwksCache(http, options, _time, NullLogger<JwksCache>.Instance);
        Assert.Empty(await cache.GetKeysAsync(unknownKey: true, CancellationToken.None));
        Assert.Empty(await cache.GetKeysAsync(unknownKey: false, CancellationToken.None));
        Assert.Equal(0, _jwks.Requests);
    }

    [Fact]
    public async Task The_issuer_is_accepted_with_or_without_a_trailing_slash_and_nothing_else()
    {
        var validator = NewValidator();
        Assert.NotNull(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), issuer: Issuer + "/"), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), issuer: Issuer + "//"), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), issuer: Issuer + "/x"), CancellationToken.None));
    }

    [Fact]
    public async Task A_token_without_an_expiry_is_refused()
    {
        var validator = NewValidator();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var claims = OperatorClaims();
        claims["iat"] = now;
        claims["nbf"] = now;
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        var withoutExp = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = AccessTokenOptions.Audience,
            Claims = claims,
            TokenType = "at+jwt",
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(_key) { KeyId = "k1" }, SecurityAlgorithms.EcdsaSha256),
        });

        Assert.False(new JsonWebToken(withoutExp).TryGetPayloadValue<long>("exp", out _));
        Assert.Null(await validator.ValidateAsync(withoutExp, CancellationToken.None));
    }

    [Fact]
    public async Task A_valid_token_never_refreshes_the_jwks_before_the_refresh_interval_and_does_after_it()
    {
        var validator = NewValidator();
        var token = Mint(_key, "k1", OperatorClaims());
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.Equal(1, _jwks.Requests);

        // Past the unknown-key interval: a token that validates is no reason to call identity.
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.Equal(1, _jwks.Requests);

        // Exactly the refresh interval after the fetch: still fresh. One tick later: stale, fetched again.
        _time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(11));
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.Equal(1, _jwks.Requests);
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.Equal(2, _jwks.Requests);
    }

    [Fact]
    public async Task An_unknown_kid_refreshes_only_once_the_minimum_interval_is_over_not_at_exactly_it()
    {
        var validator = NewValidator();
        Assert.NotNull(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims()), CancellationToken.None));
        using var rotated = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _jwks.Json = JwksOf(rotated, "k2");
        var token = Mint(rotated, "k2", OperatorClaims());

        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.Equal(1, _jwks.Requests);

        _time.Advance(TimeSpan.FromTicks(1));
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.Equal(2, _jwks.Requests);
    }

    [Fact]
    public async Task A_bad_signature_under_a_known_kid_refreshes_the_jwks_once_in_case_identity_replaced_the_key()
    {
        var validator = NewValidator();
        Assert.NotNull(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims()), CancellationToken.None));

        // Identity restarted with a new key under the same kid.
        using var replaced = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _jwks.Json = JwksOf(replaced, "k1");
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.NotNull(await validator.ValidateAsync(Mint(replaced, "k1", OperatorClaims()), CancellationToken.None));
        Assert.Equal(2, _jwks.Requests);
    }

    [Fact]
    public async Task Only_a_key_or_signature_failure_refreshes_the_jwks_an_expired_or_foreign_audience_token_does_not()
    {
        var validator = NewValidator();
        Assert.NotNull(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims()), CancellationToken.None));
        _time.Advance(TimeSpan.FromSeconds(11));

        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), expires: DateTime.UtcNow.AddMinutes(-5)), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), audience: "other-api"), CancellationToken.None));
        Assert.Equal(1, _jwks.Requests);
    }

    [Fact]
    public async Task A_failed_jwks_refresh_keeps_the_keys_already_known()
    {
        var validator = NewValidator();
        // Valid for an hour: the validator's clock moves 22 minutes below.
        var token = Mint(_key, "k1", OperatorClaims(), expires: DateTime.UtcNow.AddHours(1));
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));

        // Identity answers 500, then garbage: neither throws nor loses the known key.
        _jwks.Status = HttpStatusCode.InternalServerError;
        _time.Advance(TimeSpan.FromMinutes(11));
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.Equal(2, _jwks.Requests);

        _jwks.Status = HttpStatusCode.OK;
        _jwks.Json = "{\"keys\": not json";
        _time.Advance(TimeSpan.FromMinutes(11));
        Assert.NotNull(await validator.ValidateAsync(token, CancellationToken.None));
        Assert.Equal(3, _jwks.Requests);
    }

    [Fact]
    public async Task A_refresh_already_under_way_is_not_started_twice_and_the_second_caller_does_not_wait_for_it()
    {
        var options = new AccessTokenOptions { Issuer = Issuer, JwksUri = new Uri("http://identity.test/.well-known/jwks") };
        using var http = new HttpClient(_jwks, disposeHandler: false);
        var cache = new JwksCache(http, options, _time, NullLogger<JwksCache>.Instance);
        Assert.Single(await cache.GetKeysAsync(unknownKey: false, CancellationToken.None));

        using var rotated = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _jwks.Json = JwksOf(rotated, "k2");
        _jwks.Hold = new TaskCompletionSource();
        _time.Advance(TimeSpan.FromMinutes(11));
        var first = cache.GetKeysAsync(unknownKey: false, CancellationToken.None);
        Assert.True(await _jwks.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30)));

        // Another request while identity has not answered yet: the keys known so far, at once.
        _time.Advance(TimeSpan.FromSeconds(11));
        var second = await cache.GetKeysAsync(unknownKey: true, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("k1", Assert.Single(second).KeyId);
        Assert.Equal(2, _jwks.Requests);

        _jwks.Hold.SetResult();
        Assert.Equal("k2", Assert.Single(await first).KeyId);
        Assert.Equal(2, _jwks.Requests);
    }

    [Fact]
    public void Token_scopes_count_only_as_far_as_roles_and_binding_allow()
    {
        var tenant = Guid.NewGuid();
        var member = new ClaimsIdentity(
        [
            new Claim(ClaimNames.Subject, "user-1"),
            new Claim(ClaimNames.ClientId, "app"),
            new Claim(ClaimNames.TenantId, tenant.ToString()),
            new Claim(ClaimNames.Role, Roles.TenantMember),
            new Claim(ClaimNames.Scope, "keys:read apikeys:write platform:admin"),
        ]);
        var (caller, _) = CallerAuthenticationMiddleware.FromAccessToken(member);
        Assert.Equal(tenant, caller!.TenantId);
        Assert.Equal(["keys:read"], caller.Scopes.Order());
        Assert.Equal(Core.Audit.AuditActorType.User, caller.ActorType);

        var partner = Guid.NewGuid();
        var partnerAdmin = new ClaimsIdentity(
        [
            new Claim(ClaimNames.Subject, "user-2"),
            new Claim(ClaimNames.PartnerId, partner.ToString()),
            new Claim(ClaimNames.Role, Roles.PartnerAdmin),
            new Claim(ClaimNames.Scope, "partner:admin"),
        ]);
        (caller, _) = CallerAuthenticationMiddleware.FromAccessToken(partnerAdmin);
        Assert.Equal(partner, caller!.PartnerId);
        Assert.True(caller.Has(Scopes.PartnerAdmin));

        var badTenant = new ClaimsIdentity([new Claim(ClaimNames.Subject, "x"), new Claim(ClaimNames.TenantId, "nope")]);
        Assert.Null(CallerAuthenticationMiddleware.FromAccessToken(badTenant).Caller);
    }

    private sealed class JwksHandler : HttpMessageHandler
    {
        private int _requests;

        public string Json { get; set; } = "{\"keys\":[]}";

        public HttpStatusCode Status { get; set; } = HttpStatusCode.OK;

        /// <summary>When set, a request waits for it (after <see cref="Entered"/>).</summary>
        public TaskCompletionSource? Hold { get; set; }

        public TaskCompletionSource<bool> Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Requests => _requests;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _requests);
            var json = Json;
            if (Hold is { } hold)
            {
                Entered.TrySetResult(true);
                await hold.Task.WaitAsync(cancellationToken);
            }

            return new HttpResponseMessage(Status) { Content = new StringContent(json) };
        }
    }
}
