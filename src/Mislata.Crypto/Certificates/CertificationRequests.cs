using System.Formats.Asn1;
using System.Security.Cryptography;
using Mislata.Crypto.Algorithms;

namespace Mislata.Crypto.Certificates;

/// <summary>Why a CSR was refused.</summary>
public enum CsrError
{
    None = 0,

    /// <summary>Not a PEM "CERTIFICATE REQUEST" holding a DER PKCS#10 structure.</summary>
    Malformed,

    /// <summary>A key type, curve, size or signature algorithm this CA does not certify.</summary>
    Unsupported,

    /// <summary>The signature over certificationRequestInfo does not verify with the CSR's own key.</summary>
    BadSignature,
}

/// <summary>
/// A verified PKCS#10 request: its subject (DER), its SubjectPublicKeyInfo exactly as sent, and the key's family in
/// Mislata's names (<c>ECDSA-P256</c>, <c>RSA-3072</c>, <c>Ed25519</c>, <c>ML-DSA-65</c>…).
/// </summary>
public sealed record CertificationRequest(byte[] SubjectName, byte[] SubjectPublicKeyInfo, string KeyAlgorithm)
{
    public bool IsRsa => KeyAlgorithm.StartsWith("RSA-", StringComparison.Ordinal);
}

/// <summary>
/// PKCS#10 (RFC 2986) parsing and proof-of-possession: the signature over certificationRequestInfo is checked with the
/// request's own key. Keys: ECDSA P-256/P-384 (ecdsa-with-SHA256/384/512), RSA 2048–8192 (PKCS#1 v1.5 or PSS with a
/// salt of the hash length, SHA-256/384/512), Ed25519 (RFC 8410), ML-DSA (RFC 9881) and SLH-DSA (RFC 9909). The
/// requested extensions (attributes) are ignored: the profile and the <c>sans</c> of the issuing call decide them.
/// </summary>
public static class CertificationRequests
{
    public const int MaxPemLength = 64 * 1024;

    private const string EcPublicKey = "1.2.840.10045.2.1";
    private const string RsaEncryption = "1.2.840.113549.1.1.1";

    public static (CertificationRequest? Request, CsrError Error) Read(string? pem)
    {
        if (pem is null || pem.Length > MaxPemLength || !PemEncoding.TryFind(pem, out var fields))
        {
            return (null, CsrError.Malformed);
        }

        var label = pem.AsSpan()[fields.Label];
        if (!label.SequenceEqual("CERTIFICATE REQUEST") && !label.SequenceEqual("NEW CERTIFICATE REQUEST"))
        {
            return (null, CsrError.Malformed);
        }

        byte[] der;
        try
        {
            der = Convert.FromBase64String(pem[fields.Base64Data]);
        }
        catch (FormatException)
        {
            return (null, CsrError.Malformed);
        }

        return ReadDer(der);
    }

    public static (CertificationRequest? Request, CsrError Error) ReadDer(byte[] der)
    {
        byte[] info, subject, spki, signature;
        string signatureOid, keyOid;
        AsnReader? signatureParameters;
        AsnReader keyParameters;
        byte[] publicKeyBits;
        try
        {
            var outer = new AsnReader(der, AsnEncodingRules.DER);
            var request = outer.ReadSequence();
            outer.ThrowIfNotEmpty();
            info = request.ReadEncodedValue().ToArray();
            var algorithm = request.ReadSequence();
            signatureOid = algorithm.ReadObjectIdentifier();
            signatureParameters = algorithm.HasData ? algorithm : null;
            signature = request.ReadBitString(out var unused);
            request.ThrowIfNotEmpty();
            if (unused != 0)
            {
                return (null, CsrError.Malformed);
            }

            var body = new AsnReader(info, AsnEncodingRules.DER).ReadSequence();
            if (!body.TryReadInt32(out var version) || version != 0)
            {
                return (null, CsrError.Malformed);
            }

            subject = body.ReadEncodedValue().ToArray();
            if (DistinguishedNames.Format(subject) is null)
            {
                return (null, CsrError.Malformed);
            }

            spki = body.ReadEncodedValue().ToArray();
            var key = new AsnReader(spki, AsnEncodingRules.DER).ReadSequence();
            var keyAlgorithm = key.ReadSequence();
            keyOid = keyAlgorithm.ReadObjectIdentifier();
            keyParameters = keyAlgorithm;
            publicKeyBits = key.ReadBitString(out var keyUnused);
            if (keyUnused != 0)
            {
                return (null, CsrError.Malformed);
            }

            // attributes [0] IMPLICIT SET OF Attribute: read to check the structure, otherwise ignored.
            body.ReadSetOf(new Asn1Tag(TagClass.ContextSpecific, 0));
            body.ThrowIfNotEmpty();
        }
        catch (AsnContentException)
        {
            return (null, CsrError.Malformed);
        }

        try
        {
            return keyOid switch
            {
                EcPublicKey => Ecdsa(info, spki, signatureOid, signatureParameters, keyParameters, signature, subject),
                RsaEncryption => Rsa(info, spki, signatureOid, signatureParameters, signature, subject),
                _ => Pure(info, spki, keyOid, signatureOid, signatureParameters, keyParameters, publicKeyBits, signature, subject),
            };
        }
        catch (Exception ex) when (ex is CryptographicException or AsnContentException or CryptoException)
        {
            return (null, CsrError.Unsupported);
        }
    }

