using System.Formats.Asn1;
using System.Security.Cryptography;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mislata.Crypto.Tests.Keys;

/// <summary>
/// BYOK import forms of the signature families (the model is <see cref="KeyImportFormsTests"/>): ML-DSA PKCS#8 seed /
/// expanded / both (which must agree), raw seed or expanded key, AKP JWK with its own public key; SLH-DSA PKCS#8, raw
/// and AKP JWK; ECDSA PKCS#8 / raw scalar / EC JWK with a point that must match, SEC1 public points. A foreign OID, a
/// trailing byte, another parameter set or a mismatched public part is always <see cref="CryptoError.InvalidKeyMaterial"/>.
/// </summary>
public sealed class SignatureKeyImportFormsTests
{
    private const string MlDsa44Oid = "2.16.840.1.101.3.4.3.17";
    private const string MlDsa65Oid = "2.16.840.1.101.3.4.3.18";
    private const string Slh128sOid = "2.16.840.1.101.3.4.3.20";
    private const string Slh128fOid = "2.16.840.1.101.3.4.3.21";

    private static string B64(byte[] b) => Convert.ToBase64String(b);

    private static string B64u(ReadOnlySpan<byte> b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static void InvalidKey(Action action) =>
        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(action).Error);

    private static KeyMaterial Import(string algorithm, ImportFormat format, string material) =>
        KeyImporter.Import(algorithm, KeyType.Signing, format, material);

