using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Authentication;

/// <summary>
/// A DPoP proof (RFC 9449 §4) that passed every check except replay: the RFC 7638 SHA-256 thumbprint of its public key
/// (the <c>cnf.jkt</c> of a bound token) and its <c>jti</c>; or why it failed.
/// </summary>
public sealed record DpopProofCheck(string? Thumbprint, string? JwtId, string? Error)
{
    public bool IsValid => Error is null;

    /// <summary>The proof's <c>nonce</c> (RFC 9449 §8), if it carries one; the caller decides whether one is needed.</summary>
    public string? Nonce { get; init; }

    internal static DpopProofCheck Fail(string error) => new(null, null, error);
}

/// <summary>
/// Checks DPoP proofs (RFC 9449 §4.3) with Mislata's own code: OpenIddict 7.8 and 7.9 have no DPoP support (their
/// proof-of-possession handlers know only mTLS, <c>cnf.x5t#S256</c>). A proof is a compact JWS whose header has
/// <c>typ</c> <c>dpop+jwt</c>, an asymmetric <c>alg</c> of <see cref="Algorithms"/> and the public <c>jwk</c> (no
/// private member) that verifies its signature; its payload names the request (<c>htm</c>, <c>htu</c> without query or
/// fragment), carries a <c>jti</c> and an <c>iat</c> at most <see cref="Window"/> away from now, and, at a resource
/// server, <c>ath</c> = base64url(SHA-256(access token)). Replay of the <c>jti</c> is checked apart
/// (<see cref="DpopReplayStore"/>), after the proof is known to be good.
/// </summary>
public static class DpopProof
{
    /// <summary>The request header that carries a proof.</summary>
    public const string HeaderName = "DPoP";

    /// <summary>The authorization scheme of a DPoP-bound token (RFC 9449 §7.1), and the <c>token_type</c> of one.</summary>
    public const string Scheme = "DPoP";

    /// <summary>The claim of a bound access token (RFC 9449 §6.1: <c>{"cnf": {"jkt": thumbprint}}</c>).</summary>
    public const string ConfirmationClaim = "cnf";

    public const string InvalidProof = "invalid_dpop_proof";

    /// <summary>The error asking the client to retry with the server's nonce (RFC 9449 §8), given in <see cref="NonceHeaderName"/>.</summary>
    public const string UseNonce = "use_dpop_nonce";

    public const string NonceHeaderName = "DPoP-Nonce";

    /// <summary>Signature algorithms a proof may use; exactly what discovery's <c>dpop_signing_alg_values_supported</c> lists.</summary>
    public static readonly IReadOnlyList<string> Algorithms = ["ES256", "ES384", "RS256", "PS256"];

    /// <summary>How far a proof's <c>iat</c> may be from the server's clock, in the past or the future.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(60);

    /// <summary>How long a used <c>jti</c> is remembered: longer than any <c>iat</c> the window accepts.</summary>
    public static readonly TimeSpan ReplayRetention = (2 * Window) + TimeSpan.FromSeconds(10);

    private const int MaximumLength = 8 * 1024;

    private static readonly string[] PrivateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

