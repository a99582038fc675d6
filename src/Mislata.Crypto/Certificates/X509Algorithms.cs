using System.Formats.Asn1;
using Mislata.Crypto.Algorithms;

namespace Mislata.Crypto.Certificates;

/// <summary>
/// How a signature of a Mislata signing key appears in X.509 (RFC 5280 §4.1.1.2): the AlgorithmIdentifier of each
/// algorithm and the conversion of Mislata's signature bytes into the BIT STRING of a certificate or CRL.
/// ML-DSA per RFC 9881 and SLH-DSA per RFC 9909 (parameters absent, the signature as is), Ed25519 per RFC 8410
/// (parameters absent), ECDSA per RFC 5758 (ecdsa-with-SHA256/384, parameters absent, the P1363 signature re-encoded as
/// Ecdsa-Sig-Value), RSA per RFC 4055 RSASSA-PSS with SHA-256, MGF1-SHA-256 and salt 32 (Mislata's RSA signing keys
/// sign PSS only, never PKCS#1 v1.5).
/// </summary>
public static class X509Algorithms
{
    public const string RsaPss = "1.2.840.113549.1.1.10";
    public const string Mgf1 = "1.2.840.113549.1.1.8";
    public const string Sha256 = "2.16.840.1.101.3.4.2.1";
    public const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";
    public const string EcdsaWithSha384 = "1.2.840.10045.4.3.3";
    public const string Ed25519 = "1.3.101.112";
    public const string MlDsa44 = "2.16.840.1.101.3.4.3.17";
    public const string MlDsa65 = "2.16.840.1.101.3.4.3.18";
    public const string MlDsa87 = "2.16.840.1.101.3.4.3.19";
    public const string SlhDsaSha2_128s = "2.16.840.1.101.3.4.3.20";
    public const string SlhDsaSha2_128f = "2.16.840.1.101.3.4.3.21";

    /// <summary>True for the algorithms a CA key (and a generated leaf key) may use: every signing algorithm of Keys.</summary>
    public static bool CanSign(string algorithm) => SignatureOid(algorithm) is not null;

    /// <summary>The signatureAlgorithm OID of a Mislata signing algorithm, or null when it cannot sign certificates.</summary>
    public static string? SignatureOid(string algorithm) => algorithm switch
    {
        AlgorithmNames.MlDsa44 => MlDsa44,
        AlgorithmNames.MlDsa65 => MlDsa65,
        AlgorithmNames.MlDsa87 => MlDsa87,
        AlgorithmNames.SlhDsaSha2_128s => SlhDsaSha2_128s,
        AlgorithmNames.SlhDsaSha2_128f => SlhDsaSha2_128f,
        AlgorithmNames.Ed25519 => Ed25519,
        AlgorithmNames.EcdsaP256 => EcdsaWithSha256,
        AlgorithmNames.EcdsaP384 => EcdsaWithSha384,
        AlgorithmNames.Rsa2048 or AlgorithmNames.Rsa3072 or AlgorithmNames.Rsa4096 => RsaPss,
        _ => null,
    };

    /// <summary>Writes the AlgorithmIdentifier of signatures made by <paramref name="algorithm"/>.</summary>
    public static void WriteSignatureAlgorithm(AsnWriter writer, string algorithm)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var oid = SignatureOid(algorithm) ?? throw CryptoException.Mismatch(algorithm, "sign certificates");
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            if (oid == RsaPss)
            {
                // RSASSA-PSS-params: hashAlgorithm [0] sha256, maskGenAlgorithm [1] mgf1(sha256), saltLength [2] 32;
                // trailerField is the DEFAULT and so absent in DER. The SHA-256 identifiers carry no parameters (RFC 5754).
                using (writer.PushSequence())
                {
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
                    {
                        WriteHash(writer);
                    }

                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1)))
                    using (writer.PushSequence())
                    {
                        writer.WriteObjectIdentifier(Mgf1);
                        WriteHash(writer);
                    }

                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2)))
                    {
                        writer.WriteInteger(32);
                    }
                }
            }
        }
    }

    /// <summary>The DER of the AlgorithmIdentifier alone.</summary>
    public static byte[] SignatureAlgorithm(string algorithm)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        WriteSignatureAlgorithm(writer, algorithm);
        return writer.Encode();
    }

    /// <summary>Mislata's signature bytes as they go into the signature BIT STRING (ECDSA: P1363 → Ecdsa-Sig-Value).</summary>
    public static byte[] ToX509Signature(string algorithm, byte[] signature)
    {
        ArgumentNullException.ThrowIfNull(signature);
        if (algorithm is not (AlgorithmNames.EcdsaP256 or AlgorithmNames.EcdsaP384))
        {
            return signature;
        }

        var half = signature.Length / 2;
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(new System.Numerics.BigInteger(signature.AsSpan(0, half), isUnsigned: true, isBigEndian: true));
            writer.WriteInteger(new System.Numerics.BigInteger(signature.AsSpan(half), isUnsigned: true, isBigEndian: true));
        }

        return writer.Encode();
    }

    private static void WriteHash(AsnWriter writer)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(Sha256);
        }
    }
}