    private static byte[] Pkcs8(string oid, byte[] inner)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(0);
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(oid);
            }

            writer.WriteOctetString(inner);
        }

        return writer.Encode();
    }

    private static byte[] SeedChoice(byte[] seed)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteOctetString(seed, new Asn1Tag(TagClass.ContextSpecific, 0));
        return w.Encode();
    }

    private static byte[] ExpandedChoice(byte[] expanded)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        w.WriteOctetString(expanded);
        return w.Encode();
    }

    private static byte[] BothChoice(byte[] seed, byte[] expanded)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteOctetString(seed);
            w.WriteOctetString(expanded);
        }

        return w.Encode();
    }

    private static (byte[] Seed, byte[] Expanded, byte[] Public) MlDsa44(string label)
    {
        var seed = new byte[32];
        new DeterministicRandom(label).Fill(seed);
        var priv = MLDsaPrivateKeyParameters.FromSeed(MLDsaParameters.ml_dsa_44, seed);
        return (seed, priv.GetEncoded(), priv.GetPublicKeyEncoded());
    }

    [Fact]
    public void An_ML_DSA_PKCS8_key_is_accepted_as_seed_expanded_or_both_and_always_gives_the_same_public_key()
    {
        var (seed, expanded, pub) = MlDsa44("mldsa/pkcs8");
        using (var fromSeed = Import("ML-DSA-44", ImportFormat.Pkcs8, B64(Pkcs8(MlDsa44Oid, SeedChoice(seed)))))
        {
            Assert.Equal(pub, fromSeed.PublicKey!.Raw.ToArray());
            Assert.Equal(PrivateForm.Seed, fromSeed.Form);
        }

        using (var fromExpanded = Import("ML-DSA-44", ImportFormat.Pkcs8, B64(Pkcs8(MlDsa44Oid, ExpandedChoice(expanded)))))
        {
            Assert.Equal(pub, fromExpanded.PublicKey!.Raw.ToArray());
            Assert.Equal(PrivateForm.Expanded, fromExpanded.Form);
        }

        using (var fromBoth = Import("ML-DSA-44", ImportFormat.Pkcs8, B64(Pkcs8(MlDsa44Oid, BothChoice(seed, expanded)))))
        {
            Assert.Equal(pub, fromBoth.PublicKey!.Raw.ToArray());
            Assert.Equal(PrivateForm.Seed, fromBoth.Form);
        }
    }

    [Fact]
    public void An_ML_DSA_PKCS8_key_with_disagreeing_parts_a_foreign_OID_trailing_bytes_or_bad_DER_is_refused()
    {
        var (seed, _, _) = MlDsa44("mldsa/a");
        var (_, otherExpanded, _) = MlDsa44("mldsa/b");
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Pkcs8, B64(Pkcs8(MlDsa44Oid, BothChoice(seed, otherExpanded)))));
        // ML-DSA-65's OID on an ML-DSA-44 import, and the other way round.
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Pkcs8, B64(Pkcs8(MlDsa65Oid, SeedChoice(seed)))));
        InvalidKey(() => Import("ML-DSA-65", ImportFormat.Pkcs8, B64(Pkcs8(MlDsa44Oid, SeedChoice(seed)))));
        // A byte after the PrivateKeyInfo SEQUENCE; a truncated SEQUENCE; a seed of 31 bytes.
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Pkcs8, B64([.. Pkcs8(MlDsa44Oid, SeedChoice(seed)), 0x00])));
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Pkcs8, B64(Pkcs8(MlDsa44Oid, SeedChoice(seed))[..^3])));
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Pkcs8, B64(Pkcs8(MlDsa44Oid, SeedChoice(seed[..31])))));
    }

    [Fact]
    public void An_ML_DSA_raw_key_is_a_32_byte_seed_or_the_expanded_key_and_nothing_else()
    {
        var (seed, expanded, pub) = MlDsa44("mldsa/raw");
        using (var fromSeed = Import("ML-DSA-44", ImportFormat.Raw, B64(seed)))
        {
            Assert.Equal(pub, fromSeed.PublicKey!.Raw.ToArray());
            Assert.Equal(PrivateForm.Seed, fromSeed.Form);
        }

        using (var fromExpanded = Import("ML-DSA-44", ImportFormat.Raw, B64(expanded)))
        {
            Assert.Equal(pub, fromExpanded.PublicKey!.Raw.ToArray());
            Assert.Equal(PrivateForm.Expanded, fromExpanded.Form);
            // The expanded form survives storage as the expanded form and still signs.
            using var restored = KeyMaterial.FromStorage(fromExpanded.ExportForStorage());
            var dsa = AlgorithmRegistry.Default.GetSigner("ML-DSA-44");
            Assert.True(dsa.Verify(restored.PublicKey!, "m"u8, [], dsa.Sign(restored, "m"u8, [], new DeterministicRandom("s"))));
        }

        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Raw, B64(seed[..31])));
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Raw, B64([.. seed, 0])));
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Raw, B64(expanded[..^1])));
        InvalidKey(() => PublicKey.FromRaw("ML-DSA-44", KeyType.Signing, pub[..^1]));
        InvalidKey(() => PublicKey.FromRaw("ML-DSA-65", KeyType.Signing, pub));
        Assert.Equal(pub, PublicKey.FromRaw("ML-DSA-44", KeyType.Signing, pub).Raw.ToArray());
    }

    [Fact]
    public void An_ML_DSA_AKP_JWK_needs_its_own_kty_alg_and_public_key_when_one_is_given()
    {
        var (seed, _, pub) = MlDsa44("mldsa/jwk");
        var otherPub = MlDsa44("mldsa/other").Public;
        using (var withPub = Import("ML-DSA-44", ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"ML-DSA-44\",\"priv\":\"{B64u(seed)}\",\"pub\":\"{B64u(pub)}\"}}"))
        {
            Assert.Equal(pub, withPub.PublicKey!.Raw.ToArray());
        }

        using (var withoutPub = Import("ML-DSA-44", ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"ML-DSA-44\",\"priv\":\"{B64u(seed)}\"}}"))
        {
            Assert.Equal(pub, withoutPub.PublicKey!.Raw.ToArray());
        }

        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"ML-DSA-44\",\"priv\":\"{B64u(seed)}\",\"pub\":\"{B64u(otherPub)}\"}}"));
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Jwk, $"{{\"kty\":\"OKP\",\"alg\":\"ML-DSA-44\",\"priv\":\"{B64u(seed)}\"}}"));
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"ML-DSA-65\",\"priv\":\"{B64u(seed)}\"}}"));
        // Strict base64url members: padding, characters outside the alphabet, a member that is not a string.
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"ML-DSA-44\",\"priv\":\"{B64u(seed)}=\"}}"));
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"ML-DSA-44\",\"priv\":\"{B64u(seed)[..^1]}!\"}}"));
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Jwk, "{\"kty\":\"AKP\",\"alg\":\"ML-DSA-44\",\"priv\":42}"));
        InvalidKey(() => Import("ML-DSA-44", ImportFormat.Jwk, $"[\"{B64u(seed)}\"]"));
    }

    private static (byte[] Private, byte[] Public) Slh128f(string label)
    {
        using var key = AlgorithmRegistry.Default.Generate("SLH-DSA-SHA2-128f", KeyType.Signing, new DeterministicRandom(label));
        return (key.ExportForStorage()[(4 + "SLH-DSA-SHA2-128f".Length)..], key.PublicKey!.Raw.ToArray());
    }

    [Fact]
    public void An_SLH_DSA_key_imports_from_PKCS8_raw_or_AKP_JWK_of_its_own_parameter_set_only()
    {
        var (sk, pub) = Slh128f("slh/import");
        Assert.Equal(64, sk.Length);
        using (var fromRaw = Import("SLH-DSA-SHA2-128f", ImportFormat.Raw, B64(sk)))
        {
            Assert.Equal(pub, fromRaw.PublicKey!.Raw.ToArray());
        }

        using (var fromPkcs8 = Import("SLH-DSA-SHA2-128f", ImportFormat.Pkcs8, B64(Pkcs8(Slh128fOid, sk))))
        {
            Assert.Equal(pub, fromPkcs8.PublicKey!.Raw.ToArray());
        }

        using (var fromJwk = Import("SLH-DSA-SHA2-128f", ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"SLH-DSA-SHA2-128f\",\"priv\":\"{B64u(sk)}\",\"pub\":\"{B64u(pub)}\"}}"))
        {
            Assert.Equal(pub, fromJwk.PublicKey!.Raw.ToArray());
        }

        using (var withoutPub = Import("SLH-DSA-SHA2-128f", ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"SLH-DSA-SHA2-128f\",\"priv\":\"{B64u(sk)}\"}}"))
        {
            Assert.Equal(pub, withoutPub.PublicKey!.Raw.ToArray());
        }

        var otherPub = Slh128f("slh/other").Public;
        InvalidKey(() => Import("SLH-DSA-SHA2-128f", ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"SLH-DSA-SHA2-128f\",\"priv\":\"{B64u(sk)}\",\"pub\":\"{B64u(otherPub)}\"}}"));
        InvalidKey(() => Import("SLH-DSA-SHA2-128f", ImportFormat.Jwk, $"{{\"kty\":\"OKP\",\"alg\":\"SLH-DSA-SHA2-128f\",\"priv\":\"{B64u(sk)}\"}}"));
        InvalidKey(() => Import("SLH-DSA-SHA2-128f", ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"SLH-DSA-SHA2-128s\",\"priv\":\"{B64u(sk)}\"}}"));
        // The 128s OID on a 128f import (and a foreign OID); a byte too many or too few.
        InvalidKey(() => Import("SLH-DSA-SHA2-128f", ImportFormat.Pkcs8, B64(Pkcs8(Slh128sOid, sk))));
        InvalidKey(() => Import("SLH-DSA-SHA2-128f", ImportFormat.Pkcs8, B64(Pkcs8(MlDsa44Oid, sk))));
        InvalidKey(() => Import("SLH-DSA-SHA2-128f", ImportFormat.Pkcs8, B64([.. Pkcs8(Slh128fOid, sk), 0x00])));
        InvalidKey(() => Import("SLH-DSA-SHA2-128f", ImportFormat.Raw, B64(sk[..63])));
        InvalidKey(() => Import("SLH-DSA-SHA2-128f", ImportFormat.Raw, B64([.. sk, 0])));
        InvalidKey(() => PublicKey.FromRaw("SLH-DSA-SHA2-128f", KeyType.Signing, pub[..31]));
        InvalidKey(() => PublicKey.FromRaw("SLH-DSA-SHA2-128f", KeyType.Signing, [.. pub, 0]));
        Assert.Equal(pub, PublicKey.FromRaw("SLH-DSA-SHA2-128f", KeyType.Signing, pub).Raw.ToArray());
    }

    [Fact]
    public void An_ECDSA_key_imports_from_PKCS8_only_without_trailing_bytes_and_from_a_JWK_whose_x_and_y_both_match()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var p = ec.ExportParameters(true);
        var expected = (byte[])[0x04, .. p.Q.X!, .. p.Q.Y!];
        using (var fromPkcs8 = Import("ECDSA-P256", ImportFormat.Pkcs8, B64(ec.ExportPkcs8PrivateKey())))
        {
            Assert.Equal(expected, fromPkcs8.PublicKey!.Raw.ToArray());
        }

        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Pkcs8, B64([.. ec.ExportPkcs8PrivateKey(), 0x05, 0x00])));
        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Pkcs8, B64([0x30, 0x03, 0x02, 0x01, 0x00])));

        string Jwk(string kty, string crv, byte[] x, byte[] y) =>
            $"{{\"kty\":\"{kty}\",\"crv\":\"{crv}\",\"d\":\"{B64u(p.D)}\",\"x\":\"{B64u(x)}\",\"y\":\"{B64u(y)}\"}}";
        using (var fromJwk = Import("ECDSA-P256", ImportFormat.Jwk, Jwk("EC", "P-256", p.Q.X!, p.Q.Y!)))
        {
            Assert.Equal(expected, fromJwk.PublicKey!.Raw.ToArray());
        }

        var badX = (byte[])p.Q.X!.Clone();
        badX[^1] ^= 1;
        var badY = (byte[])p.Q.Y!.Clone();
        badY[^1] ^= 1;
        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Jwk, Jwk("EC", "P-256", badX, p.Q.Y!)));
        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Jwk, Jwk("EC", "P-256", p.Q.X!, badY)));
        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Jwk, Jwk("RSA", "P-256", p.Q.X!, p.Q.Y!)));
        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Jwk, Jwk("EC", "P-384", p.Q.X!, p.Q.Y!)));
    }

    [Fact]
    public void An_ECDSA_raw_scalar_must_lie_in_one_to_n_minus_one_and_fit_the_field()
    {
        var n = Convert.FromHexString("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
        var nMinusOne = (byte[])n.Clone();
        nMinusOne[^1]--;
        using (var top = Import("ECDSA-P256", ImportFormat.Raw, B64(nMinusOne)))
        {
            // (n − 1)·G = −G: the generator's x.
            Assert.Equal(Convert.FromHexString("6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"), top.PublicKey!.Raw.Slice(1, 32).ToArray());
        }

        using (var one = Import("ECDSA-P256", ImportFormat.Raw, B64([.. new byte[31], 1])))
        {
            Assert.Equal(Convert.FromHexString("6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"), one.PublicKey!.Raw.Slice(1, 32).ToArray());
        }

        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Raw, B64(new byte[32])));
        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Raw, B64(n)));
        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Raw, B64(Enumerable.Repeat((byte)0xFF, 32).ToArray())));
        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Raw, B64(nMinusOne[1..])));
        InvalidKey(() => Import("ECDSA-P256", ImportFormat.Raw, B64([0, .. nMinusOne])));
    }

    [Fact]
    public void ECDSA_key_generation_resamples_a_zero_or_out_of_range_scalar_instead_of_failing()
    {
        var n = Convert.FromHexString("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
        var good = new byte[32];
        new DeterministicRandom("ecdsa/good").Fill(good);
        var ecdsa = (EcdsaAlgorithm)AlgorithmRegistry.Default.Get("ECDSA-P256");
        using var generated = ecdsa.Generate(KeyType.Signing, new FixedRandom([.. new byte[32], .. n, .. good]));
        using var expected = ecdsa.FromScalar(good);
        Assert.Equal(expected.PublicKey!.Raw.ToArray(), generated.PublicKey!.Raw.ToArray());
    }

    [Fact]
    public void An_ECDSA_public_key_is_an_uncompressed_SEC1_point_of_its_curve_only()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var q = ec.ExportParameters(false).Q;
        byte[] uncompressed = [0x04, .. q.X!, .. q.Y!];
        Assert.Equal(uncompressed, PublicKey.FromRaw("ECDSA-P256", KeyType.Signing, uncompressed).Raw.ToArray());
        // Compressed (0x02/0x03 ‖ x) and hybrid (0x06/0x07 ‖ x ‖ y) encodings of the same valid point are refused.
        var odd = (q.Y![^1] & 1) == 1;
        InvalidKey(() => PublicKey.FromRaw("ECDSA-P256", KeyType.Signing, [(byte)(odd ? 0x03 : 0x02), .. q.X!]));
        InvalidKey(() => PublicKey.FromRaw("ECDSA-P256", KeyType.Signing, [(byte)(odd ? 0x07 : 0x06), .. q.X!, .. q.Y!]));
        InvalidKey(() => PublicKey.FromRaw("ECDSA-P256", KeyType.Signing, uncompressed[..^1]));
        InvalidKey(() => PublicKey.FromRaw("ECDSA-P384", KeyType.Signing, uncompressed));
        InvalidKey(() => PublicKey.FromRaw("ECDSA-P256", KeyType.Signing, [0x00]));
    }
}