    /// <summary>
    /// Checks <paramref name="proof"/> for a request <paramref name="method"/> <paramref name="url"/> (the URL as the
    /// client addressed it through the gateway); <paramref name="accessToken"/> is the token presented with it at a
    /// resource server (its hash must be the proof's <c>ath</c>), null at the token endpoint.
    /// </summary>
    public static DpopProofCheck Validate(string? proof, string method, Uri url, string? accessToken, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(url);
        if (string.IsNullOrEmpty(proof) || proof.Length > MaximumLength)
        {
            return DpopProofCheck.Fail("The DPoP proof is missing or too long.");
        }

        var parts = proof.Split('.');
        if (parts.Length != 3 || !TryParseObject(parts[0], out var header) || !TryParseObject(parts[1], out var payload) || !TryDecode(parts[2], out var signature))
        {
            return DpopProofCheck.Fail("The DPoP proof is not a compact JWS.");
        }

        using (header)
        using (payload)
        {
            var h = header.RootElement;
            if (String(h, "typ") != "dpop+jwt")
            {
                return DpopProofCheck.Fail("The DPoP proof's typ is not dpop+jwt.");
            }

            if (String(h, "alg") is not { } alg || !Algorithms.Contains(alg, StringComparer.Ordinal))
            {
                return DpopProofCheck.Fail($"The DPoP proof's alg is not one of {string.Join(", ", Algorithms)}.");
            }

            if (!h.TryGetProperty("jwk", out var jwk) || jwk.ValueKind != JsonValueKind.Object)
            {
                return DpopProofCheck.Fail("The DPoP proof carries no jwk.");
            }

            if (PrivateMembers.Any(m => jwk.TryGetProperty(m, out _)))
            {
                return DpopProofCheck.Fail("The DPoP proof's jwk holds private key material.");
            }

            if (!TryThumbprint(jwk, alg, out var thumbprint))
            {
                return DpopProofCheck.Fail("The DPoP proof's jwk does not fit its alg.");
            }

            var signingInput = Encoding.ASCII.GetBytes(string.Concat(parts[0], ".", parts[1]));
            if (!Verifies(jwk, alg, signingInput, signature))
            {
                return DpopProofCheck.Fail("The DPoP proof's signature does not verify with its jwk.");
            }

            return CheckClaims(payload.RootElement, method, url, accessToken, now) is { } error
                ? DpopProofCheck.Fail(error)
                : new DpopProofCheck(thumbprint, String(payload.RootElement, "jti"), null) { Nonce = String(payload.RootElement, "nonce") };
        }
    }

