using System.Formats.Asn1;
using System.Security.Cryptography;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;

namespace Mislata.Crypto.Tests.Keys;

/// <summary>
/// BYOK import forms beyond the basics: every ML-KEM private-key CHOICE of the IETF lamps draft (seed, expanded, both
/// — and both must agree), AKP and OKP JWKs whose public part must match, Ed25519 PKCS#8, RSA PKCS#1 / JWK / public raw.
/// </summary>
public sealed class KeyImportFormsTests
{
    private const string MlKem768Oid = "2.16.840.1.101.3.4.4.2";
    private const string Ed25519Oid = "1.3.101.112";

    private static string B64(byte[] b) => Convert.ToBase64String(b);

    private static string B64u(ReadOnlySpan<byte> b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static void InvalidKey(Action action) =>
        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(action).Error);

    private static byte[] Pkcs8(string oid, byte[] inner, int version = 0)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(version);
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(oid);
            }

            writer.WriteOctetString(inner);
        }

        return writer.Encode();
    }

    private static byte[] Seed(byte[] seed)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteOctetString(seed, new Asn1Tag(TagClass.ContextSpecific, 0));
        return w.Encode();
    }

    private static byte[] Expanded(byte[] expanded)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteOctetString(expanded);
        return w.Encode();
    }

    private static byte[] Both(byte[] seed, byte[] expanded)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteOctetString(seed);
            w.WriteOctetString(expanded);
        }

        return w.Encode();
    }

    private static (byte[] Seed, byte[] Expanded, byte[] Public) MlKem768(string label)
    {
        var kem = (MlKemAlgorithm)AlgorithmRegistry.Default.Get("ML-KEM-768");
        var seed = new byte[64];
        new DeterministicRandom(label).Fill(seed);
        using var key = kem.FromSeed((byte[])seed.Clone());
        return (seed, kem.ExpandedPrivateKey(key), key.PublicKey!.Raw.ToArray());
    }

    [Fact]
    public void An_ML_KEM_PKCS8_key_is_accepted_as_seed_expanded_or_both_and_always_gives_the_same_public_key()
    {
        var (seed, expanded, pub) = MlKem768("pkcs8");
        foreach (var inner in new[] { Seed(seed), Expanded(expanded), Both(seed, expanded) })
        {
            using var key = KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Pkcs8, B64(Pkcs8(MlKem768Oid, inner)));
            Assert.Equal(pub, key.PublicKey!.Raw.ToArray());
        }

        // PKCS#8 v2 (OneAsymmetricKey) is read as well.
        using var v2 = KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Pkcs8, B64(Pkcs8(MlKem768Oid, Seed(seed), version: 1)));
        Assert.Equal(pub, v2.PublicKey!.Raw.ToArray());
    }

    [Fact]
    public void An_ML_KEM_PKCS8_key_whose_seed_and_expanded_key_disagree_or_that_is_malformed_is_refused()
    {
        var (seed, _, _) = MlKem768("a");
        var (_, otherExpanded, _) = MlKem768("b");
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Pkcs8, B64(Pkcs8(MlKem768Oid, Both(seed, otherExpanded)))));
        // Another parameter set's OID, another algorithm's OID, a version beyond 1.
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Pkcs8, B64(Pkcs8("2.16.840.1.101.3.4.4.1", Seed(seed)))));
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Pkcs8, B64(Pkcs8(Ed25519Oid, Seed(seed)))));
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Pkcs8, B64(Pkcs8(MlKem768Oid, Seed(seed), version: 2))));
        // Inner CHOICE: not DER, trailing bytes after it, a SEQUENCE with a third element.
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Pkcs8, B64(Pkcs8(MlKem768Oid, [0x80, 0x05, 1]))));
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Pkcs8, B64(Pkcs8(MlKem768Oid, [.. Seed(seed), 0x05, 0x00]))));
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteOctetString(seed);
            w.WriteOctetString(MlKem768("a").Expanded);
            w.WriteNull();
        }

        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Pkcs8, B64(Pkcs8(MlKem768Oid, w.Encode()))));
        // A seed of the wrong length inside a well-formed PKCS#8.
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Pkcs8, B64(Pkcs8(MlKem768Oid, Seed(seed[..63])))));
    }

    [Fact]
    public void An_ML_KEM_raw_key_is_a_64_byte_seed_or_the_expanded_key_and_an_AKP_JWK_must_carry_its_own_public_key()
    {
        var (seed, expanded, pub) = MlKem768("raw");
        using (var fromExpanded = KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Raw, B64(expanded)))
        {
            Assert.Equal(pub, fromExpanded.PublicKey!.Raw.ToArray());
            Assert.Equal(PrivateForm.Expanded, fromExpanded.Form);
        }

        using (var fromJwk = KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Jwk,
            $"{{\"kty\":\"AKP\",\"alg\":\"ML-KEM-768\",\"priv\":\"{B64u(seed)}\",\"pub\":\"{B64u(pub)}\"}}"))
        {
            Assert.Equal(pub, fromJwk.PublicKey!.Raw.ToArray());
            Assert.Equal(PrivateForm.Seed, fromJwk.Form);
        }

        // The public part is optional, but when present it must be the key's own.
        using (var withoutPub = KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"ML-KEM-768\",\"priv\":\"{B64u(seed)}\"}}"))
        {
            Assert.Equal(pub, withoutPub.PublicKey!.Raw.ToArray());
        }

        var otherPub = MlKem768("other").Public;
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"ML-KEM-768\",\"priv\":\"{B64u(seed)}\",\"pub\":\"{B64u(otherPub)}\"}}"));
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"ML-KEM-512\",\"priv\":\"{B64u(seed)}\"}}"));
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Jwk, $"{{\"kty\":\"OKP\",\"alg\":\"ML-KEM-768\",\"priv\":\"{B64u(seed)}\"}}"));
    }

    [Fact]
    public void An_Ed25519_key_imports_from_PKCS8_raw_or_OKP_JWK_and_a_mismatched_or_foreign_one_is_refused()
    {
        var seed = new byte[32];
        new DeterministicRandom("ed").Fill(seed);
        var inner = new AsnWriter(AsnEncodingRules.DER);
        inner.WriteOctetString(seed);
        using var fromRaw = KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Raw, B64(seed));
        var pub = fromRaw.PublicKey!.Raw.ToArray();
        using (var fromPkcs8 = KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Pkcs8, B64(Pkcs8(Ed25519Oid, inner.Encode()))))
        {
            Assert.Equal(pub, fromPkcs8.PublicKey!.Raw.ToArray());
        }

        using (var fromJwk = KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Jwk, $"{{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"{B64u(seed)}\",\"x\":\"{B64u(pub)}\"}}"))
        {
            Assert.Equal(pub, fromJwk.PublicKey!.Raw.ToArray());
        }

        var wrongX = (byte[])pub.Clone();
        wrongX[0] ^= 1;
        InvalidKey(() => KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Jwk, $"{{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"{B64u(seed)}\",\"x\":\"{B64u(wrongX)}\"}}"));
        InvalidKey(() => KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Jwk, $"{{\"kty\":\"OKP\",\"crv\":\"X25519\",\"d\":\"{B64u(seed)}\",\"x\":\"{B64u(pub)}\"}}"));
        InvalidKey(() => KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Pkcs8, B64(Pkcs8(MlKem768Oid, inner.Encode()))));
        InvalidKey(() => KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Pkcs8, B64(Pkcs8(Ed25519Oid, seed))));
        InvalidKey(() => KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Pkcs8, B64(Pkcs8(Ed25519Oid, [.. inner.Encode(), 0x05, 0x00]))));
        InvalidKey(() => KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Raw, B64(seed[..31])));
    }

    [Fact]
    public void An_RSA_key_imports_from_PKCS1_or_JWK_at_its_exact_size_and_a_public_key_needs_a_sane_exponent()
    {
        using var rsa = RSA.Create(2048);
        var p = rsa.ExportParameters(true);
        var expectedPublic = rsa.ExportRSAPublicKey();
        using (var fromPkcs1 = KeyImporter.Import("RSA-2048", KeyType.Signing, ImportFormat.Raw, B64(rsa.ExportRSAPrivateKey())))
        {
            Assert.Equal(expectedPublic, fromPkcs1.PublicKey!.Raw.ToArray());
        }

        using (var fromPem = KeyImporter.Import("RSA-2048", KeyType.Signing, ImportFormat.Raw, rsa.ExportRSAPrivateKeyPem()))
        {
            Assert.Equal(expectedPublic, fromPem.PublicKey!.Raw.ToArray());
        }

        var jwk = $"{{\"kty\":\"RSA\",\"n\":\"{B64u(p.Modulus)}\",\"e\":\"{B64u(p.Exponent)}\",\"d\":\"{B64u(p.D)}\",\"p\":\"{B64u(p.P)}\",\"q\":\"{B64u(p.Q)}\",\"dp\":\"{B64u(p.DP)}\",\"dq\":\"{B64u(p.DQ)}\",\"qi\":\"{B64u(p.InverseQ)}\"}}";
        using (var fromJwk = KeyImporter.Import("RSA-2048", KeyType.Encryption, ImportFormat.Jwk, jwk))
        {
            Assert.Equal(expectedPublic, fromJwk.PublicKey!.Raw.ToArray());
        }

        InvalidKey(() => KeyImporter.Import("RSA-2048", KeyType.Signing, ImportFormat.Jwk, jwk.Replace("\"kty\":\"RSA\"", "\"kty\":\"EC\"", StringComparison.Ordinal)));
        InvalidKey(() => KeyImporter.Import("RSA-2048", KeyType.Signing, ImportFormat.Jwk, jwk.Replace($"\"qi\":\"{B64u(p.InverseQ)}\"", $"\"qi\":\"{B64u(p.InverseQ![..^1])}\"", StringComparison.Ordinal)));
        InvalidKey(() => KeyImporter.Import("RSA-2048", KeyType.Signing, ImportFormat.Raw, B64([.. rsa.ExportRSAPrivateKey(), 0x05, 0x00])));
        InvalidKey(() => KeyImporter.Import("RSA-2048", KeyType.Signing, ImportFormat.Raw, B64([0x30, 0x03, 0x02, 0x01, 0x00])));
        InvalidKey(() => KeyImporter.Import("RSA-2048", KeyType.Signing, ImportFormat.Pkcs8, B64([.. rsa.ExportPkcs8PrivateKey(), 0x05, 0x00])));
        InvalidKey(() => KeyImporter.Import("RSA-2048", KeyType.Signing, ImportFormat.Pkcs8, B64([0x30, 0x03, 0x02, 0x01, 0x00])));
        InvalidKey(() => KeyImporter.Import("RSA-2048", KeyType.Signing, ImportFormat.Raw, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"));
        using (var small = RSA.Create(1024))
        {
            InvalidKey(() => KeyImporter.Import("RSA-2048", KeyType.Signing, ImportFormat.Raw, B64(small.ExportRSAPrivateKey())));
        }

        // Public keys: exactly the size, no trailing bytes, an odd exponent of at least 3 and at most 4 bytes.
        var pub = PublicKey.FromRaw("RSA-2048", KeyType.Signing, expectedPublic);
        Assert.Equal(expectedPublic, pub.Raw.ToArray());
        InvalidKey(() => PublicKey.FromRaw("RSA-2048", KeyType.Signing, [.. expectedPublic, 0]));
        InvalidKey(() => PublicKey.FromRaw("RSA-3072", KeyType.Signing, expectedPublic));
        InvalidKey(() => PublicKey.FromRaw("RSA-2048", KeyType.Signing, [0x30, 0x00]));
        foreach (var exponent in new byte[][] { [1], [2], [0x01, 0x00, 0x00], [0x01, 0x00, 0x00, 0x00, 0x01] })
        {
            var raw = RsaPublic(p.Modulus!, exponent);
            InvalidKey(() => PublicKey.FromRaw("RSA-2048", KeyType.Signing, raw));
        }

        Assert.Equal(RsaPublic(p.Modulus!, [3]), PublicKey.FromRaw("RSA-2048", KeyType.Signing, RsaPublic(p.Modulus!, [3])).Raw.ToArray());
        Assert.NotNull(PublicKey.FromRaw("RSA-2048", KeyType.Signing, RsaPublic(p.Modulus!, [0x01, 0x00, 0x00, 0x01])));
    }

    private static byte[] RsaPublic(byte[] modulus, byte[] exponent)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteIntegerUnsigned(modulus);
            w.WriteIntegerUnsigned(exponent);
        }

        return w.Encode();
    }
}
