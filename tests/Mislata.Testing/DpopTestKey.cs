using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Mislata.Testing;

/// <summary>
/// A client's DPoP key for tests, and the proofs it makes (RFC 9449 §4.2), written here with
/// System.Security.Cryptography and a hand-made JWS — not with the server's code — so that a test of the server's
/// checks does not share its mistakes. Each part of a proof can be overridden to build a bad one.
/// </summary>
public sealed class DpopTestKey : IDisposable
{
    private readonly ECDsa? _ec;
    private readonly RSA? _rsa;

    private DpopTestKey(ECDsa? ec, RSA? rsa, string algorithm)
    {
        (_ec, _rsa, Algorithm) = (ec, rsa, algorithm);
    }

    public string Algorithm { get; }

    public static DpopTestKey Es256() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256), null, "ES256");

    public static DpopTestKey Es384() => new(ECDsa.Create(ECCurve.NamedCurves.nistP384), null, "ES384");

    public static DpopTestKey Ps256() => new(null, RSA.Create(2048), "PS256");

    public static DpopTestKey Rs256() => new(null, RSA.Create(2048), "RS256");

    public static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The public JWK, members in RFC 7638 order (so its compact JSON is the thumbprint input).</summary>
    public SortedDictionary<string, object> PublicJwk()
    {
        if (_ec is not null)
        {
            var p = _ec.ExportParameters(false);
            return new(StringComparer.Ordinal) { ["crv"] = Algorithm == "ES256" ? "P-256" : "P-384", ["kty"] = "EC", ["x"] = B64(p.Q.X!), ["y"] = B64(p.Q.Y!) };
        }

        var r = _rsa!.ExportParameters(false);
        return new(StringComparer.Ordinal) { ["e"] = B64(r.Exponent!), ["kty"] = "RSA", ["n"] = B64(r.Modulus!) };
    }

    /// <summary>The private JWK (for a test that a proof carrying private parts is refused).</summary>
    public SortedDictionary<string, object> PrivateJwk()
    {
        var jwk = PublicJwk();
        jwk["d"] = _ec is not null ? B64(_ec.ExportParameters(true).D!) : B64(_rsa!.ExportParameters(true).D!);
        return jwk;
    }

    /// <summary>RFC 7638: base64url(SHA-256(the required members, lexicographic, no whitespace)).</summary>
    public string Thumbprint => B64(SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(PublicJwk()))));

    /// <summary>base64url(SHA-256(ASCII(token))), the <c>ath</c> of RFC 9449 §4.2.</summary>
    public static string AccessTokenHash(string token) => B64(SHA256.HashData(Encoding.ASCII.GetBytes(token)));

    public string Proof(
        string method, string url, string? accessToken = null, DateTimeOffset? issuedAt = null, string? jti = null,
        Action<Dictionary<string, object>>? header = null, Action<Dictionary<string, object>>? payload = null)
    {
        var h = new Dictionary<string, object>(StringComparer.Ordinal) { ["typ"] = "dpop+jwt", ["alg"] = Algorithm, ["jwk"] = PublicJwk() };
        var p = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["jti"] = jti ?? Guid.NewGuid().ToString("N"),
            ["htm"] = method,
            ["htu"] = url,
            ["iat"] = (issuedAt ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds(),
        };
        if (accessToken is not null)
        {
            p["ath"] = AccessTokenHash(accessToken);
        }

        header?.Invoke(h);
        payload?.Invoke(p);
        var input = B64(JsonSerializer.SerializeToUtf8Bytes(h)) + "." + B64(JsonSerializer.SerializeToUtf8Bytes(p));
        return input + "." + B64(Sign(Encoding.ASCII.GetBytes(input)));
    }

    private byte[] Sign(byte[] input) => Algorithm switch
    {
        "ES256" => _ec!.SignData(input, HashAlgorithmName.SHA256),
        "ES384" => _ec!.SignData(input, HashAlgorithmName.SHA384),
        "PS256" => _rsa!.SignData(input, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
        _ => _rsa!.SignData(input, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
    };

    public void Dispose()
    {
        _ec?.Dispose();
        _rsa?.Dispose();
    }
}