    private static string? CheckClaims(JsonElement p, string method, Uri url, string? accessToken, DateTimeOffset now)
    {
        if (String(p, "jti") is not { Length: > 0 and <= 256 })
        {
            return "The DPoP proof's jti is missing or longer than 256 characters.";
        }

        if (String(p, "htm") != method)
        {
            return "The DPoP proof's htm is not this request's method.";
        }

        if (String(p, "htu") is not { } htu || !SameTarget(htu, url))
        {
            return "The DPoP proof's htu is not this request's URL.";
        }

        if (!p.TryGetProperty("iat", out var iat) || iat.ValueKind != JsonValueKind.Number || !iat.TryGetInt64(out var seconds)
            || Math.Abs(seconds - now.ToUnixTimeSeconds()) > Window.TotalSeconds)
        {
            return $"The DPoP proof's iat is missing or more than {Window.TotalSeconds:0} seconds from the server's time.";
        }

        if (accessToken is not null)
        {
            var expected = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(accessToken)));
            if (String(p, "ath") is not { } ath || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(ath), Encoding.ASCII.GetBytes(expected)))
            {
                return "The DPoP proof's ath is not the hash of the access token.";
            }
        }

        return null;
    }

    /// <summary>RFC 9449 §4.3 step 9: scheme and host compared case-insensitively, default ports dropped, query and fragment ignored.</summary>
    internal static bool SameTarget(string htu, Uri url)
    {
        if (!Uri.TryCreate(htu, UriKind.Absolute, out var claimed) || (claimed.Scheme != Uri.UriSchemeHttps && claimed.Scheme != Uri.UriSchemeHttp))
        {
            return false;
        }

        return string.Equals(claimed.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped),
            url.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The RFC 7638 SHA-256 thumbprint of a public JWK this class accepts (EC P-256 or P-384, RSA of 2048 bits or more), or null.</summary>
    public static string? JwkThumbprint(JsonElement jwk) =>
        TryThumbprint(jwk, String(jwk, "kty") == "RSA" ? "RS256" : String(jwk, "crv") == "P-384" ? "ES384" : "ES256", out var thumbprint) ? thumbprint : null;

    /// <summary>The RFC 7638 SHA-256 thumbprint of an EC (P-256, P-384) or RSA (2048 bits or more) public key fit for <paramref name="alg"/>.</summary>
    private static bool TryThumbprint(JsonElement jwk, string alg, out string thumbprint)
    {
        thumbprint = string.Empty;
        string canonical;
        switch (String(jwk, "kty"))
        {
            case "EC":
                var crv = String(jwk, "crv");
                var size = (alg, crv) switch { ("ES256", "P-256") => 32, ("ES384", "P-384") => 48, _ => 0 };
                if (size == 0 || !TryCoordinate(jwk, "x", size, out _) || !TryCoordinate(jwk, "y", size, out _))
                {
                    return false;
                }

                canonical = $$"""{"crv":"{{crv}}","kty":"EC","x":"{{String(jwk, "x")}}","y":"{{String(jwk, "y")}}"}""";
                break;
            case "RSA" when alg is "RS256" or "PS256":
                if (!TryCoordinate(jwk, "n", 0, out var n) || n.Length < 256 || !TryCoordinate(jwk, "e", 0, out var e) || e.Length is 0 or > 8)
                {
                    return false;
                }

                canonical = $$"""{"e":"{{String(jwk, "e")}}","kty":"RSA","n":"{{String(jwk, "n")}}"}""";
                break;
            default:
                return false;
        }

        thumbprint = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
        return true;
    }

    private static bool Verifies(JsonElement jwk, string alg, byte[] input, byte[] signature)
    {
        try
        {
            if (alg is "ES256" or "ES384")
            {
                var size = alg == "ES256" ? 32 : 48;
                TryCoordinate(jwk, "x", size, out var x);
                TryCoordinate(jwk, "y", size, out var y);
                using var ecdsa = ECDsa.Create(new ECParameters
                {
                    Curve = alg == "ES256" ? ECCurve.NamedCurves.nistP256 : ECCurve.NamedCurves.nistP384,
                    Q = new ECPoint { X = x, Y = y },
                });
                return signature.Length == 2 * size && ecdsa.VerifyData(input, signature, alg == "ES256" ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA384);
            }

            TryCoordinate(jwk, "n", 0, out var n);
            TryCoordinate(jwk, "e", 0, out var e);
            using var rsa = RSA.Create(new RSAParameters { Modulus = n, Exponent = e });
            return rsa.VerifyData(input, signature, HashAlgorithmName.SHA256, alg == "PS256" ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1);
        }
        catch (CryptographicException)
        {
            return false; // a point off the curve, a malformed modulus
        }
    }

    private static bool TryCoordinate(JsonElement jwk, string name, int size, out byte[] value)
    {
        value = [];
        if (String(jwk, name) is not { Length: > 0 } text || !TryDecode(text, out value))
        {
            return false;
        }

        return size == 0 || value.Length == size;
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool TryParseObject(string part, out JsonDocument document)
    {
        document = null!;
        if (!TryDecode(part, out var bytes))
        {
            return false;
        }

        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException)
        {
            return false;
        }

        if (document.RootElement.ValueKind == JsonValueKind.Object)
        {
            return true;
        }

        document.Dispose();
        return false;
    }

    private static bool TryDecode(string part, out byte[] bytes)
    {
        bytes = [];
        if (part.Length == 0 || part.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
        {
            return false;
        }

        try
        {
            bytes = Base64UrlEncoder.DecodeBytes(part);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>The <c>jkt</c> of a token's <c>cnf</c> claim value (a JSON object), or null.</summary>
    public static string? ThumbprintOf(string? confirmation)
    {
        if (string.IsNullOrEmpty(confirmation))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(confirmation);
            return document.RootElement.ValueKind == JsonValueKind.Object ? String(document.RootElement, "jkt") : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A constant-time comparison of two thumbprints.</summary>
    public static bool SameKey(string? a, string? b) =>
        a is not null && b is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));
}

/// <summary>
/// Remembers used proof <c>jti</c>s in Redis (SET NX with a TTL), shared by every replica, for
/// <see cref="DpopProof.ReplayRetention"/>. Keys are <c>{prefix}{SHA-256(jkt:jti)}</c>; errors of Redis propagate: the
/// caller refuses the request (503), never accepts an unchecked proof.
/// </summary>
public sealed class DpopReplayStore(IConnectionMultiplexer redis, string prefix)
{
    /// <summary>True the first time a (key, jti) pair is seen; false on a replay.</summary>
    public async Task<bool> TryUseAsync(DpopProofCheck proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        var id = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes($"{proof.Thumbprint}:{proof.JwtId}")));
        return await redis.GetDatabase().StringSetAsync(prefix + id, "1", DpopProof.ReplayRetention, When.NotExists);
    }
}