    private static (CertificationRequest?, CsrError) Ecdsa(
        byte[] info, byte[] spki, string signatureOid, AsnReader? signatureParameters, AsnReader keyParameters, byte[] signature, byte[] subject)
    {
        var curve = keyParameters.HasData ? keyParameters.ReadObjectIdentifier() : null;
        var name = curve switch
        {
            "1.2.840.10045.3.1.7" => AlgorithmNames.EcdsaP256,
            "1.3.132.0.34" => AlgorithmNames.EcdsaP384,
            _ => null,
        };
        HashAlgorithmName? hash = signatureOid switch
        {
            X509Algorithms.EcdsaWithSha256 => HashAlgorithmName.SHA256,
            X509Algorithms.EcdsaWithSha384 => HashAlgorithmName.SHA384,
            "1.2.840.10045.4.3.4" => HashAlgorithmName.SHA512,
            _ => null,
        };
        if (name is null || hash is null || signatureParameters is not null)
        {
            return (null, CsrError.Unsupported);
        }

        using var ec = ECDsa.Create();
        ec.ImportSubjectPublicKeyInfo(spki, out _);
        return ec.VerifyData(info, signature, hash.Value, DSASignatureFormat.Rfc3279DerSequence)
            ? (new CertificationRequest(subject, spki, name), CsrError.None)
            : (null, CsrError.BadSignature);
    }

    private static (CertificationRequest?, CsrError) Rsa(byte[] info, byte[] spki, string signatureOid, AsnReader? signatureParameters, byte[] signature, byte[] subject)
    {
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(spki, out _);
        if (rsa.KeySize is < 2048 or > 8192)
        {
            return (null, CsrError.Unsupported);
        }

        HashAlgorithmName? hash;
        var padding = RSASignaturePadding.Pkcs1;
        switch (signatureOid)
        {
            case "1.2.840.113549.1.1.11":
                hash = HashAlgorithmName.SHA256;
                break;
            case "1.2.840.113549.1.1.12":
                hash = HashAlgorithmName.SHA384;
                break;
            case "1.2.840.113549.1.1.13":
                hash = HashAlgorithmName.SHA512;
                break;
            case X509Algorithms.RsaPss when signatureParameters is not null:
                hash = PssHash(signatureParameters);
                padding = RSASignaturePadding.Pss;
                break;
            default:
                hash = null;
                break;
        }

        if (hash is null)
        {
            return (null, CsrError.Unsupported);
        }

        return rsa.VerifyData(info, signature, hash.Value, padding)
            ? (new CertificationRequest(subject, spki, $"RSA-{rsa.KeySize}"), CsrError.None)
            : (null, CsrError.BadSignature);
    }

    /// <summary>The hash of RSASSA-PSS-params when MGF1 uses the same hash and the salt is the hash length (what .NET verifies), else null.</summary>
    private static HashAlgorithmName? PssHash(AsnReader parameters)
    {
        var p = parameters.ReadSequence();
        string? hashOid = null, mgfHashOid = null;
        var salt = 20;
        if (p.HasData && p.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
        {
            hashOid = p.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence().ReadObjectIdentifier();
        }

        if (p.HasData && p.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 1)))
        {
            var mgf = p.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 1)).ReadSequence();
            mgfHashOid = mgf.ReadObjectIdentifier() == X509Algorithms.Mgf1 ? mgf.ReadSequence().ReadObjectIdentifier() : "?";
        }

        if (p.HasData && p.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 2)))
        {
            if (!p.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 2)).TryReadInt32(out salt))
            {
                return null;
            }
        }

        (HashAlgorithmName Name, int Length)? hash = hashOid switch
        {
            X509Algorithms.Sha256 => (HashAlgorithmName.SHA256, 32),
            "2.16.840.1.101.3.4.2.2" => (HashAlgorithmName.SHA384, 48),
            "2.16.840.1.101.3.4.2.3" => (HashAlgorithmName.SHA512, 64),
            _ => null,
        };
        return hash is { } h && mgfHashOid == hashOid && salt == h.Length ? h.Name : null;
    }

    /// <summary>Ed25519, ML-DSA and SLH-DSA: the signature algorithm is the key's own OID, without parameters.</summary>
    private static (CertificationRequest?, CsrError) Pure(
        byte[] info, byte[] spki, string keyOid, string signatureOid, AsnReader? signatureParameters, AsnReader keyParameters, byte[] publicKeyBits,
        byte[] signature, byte[] subject)
    {
        var name = keyOid switch
        {
            X509Algorithms.Ed25519 => AlgorithmNames.Ed25519,
            X509Algorithms.MlDsa44 => AlgorithmNames.MlDsa44,
            X509Algorithms.MlDsa65 => AlgorithmNames.MlDsa65,
            X509Algorithms.MlDsa87 => AlgorithmNames.MlDsa87,
            X509Algorithms.SlhDsaSha2_128s => AlgorithmNames.SlhDsaSha2_128s,
            X509Algorithms.SlhDsaSha2_128f => AlgorithmNames.SlhDsaSha2_128f,
            _ => null,
        };
        if (name is null || signatureOid != keyOid || signatureParameters is not null || keyParameters.HasData)
        {
            return (null, CsrError.Unsupported);
        }

        var key = PublicKey.FromRaw(name, KeyType.Signing, publicKeyBits);
        return AlgorithmRegistry.Default.GetSigner(name).Verify(key, info, [], signature)
            ? (new CertificationRequest(subject, spki, name), CsrError.None)
            : (null, CsrError.BadSignature);
    }
}
