using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;
using Mislata.Crypto.Payloads;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mislata.Crypto.Tests.Keys;

/// <summary>Rules found by the part-A mutation run (issue 9) after its measurement; checked by hand-made mutants.</summary>
public sealed class KeyImporterPairwiseRuleTests
{
    [Fact]
    public void An_ml_dsa_expanded_key_with_a_wrong_t0_fails_the_pairwise_consistency_test()
    {
        var generator = new MLDsaKeyPairGenerator();
        generator.Init(new MLDsaKeyGenerationParameters(Mislata.Crypto.Primitives.BcRandom.Create(new DeterministicRandom("t0-key")), MLDsaParameters.ml_dsa_44));
        var sk = ((MLDsaPrivateKeyParameters)generator.GenerateKeyPair().Private).GetEncoded();
        using (var good = KeyImporter.Import(AlgorithmNames.MlDsa44, KeyType.Signing, ImportFormat.Raw, Convert.ToBase64String(sk)))
        {
            Assert.Equal(KeyType.Signing, good.KeyType);
        }

        // t0 (k·416 = 1664 bytes for ML-DSA-44) is the last part of the FIPS 204 private key; the public key (and tr)
        // are derived from s1 and s2, so only signing with the key shows that this t0 does not belong to it. The whole
        // of t0 is replaced: a change of a few coefficients can leave a signature valid.
        new DeterministicRandom("t0").Fill(sk.AsSpan(sk.Length - 1664));
        var ex = Assert.Throws<CryptoException>(() => KeyImporter.Import(AlgorithmNames.MlDsa44, KeyType.Signing, ImportFormat.Raw, Convert.ToBase64String(sk)));
        Assert.Equal(CryptoError.InvalidKeyMaterial, ex.Error);
    }

    [Fact]
    public void An_hmac_key_of_the_other_hash_is_refused_by_compute_and_verify()
    {
        using var key512 = AlgorithmRegistry.Default.Generate(AlgorithmNames.HmacSha512, KeyType.Hmac, new DeterministicRandom("hmac-512"));
        var hmac256 = AlgorithmRegistry.Default.GetMac(AlgorithmNames.HmacSha256);
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() => hmac256.Compute(key512, "m"u8)).Error);
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() => hmac256.Verify(key512, "m"u8, new byte[32])).Error);
    }

    [Fact]
    public void A_payload_for_another_ml_kem_level_is_an_algorithm_mismatch_not_a_decryption_failure()
    {
        using var key512 = AlgorithmRegistry.Default.Generate(AlgorithmNames.MlKem512, KeyType.Encryption, new DeterministicRandom("kem-512"));
        using var key768 = AlgorithmRegistry.Default.Generate(AlgorithmNames.MlKem768, KeyType.Encryption, new DeterministicRandom("kem-768"));
        var payload = EncryptedPayloadCodec.Encrypt(key512, Guid.NewGuid(), 1, "x"u8, "utf8", null, new DeterministicRandom("p"));
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Decrypt(key768, payload, null)).Error);
    }
}
