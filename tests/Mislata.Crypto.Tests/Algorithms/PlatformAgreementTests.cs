using System.Security.Cryptography;
using Mislata.Crypto.Algorithms;

namespace Mislata.Crypto.Tests.Algorithms;

/// <summary>Skips with a reason when the OS crypto library lacks ML-KEM/ML-DSA (Debian 12's OpenSSL 3.0).</summary>
public sealed class PlatformPqcFactAttribute : FactAttribute
{
    public PlatformPqcFactAttribute(string family)
    {
        var supported = family == "ML-KEM" ? MLKem.IsSupported : MLDsa.IsSupported;
        if (!supported)
        {
            Skip = $"System.Security.Cryptography.{family.Replace("-", string.Empty, StringComparison.Ordinal)} is not supported by this OS crypto library (needs OpenSSL ≥ 3.5); only the BouncyCastle path runs here.";
        }
    }
}

/// <summary>Where .NET's PQC is available, the BouncyCastle wrappers and .NET must agree bit for bit.</summary>
public sealed class PlatformAgreementTests
{
    [PlatformPqcFact("ML-KEM")]
    public void MlKem_BouncyCastle_and_dotnet_agree()
    {
        var seed = new byte[64];
        new DeterministicRandom("agree-kem").Fill(seed);
        using var ours = ((MlKemAlgorithm)AlgorithmRegistry.Default.Get("ML-KEM-768")).FromSeed((byte[])seed.Clone());
        using var net = MLKem.ImportPrivateSeed(MLKemAlgorithm768, seed);
        Assert.Equal(net.ExportEncapsulationKey(), ours.PublicKey!.Raw.ToArray());
        net.Encapsulate(out var ct, out var ss);
        Assert.Equal(ss, AlgorithmRegistry.Default.GetKem("ML-KEM-768").Decapsulate(ours, ct));
    }

    [PlatformPqcFact("ML-DSA")]
    public void MlDsa_BouncyCastle_and_dotnet_agree()
    {
        var seed = new byte[32];
        new DeterministicRandom("agree-dsa").Fill(seed);
        using var ours = ((MlDsaAlgorithm)AlgorithmRegistry.Default.Get("ML-DSA-65")).FromSeed((byte[])seed.Clone());
        using var net = MLDsa.ImportMLDsaPrivateSeed(MLDsaAlgorithm.MLDsa65, seed);
        Assert.Equal(net.ExportMLDsaPublicKey(), ours.PublicKey!.Raw.ToArray());
        var sig = net.SignData("m"u8.ToArray(), "ctx"u8.ToArray());
        Assert.True(AlgorithmRegistry.Default.GetSigner("ML-DSA-65").Verify(ours.PublicKey, "m"u8, "ctx"u8, sig));
    }

    private static System.Security.Cryptography.MLKemAlgorithm MLKemAlgorithm768 => System.Security.Cryptography.MLKemAlgorithm.MLKem768;
}
