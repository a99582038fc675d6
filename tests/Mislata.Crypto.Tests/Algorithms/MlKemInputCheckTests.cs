using Mislata.Crypto.Algorithms;

namespace Mislata.Crypto.Tests.Algorithms;

/// <summary>
/// FIPS 203 §7.3 input checks of an expanded decapsulation key are Mislata's own, not left to the library:
/// BouncyCastle 2.7 happens to check H(ek) too (so the Wycheproof vectors are refused either way), older versions did
/// not. The refusal must come from <see cref="MlKemAlgorithm.FromExpanded"/> with its own reason.
/// </summary>
public sealed class MlKemInputCheckTests
{
    private const string OwnCheck = "The ML-KEM decapsulation key fails its hash or modulus check.";

    [Theory]
    [InlineData(512, 2)]
    [InlineData(768, 3)]
    [InlineData(1024, 4)]
    public void A_decapsulation_key_whose_ek_hash_does_not_match_is_refused_by_Mislata_s_own_check(int level, int k)
    {
        var kem = (MlKemAlgorithm)AlgorithmRegistry.Default.Get("ML-KEM-" + level);
        using var key = kem.Generate(KeyType.Encryption, new DeterministicRandom("hash-check/" + level));
        var dk = kem.ExpandedPrivateKey(key);
        using (var accepted = kem.FromExpanded(dk))
        {
            Assert.Equal(key.PublicKey!.Raw.ToArray(), accepted.PublicKey!.Raw.ToArray());
        }

        var hash = (768 * k) + 32;
        dk[hash] ^= 0x01;
        var refused = Assert.Throws<CryptoException>(() => kem.FromExpanded(dk));
        Assert.Equal((CryptoError.InvalidKeyMaterial, OwnCheck), (refused.Error, refused.Message));
    }

    [Theory]
    [InlineData(512, 2)]
    [InlineData(768, 3)]
    [InlineData(1024, 4)]
    public void A_decapsulation_key_whose_embedded_ek_has_a_coefficient_of_q_or_more_is_refused_by_Mislata_s_own_check(int level, int k)
    {
        var kem = (MlKemAlgorithm)AlgorithmRegistry.Default.Get("ML-KEM-" + level);
        using var key = kem.Generate(KeyType.Encryption, new DeterministicRandom("modulus-check/" + level));
        var dk = kem.ExpandedPrivateKey(key);
        var ek = 384 * k;
        // The first coefficient of t̂ becomes 4095 (≥ q = 3329); H(ek) is recomputed so that only the modulus is wrong.
        dk[ek] = 0xFF;
        dk[ek + 1] |= 0x0F;
        var digest = new Org.BouncyCastle.Crypto.Digests.Sha3Digest(256);
        digest.BlockUpdate(dk.AsSpan(ek, kem.PublicKeyLength));
        digest.DoFinal(dk.AsSpan((768 * k) + 32, 32));
        var refused = Assert.Throws<CryptoException>(() => kem.FromExpanded(dk));
        Assert.Equal((CryptoError.InvalidKeyMaterial, OwnCheck), (refused.Error, refused.Message));
    }
}
