using System.Formats.Asn1;
using System.Security.Cryptography;
using Mislata.Crypto.Algorithms;

namespace Mislata.Crypto.Certificates;

/// <summary>
/// The one export of private material in Mislata: the PKCS#8 of a key pair generated for a certificate subject (never a
/// key of the key store), handed back once and never stored. ECDSA and RSA as their PKCS#8; Ed25519 per RFC 8410
/// (CurvePrivateKey); ML-DSA per RFC 9881 in the seed-only form (<c>[0] IMPLICIT OCTET STRING</c>); SLH-DSA per RFC 9909.
/// </summary>
public static class GeneratedKeys
{
    public static string Pkcs8Pem(KeyMaterial key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var der = Pkcs8(key);
        try
        {
            return PemEncoding.WriteString("PRIVATE KEY", der) + "\n";
        }
        finally
        {
            CryptographicOperations.ZeroMemory(der);
        }
    }

    internal static byte[] Pkcs8(KeyMaterial key)
    {
        if (key.Form == PrivateForm.Pkcs8)
        {
            return key.Secret.ToArray();
        }

        var oid = X509Algorithms.SignatureOid(key.Algorithm) ?? throw CryptoException.Mismatch(key.Algorithm, "be exported as PKCS#8");
        var inner = new AsnWriter(AsnEncodingRules.DER);
        switch (key.Info.Family)
        {
            case AlgorithmFamily.Ed25519 when key.Form == PrivateForm.Seed:
                inner.WriteOctetString(key.Secret);
                break;
            case AlgorithmFamily.MlDsa when key.Form == PrivateForm.Seed:
                inner.WriteOctetString(key.Secret, new Asn1Tag(TagClass.ContextSpecific, 0));
                break;
            case AlgorithmFamily.SlhDsa:
                inner = null;
                break;
            default:
                throw CryptoException.Mismatch(key.Algorithm, "be exported as PKCS#8");
        }

        var body = inner?.Encode() ?? key.Secret.ToArray();
        try
        {
            var writer = new AsnWriter(AsnEncodingRules.DER);
            using (writer.PushSequence())
            {
                writer.WriteInteger(0);
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(oid);
                }

                writer.WriteOctetString(body);
            }

            return writer.Encode();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(body);
        }
    }
}
