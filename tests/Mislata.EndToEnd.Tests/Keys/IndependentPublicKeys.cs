using System.Security.Cryptography;
using System.Text.Json;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mislata.EndToEnd.Tests.Keys;

/// <summary>
/// Reads exported public keys with .NET (RSA, ECDSA) and BouncyCastle (ML-KEM, ML-DSA, SLH-DSA, Ed25519) — never with
/// Mislata.Crypto — and checks them against CRYPTO.md "Public keys": OIDs, raw encodings, JWK members.
/// </summary>
internal static class IndependentPublicKeys
{
    /// <summary>(SPKI algorithm OID, raw public key length) per algorithm; RSA raw is PKCS#1 (length varies).</summary>
    public static readonly IReadOnlyDictionary<string, (string Oid, int RawLength)> Expected = new Dictionary<string, (string, int)>(StringComparer.Ordinal)
    {
        ["ML-KEM-512"] = ("2.16.840.1.101.3.4.4.1", 800),
        ["ML-KEM-768"] = ("2.16.840.1.101.3.4.4.2", 1184),
        ["ML-KEM-1024"] = ("2.16.840.1.101.3.4.4.3", 1568),
        ["ML-DSA-44"] = ("2.16.840.1.101.3.4.3.17", 1312),
        ["ML-DSA-65"] = ("2.16.840.1.101.3.4.3.18", 1952),
        ["ML-DSA-87"] = ("2.16.840.1.101.3.4.3.19", 2592),
        ["SLH-DSA-SHA2-128s"] = ("2.16.840.1.101.3.4.3.20", 32),
        ["SLH-DSA-SHA2-128f"] = ("2.16.840.1.101.3.4.3.21", 32),
        ["Ed25519"] = ("1.3.101.112", 32),
        ["ECDSA-P256"] = ("1.2.840.10045.2.1", 65),
        ["ECDSA-P384"] = ("1.2.840.10045.2.1", 97),
        ["RSA-2048"] = ("1.2.840.113549.1.1.1", 0),
        ["RSA-3072"] = ("1.2.840.113549.1.1.1", 0),
        ["RSA-4096"] = ("1.2.840.113549.1.1.1", 0),
    };

    /// <summary>The raw public key that the PEM (SubjectPublicKeyInfo) holds, decoded independently; asserts the OID.</summary>
    public static byte[] RawFromPem(string algorithm, string pem)
    {
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", pem, StringComparison.Ordinal);
        var der = PemEncoding.Find(pem) is var fields ? Convert.FromBase64String(pem[fields.Base64Data]) : [];
        var spki = SubjectPublicKeyInfo.GetInstance(der);
        Assert.Equal(Expected[algorithm].Oid, spki.Algorithm.Algorithm.Id);

        if (algorithm.StartsWith("RSA-", StringComparison.Ordinal))
        {
            using var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            Assert.Equal(int.Parse(algorithm[4..], System.Globalization.CultureInfo.InvariantCulture), rsa.KeySize);
            return rsa.ExportRSAPublicKey();
        }

        if (algorithm.StartsWith("ECDSA-", StringComparison.Ordinal))
        {
            using var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            var p = ec.ExportParameters(false);
            Assert.Equal(algorithm == "ECDSA-P256" ? "1.2.840.10045.3.1.7" : "1.3.132.0.34", p.Curve.Oid.Value);
            return [0x04, .. p.Q.X!, .. p.Q.Y!];
        }

        return PublicKeyFactory.CreateKey(spki) switch
        {
            MLKemPublicKeyParameters k => k.GetEncoded(),
            MLDsaPublicKeyParameters k => k.GetEncoded(),
            SlhDsaPublicKeyParameters k => k.GetEncoded(),
            Ed25519PublicKeyParameters k => k.GetEncoded(),
            var other => throw new InvalidOperationException("unexpected key type " + other.GetType().Name),
        };
    }

    /// <summary>Checks a JWK against the raw key: kty/alg/crv and the key members, <c>kid</c> and <c>use</c>.</summary>
    public static void AssertJwk(string algorithm, JsonElement jwk, byte[] raw, Guid keyId, int version, string use)
    {
        Assert.Equal($"{keyId:D}.{version}", jwk.GetProperty("kid").GetString());
        Assert.Equal(use, jwk.GetProperty("use").GetString());
        Assert.False(jwk.TryGetProperty("d", out _), "a JWK of a public key has no private member");
        var kty = jwk.GetProperty("kty").GetString();
        switch (algorithm)
        {
            case var a when a.StartsWith("ML-", StringComparison.Ordinal) || a.StartsWith("SLH-", StringComparison.Ordinal):
                Assert.Equal("AKP", kty);
                Assert.Equal(algorithm, jwk.GetProperty("alg").GetString());
                Assert.Equal(raw, B64Url(jwk.GetProperty("pub").GetString()!));
                break;
            case "Ed25519":
                Assert.Equal("OKP", kty);
                Assert.Equal("Ed25519", jwk.GetProperty("crv").GetString());
                Assert.Equal(raw, B64Url(jwk.GetProperty("x").GetString()!));
                break;
            case var a when a.StartsWith("ECDSA-", StringComparison.Ordinal):
                Assert.Equal("EC", kty);
                Assert.Equal(a == "ECDSA-P256" ? "P-256" : "P-384", jwk.GetProperty("crv").GetString());
                Assert.Equal(raw, [0x04, .. B64Url(jwk.GetProperty("x").GetString()!), .. B64Url(jwk.GetProperty("y").GetString()!)]);
                break;
            default:
                Assert.Equal("RSA", kty);
                using (var rsa = RSA.Create())
                {
                    rsa.ImportParameters(new RSAParameters
                    {
                        Modulus = B64Url(jwk.GetProperty("n").GetString()!),
                        Exponent = B64Url(jwk.GetProperty("e").GetString()!),
                    });
                    Assert.Equal(raw, rsa.ExportRSAPublicKey());
                }

                break;
        }
    }

    public static byte[] B64Url(string text) => System.Buffers.Text.Base64Url.DecodeFromChars(text);
}
