using Mislata.Crypto.Algorithms;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mislata.Crypto.Tests.Algorithms;

/// <summary>
/// FIPS 204 range check of an expanded private key is Mislata's own: every packed s1/s2 coefficient η − s lies in
/// [0, 2η]. BouncyCastle decodes an out-of-range key without complaint, so the refusal must come from
/// <see cref="MlDsaAlgorithm.FromExpanded"/> with its own reason — at the first and at the last coefficient.
/// </summary>
public sealed class MlDsaInputCheckTests
{
    private const string RangeCheck = "The ML-DSA private key has an s1 or s2 coefficient out of range.";

    private static (MlDsaAlgorithm Dsa, byte[] Sk) Expanded(int level)
    {
        var dsa = (MlDsaAlgorithm)AlgorithmRegistry.Default.Get("ML-DSA-" + level);
        var parameters = level switch { 44 => MLDsaParameters.ml_dsa_44, 65 => MLDsaParameters.ml_dsa_65, _ => MLDsaParameters.ml_dsa_87 };
        var seed = new byte[32];
        new DeterministicRandom("range/" + level).Fill(seed);
        return (dsa, MLDsaPrivateKeyParameters.FromSeed(parameters, seed).GetEncoded());
    }

    /// <summary>(η, k, l) of FIPS 204 table 1.</summary>
    private static (int Eta, int K, int L) Shape(int level) => level switch { 44 => (2, 4, 4), 65 => (4, 6, 5), _ => (2, 8, 7) };

    [Theory]
    [InlineData(44)]
    [InlineData(65)]
    [InlineData(87)]
    public void A_key_whose_first_or_last_secret_coefficient_exceeds_two_eta_is_refused_by_Mislata_s_own_check(int level)
    {
        var (dsa, sk) = Expanded(level);
        var (eta, k, l) = Shape(level);
        var bits = eta == 2 ? 3 : 4;
        using (var accepted = dsa.FromExpanded(sk))
        {
            Assert.Equal(PrivateForm.Expanded, accepted.Form);
        }

        // First coefficient of s1: all its bits set (7 for η = 2, 15 for η = 4).
        var first = (byte[])sk.Clone();
        first[128] |= (byte)((1 << bits) - 1);
        var refused = Assert.Throws<CryptoException>(() => dsa.FromExpanded(first));
        Assert.Equal((CryptoError.InvalidKeyMaterial, RangeCheck), (refused.Error, refused.Message));

        // Last coefficient of s2: the top bits of the last byte of the packed s1‖s2.
        var last = (byte[])sk.Clone();
        var end = 128 + ((k + l) * 32 * bits) - 1;
        last[end] |= (byte)(((1 << bits) - 1) << (8 - bits));
        refused = Assert.Throws<CryptoException>(() => dsa.FromExpanded(last));
        Assert.Equal((CryptoError.InvalidKeyMaterial, RangeCheck), (refused.Error, refused.Message));

        // Through the public import path as well.
        refused = Assert.Throws<CryptoException>(() => Mislata.Crypto.Keys.KeyImporter.Import("ML-DSA-" + level, KeyType.Signing, Mislata.Crypto.Keys.ImportFormat.Raw, Convert.ToBase64String(first)));
        Assert.Equal(CryptoError.InvalidKeyMaterial, refused.Error);
    }

    [Theory]
    [InlineData(44)]
    [InlineData(65)]
    public void A_coefficient_of_exactly_two_eta_is_in_range(int level)
    {
        var (dsa, sk) = Expanded(level);
        var (eta, _, _) = Shape(level);
        var bits = eta == 2 ? 3 : 4;
        Assert.True(dsa.SecretVectorsInRange(sk));
        var edge = (byte[])sk.Clone();
        edge[128] = (byte)((edge[128] & ~((1 << bits) - 1)) | (2 * eta));
        Assert.True(dsa.SecretVectorsInRange(edge));
        edge[128] = (byte)((edge[128] & ~((1 << bits) - 1)) | ((2 * eta) + 1));
        Assert.False(dsa.SecretVectorsInRange(edge));
    }
}
