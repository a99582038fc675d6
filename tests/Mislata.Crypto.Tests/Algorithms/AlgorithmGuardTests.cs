using System.Formats.Asn1;
using System.Security.Cryptography;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;

namespace Mislata.Crypto.Tests.Algorithms;

/// <summary>
/// The guards every algorithm applies before touching key material: a key of another algorithm is an
/// <see cref="CryptoError.AlgorithmMismatch"/> (never a library exception, never a result), a key of the wrong type
/// cannot sign or wrap, a stored key in a form its algorithm does not use is invalid, a context is bounded, and
/// verification answers false — never throws — for a bad signature, length, context or key.
/// </summary>
public sealed class AlgorithmGuardTests
{
    private static readonly AlgorithmRegistry Registry = AlgorithmRegistry.Default;
    private static readonly byte[] Message = "guarded message"u8.ToArray();

    private static void Mismatch(Action action) =>
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(action).Error);

    private static void InvalidKey(Action action) =>
        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(action).Error);

    private static KeyMaterial Gen(string algorithm, KeyType type = KeyType.Signing) =>
        Registry.Generate(algorithm, type, new DeterministicRandom("guard/" + algorithm));

    private static KeyMaterial Rsa2048(KeyType type)
    {
        using var rsa = RSA.Create(2048);
        return KeyImporter.Import("RSA-2048", type, ImportFormat.Pkcs8, Convert.ToBase64String(rsa.ExportPkcs8PrivateKey()));
    }

    public static TheoryData<string, string> ForeignPairs => new()
    {
        { "ECDSA-P256", "Ed25519" },
        { "Ed25519", "ECDSA-P256" },
        { "ML-DSA-44", "Ed25519" },
        { "ML-DSA-65", "ML-DSA-44" },
        { "SLH-DSA-SHA2-128f", "Ed25519" },
        { "RSA-2048", "Ed25519" },
    };

    [Theory]
    [MemberData(nameof(ForeignPairs))]
    public void A_signer_refuses_a_key_or_public_key_of_another_algorithm_with_an_algorithm_mismatch(string algorithm, string foreign)
    {
        var signer = Registry.GetSigner(algorithm);
        using var other = Gen(foreign);
        Mismatch(() => signer.Sign(other, Message, [], new DeterministicRandom("r")));
        Mismatch(() => signer.Verify(other.PublicKey!, Message, [], new byte[64]));
        Assert.Throws<ArgumentNullException>(() => signer.Sign(null!, Message, [], new DeterministicRandom("r")));
        Assert.Throws<ArgumentNullException>(() => signer.Verify(null!, Message, [], new byte[64]));
    }

    [Fact]
    public void A_KEM_refuses_a_key_of_another_parameter_set_and_a_ciphertext_of_the_wrong_length()
    {
        var kem768 = Registry.GetKem("ML-KEM-768");
        using var key512 = Gen("ML-KEM-512", KeyType.Encryption);
        using var key768 = Gen("ML-KEM-768", KeyType.Encryption);
        Mismatch(() => kem768.Encapsulate(key512.PublicKey!, new DeterministicRandom("r")));
        Mismatch(() => kem768.Decapsulate(key512, new byte[1088]));
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => kem768.Decapsulate(key768, new byte[1087])).Error);
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => kem768.Decapsulate(key768, new byte[1089])).Error);
    }

    [Fact]
    public void An_ML_KEM_key_imported_in_its_expanded_form_is_stored_expanded_and_still_decapsulates()
    {
        var kem = (MlKemAlgorithm)Registry.Get("ML-KEM-512");
        using var seeded = Gen("ML-KEM-512", KeyType.Encryption);
        using var imported = KeyImporter.Import("ML-KEM-512", KeyType.Encryption, ImportFormat.Raw, Convert.ToBase64String(kem.ExpandedPrivateKey(seeded)));
        Assert.Equal(PrivateForm.Expanded, imported.Form);
        using var restored = KeyMaterial.FromStorage(imported.ExportForStorage());
        var (ct, ss) = kem.Encapsulate(seeded.PublicKey!, new DeterministicRandom("enc"));
        Assert.Equal(ss, kem.Decapsulate(restored, ct));
    }

    public static TheoryData<string, KeyType, byte> WrongForms => new()
    {
        { "ECDSA-P256", KeyType.Signing, 1 },
        { "Ed25519", KeyType.Signing, 2 },
        { "SLH-DSA-SHA2-128f", KeyType.Signing, 1 },
        { "ML-DSA-44", KeyType.Signing, 3 },
        { "ML-KEM-512", KeyType.Encryption, 3 },
    };

    [Theory]
    [MemberData(nameof(WrongForms))]
    public void A_stored_key_in_a_form_its_algorithm_does_not_use_is_invalid_even_when_the_body_is_well_formed(string algorithm, KeyType type, byte form)
    {
        using var key = Gen(algorithm, type);
        var stored = key.ExportForStorage();
        using (KeyMaterial.FromStorage(stored))
        {
        }

        stored[2] = form;
        InvalidKey(() => KeyMaterial.FromStorage(stored));
    }

    [Fact]
    public void A_stored_RSA_key_must_be_in_PKCS8_form()
    {
        using var key = Rsa2048(KeyType.Signing);
        var stored = key.ExportForStorage();
        stored[2] = (byte)PrivateForm.Seed;
        InvalidKey(() => KeyMaterial.FromStorage(stored));
    }

    [Fact]
    public void RSA_signs_only_with_a_signing_key_without_context_and_wraps_only_with_an_encryption_key()
    {
        var rsa = (RsaAlgorithm)Registry.Get("RSA-2048");
        using var signing = Rsa2048(KeyType.Signing);
        using var encryption = Rsa2048(KeyType.Encryption);
        var signature = rsa.Sign(signing, Message, [], new DeterministicRandom("r"));
        Assert.True(rsa.Verify(signing.PublicKey!, Message, [], signature));
        Assert.False(rsa.Verify(signing.PublicKey!, Message, "c"u8, signature));
        Assert.False(rsa.Verify(signing.PublicKey!, Message, [], signature[..^1]));
        // The same public key typed as an encryption key does not verify signatures.
        Assert.False(rsa.Verify(PublicKey.FromRaw("RSA-2048", KeyType.Encryption, signing.PublicKey!.Raw), Message, [], signature));
        Mismatch(() => rsa.Sign(encryption, Message, [], new DeterministicRandom("r")));
        Assert.Equal(CryptoError.InvalidArgument, Assert.Throws<CryptoException>(() => rsa.Sign(signing, Message, "c"u8, new DeterministicRandom("r"))).Error);

        var wrapped = rsa.WrapKey(encryption.PublicKey!, new byte[32]);
        Assert.Equal(new byte[32], rsa.UnwrapKey(encryption, wrapped));
        Mismatch(() => rsa.WrapKey(signing.PublicKey!, new byte[32]));
        Mismatch(() => rsa.UnwrapKey(signing, wrapped));
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => rsa.UnwrapKey(encryption, wrapped[..^1])).Error);

        // Another algorithm's (encryption) key.
        using var kem = Gen("ML-KEM-512", KeyType.Encryption);
        Mismatch(() => rsa.WrapKey(kem.PublicKey!, new byte[32]));
        Mismatch(() => rsa.UnwrapKey(kem, new byte[256]));
    }

    [Fact]
    public void RSA_verification_against_a_malformed_stored_public_key_answers_false()
    {
        var rsa = Registry.GetSigner("RSA-2048");
        var garbage = new PublicKey("RSA-2048", KeyType.Signing, [0x30, 0x03, 0x02, 0x01, 0x05]);
        Assert.False(rsa.Verify(garbage, Message, [], new byte[256]));
    }

    [Fact]
    public void An_RSA_public_exponent_of_five_or_more_that_is_odd_is_accepted()
    {
        using var rsa = RSA.Create(2048);
        var modulus = rsa.ExportParameters(false).Modulus!;
        foreach (var exponent in new byte[][] { [5], [17], [0x01, 0x00, 0x01] })
        {
            var w = new AsnWriter(AsnEncodingRules.DER);
            using (w.PushSequence())
            {
                w.WriteIntegerUnsigned(modulus);
                w.WriteIntegerUnsigned(exponent);
            }

            var raw = w.Encode();
            Assert.Equal(raw, PublicKey.FromRaw("RSA-2048", KeyType.Signing, raw).Raw.ToArray());
        }
    }

    [Fact]
    public void Ed25519_refuses_a_context_a_signature_of_the_wrong_length_and_an_invalid_public_key()
    {
        var ed = Registry.GetSigner("Ed25519");
        using var key = Gen("Ed25519");
        var signature = ed.Sign(key, Message, [], new DeterministicRandom("r"));
        Assert.True(ed.Verify(key.PublicKey!, Message, [], signature));
        Assert.False(ed.Verify(key.PublicKey!, Message, "c"u8, signature));
        Assert.False(ed.Verify(key.PublicKey!, Message, [], [.. signature, 0]));
        Assert.False(ed.Verify(new PublicKey("Ed25519", KeyType.Signing, key.PublicKey!.Raw[..31].ToArray()), Message, [], signature));
        Assert.Equal(CryptoError.InvalidArgument, Assert.Throws<CryptoException>(() => ed.Sign(key, Message, "c"u8, new DeterministicRandom("r"))).Error);

        InvalidKey(() => PublicKey.FromRaw("Ed25519", KeyType.Signing, key.PublicKey.Raw[..31]));
        InvalidKey(() => PublicKey.FromRaw("Ed25519", KeyType.Signing, [.. key.PublicKey.Raw, 0]));
        // y = 2^255 − 1 is not a canonical field element: not a point encoding.
        InvalidKey(() => PublicKey.FromRaw("Ed25519", KeyType.Signing, [.. Enumerable.Repeat((byte)0xFF, 31), 0x7F]));
        var seed = key.ExportForStorage()[^32..];
        var x = Convert.ToBase64String(key.PublicKey.Raw).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var d = Convert.ToBase64String(seed).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        InvalidKey(() => KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Jwk, $"{{\"kty\":\"EC\",\"crv\":\"Ed25519\",\"d\":\"{d}\",\"x\":\"{x}\"}}"));
        using var ok = KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Jwk, $"{{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"{d}\",\"x\":\"{x}\"}}");
        Assert.Equal(key.PublicKey.Raw.ToArray(), ok.PublicKey!.Raw.ToArray());
    }

    [Theory]
    [InlineData("ML-DSA-44")]
    [InlineData("SLH-DSA-SHA2-128f")]
    public void A_PQC_signature_made_with_a_context_of_exactly_255_bytes_verifies_and_one_of_256_never_does(string algorithm)
    {
        var signer = Registry.GetSigner(algorithm);
        using var key = Gen(algorithm);
        var context = Enumerable.Range(0, 255).Select(i => (byte)i).ToArray();
        var signature = signer.Sign(key, Message, context, new DeterministicRandom("ctx"));
        Assert.True(signer.Verify(key.PublicKey!, Message, context, signature));
        Assert.False(signer.Verify(key.PublicKey!, Message, context[..254], signature));
        Assert.False(signer.Verify(key.PublicKey!, Message, [.. context, 0], signature));
        Assert.False(signer.Verify(key.PublicKey!, Message, context, signature[..^1]));
        Assert.False(signer.Verify(new PublicKey(algorithm, KeyType.Signing, key.PublicKey!.Raw[..^1].ToArray()), Message, context, signature));
    }

    [Theory]
    [InlineData("ML-DSA-44")]
    [InlineData("SLH-DSA-SHA2-128f")]
    public void PQC_signing_is_hedged_two_signatures_of_one_message_differ_and_both_verify(string algorithm)
    {
        var signer = Registry.GetSigner(algorithm);
        using var key = Gen(algorithm);
        var first = signer.Sign(key, Message, [], new DeterministicRandom("hedge/1"));
        var second = signer.Sign(key, Message, [], new DeterministicRandom("hedge/2"));
        Assert.NotEqual(first, second);
        Assert.True(signer.Verify(key.PublicKey!, Message, [], first));
        Assert.True(signer.Verify(key.PublicKey!, Message, [], second));
    }

    [Fact]
    public void ML_DSA_without_randomness_signs_deterministically()
    {
        var dsa = (MlDsaAlgorithm)Registry.Get("ML-DSA-44");
        using var key = Gen("ML-DSA-44");
        Assert.Equal(dsa.SignCore(key, Message, "c"u8, null), dsa.SignCore(key, Message, "c"u8, null));
    }

    [Fact]
    public void An_expanded_ML_DSA_key_with_two_out_of_range_coefficients_is_refused_by_the_range_check()
    {
        var dsa = (MlDsaAlgorithm)Registry.Get("ML-DSA-44");
        var seed = new byte[32];
        new DeterministicRandom("range/two").Fill(seed);
        var sk = Org.BouncyCastle.Crypto.Parameters.MLDsaPrivateKeyParameters.FromSeed(Org.BouncyCastle.Crypto.Parameters.MLDsaParameters.ml_dsa_44, seed).GetEncoded();
        Assert.True(dsa.SecretVectorsInRange(sk));
        // η = 2: 3 bits per coefficient; the first two coefficients of s1 both become 7 (> 2η = 4), the rest unchanged.
        sk[128] |= 0x3F;
        Assert.False(dsa.SecretVectorsInRange(sk));
        var e = Assert.Throws<CryptoException>(() => dsa.FromExpanded(sk));
        Assert.Equal("The ML-DSA private key has an s1 or s2 coefficient out of range.", e.Message);
    }
    [Fact]
    public void An_OAEP_ciphertext_one_byte_shorter_than_the_modulus_is_refused_even_when_its_value_decrypts()
    {
        // BouncyCastle's RSA engine (the labelled OAEP path) accepts any input below the modulus: a ciphertext whose
        // leading byte is 0, sent without it, must still be refused by the exact-length rule.
        var rsa = (RsaAlgorithm)Registry.Get("RSA-2048");
        using var key = Rsa2048(KeyType.Encryption);
        using var net = RSA.Create();
        net.ImportRSAPublicKey(key.PublicKey!.Raw, out _);
        var label = "label"u8.ToArray();
        var oaep = new Org.BouncyCastle.Crypto.Encodings.OaepEncoding(
            new Org.BouncyCastle.Crypto.Engines.RsaEngine(), new Org.BouncyCastle.Crypto.Digests.Sha256Digest(), new Org.BouncyCastle.Crypto.Digests.Sha256Digest(), label);
        oaep.Init(true, new Org.BouncyCastle.Crypto.Parameters.ParametersWithRandom(
            Org.BouncyCastle.Security.PublicKeyFactory.CreateKey(net.ExportSubjectPublicKeyInfo()), new Org.BouncyCastle.Security.SecureRandom()));
        var content = new byte[32];
        content[0] = 7;
        byte[] ciphertext;
        do
        {
            ciphertext = oaep.ProcessBlock(content, 0, content.Length);
        }
        while (ciphertext.Length != 256 || ciphertext[0] != 0);

        Assert.Equal(content, rsa.UnwrapKey(key, ciphertext, label));
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => rsa.UnwrapKey(key, ciphertext[1..], label)).Error);
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => rsa.UnwrapKey(key, ciphertext[1..])).Error);
    }

    [Fact]
    public void A_JWK_whose_required_member_is_missing_or_not_a_string_is_invalid_key_material_never_a_library_exception()
    {
        using var key = Gen("ML-DSA-44");
        var priv = Convert.ToBase64String(key.ExportForStorage()[^32..]).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        InvalidKey(() => KeyImporter.Import("ML-DSA-44", KeyType.Signing, ImportFormat.Jwk, "{\"kty\":\"AKP\",\"alg\":\"ML-DSA-44\"}"));
        InvalidKey(() => KeyImporter.Import("ML-DSA-44", KeyType.Signing, ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":44,\"priv\":\"{priv}\"}}"));
        InvalidKey(() => KeyImporter.Import("ML-DSA-44", KeyType.Signing, ImportFormat.Jwk, $"{{\"alg\":\"ML-DSA-44\",\"priv\":\"{priv}\"}}"));
        InvalidKey(() => KeyImporter.Import("ECDSA-P256", KeyType.Signing, ImportFormat.Jwk, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":null}"));
        using var ok = KeyImporter.Import("ML-DSA-44", KeyType.Signing, ImportFormat.Jwk, $"{{\"kty\":\"AKP\",\"alg\":\"ML-DSA-44\",\"priv\":\"{priv}\"}}");
        Assert.Equal(key.PublicKey!.Raw.ToArray(), ok.PublicKey!.Raw.ToArray());
    }
}
