using System.Text;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;
using Mislata.Crypto.Payloads;

namespace Mislata.Crypto.Tests.Payloads;

/// <summary>
/// Pins every public format. Regenerate only deliberately: <c>MISLATA_REGENERATE_GOLDEN=1 dotnet test …</c>
/// rewrites tests/Mislata.Crypto.Tests/Golden/ (review the diff: a change there is a breaking format change).
/// </summary>
public sealed class GoldenFileTests
{
    private static readonly Guid KeyId = Guid.Parse("6b29fc40-ca47-4a1e-9c7e-7d6b1a0f6e11");
    private static readonly bool Regenerate = Environment.GetEnvironmentVariable("MISLATA_REGENERATE_GOLDEN") == "1";
    private static readonly string Dir = Path.Combine(SharedData.RepoRoot, "tests", "Mislata.Crypto.Tests", "Golden");

    private static KeyMaterial GoldenKey(string algorithm, KeyType type) =>
        AlgorithmRegistry.Default.Generate(algorithm, type, new DeterministicRandom($"golden/{algorithm}/{type}"));

    public static TheoryData<string, string> Schemes => new()
    {
        { PayloadSchemes.MlKem512, AlgorithmNames.MlKem512 },
        { PayloadSchemes.MlKem768, AlgorithmNames.MlKem768 },
        { PayloadSchemes.MlKem1024, AlgorithmNames.MlKem1024 },
        { PayloadSchemes.RsaOaep256, AlgorithmNames.Rsa2048 },
        { PayloadSchemes.A256Gcm, AlgorithmNames.Aes256Gcm },
    };

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Payload_is_pinned(string scheme, string algorithm)
    {
        using var key = GoldenKey(algorithm, AlgorithmRegistry.Default.Get(algorithm).Info.DefaultKeyType);
        var path = Path.Combine(Dir, $"payload.{scheme}.txt");
        var produced = EncryptedPayloadCodec.Encrypt(key, KeyId, 7, "golden plaintext ✓"u8, "utf8", "golden-context", new DeterministicRandom("golden/payload/" + scheme));
        if (Regenerate)
        {
            Directory.CreateDirectory(Dir);
            File.WriteAllText(path, produced + "\n");
        }

        Assert.True(File.Exists(path), "missing golden file " + path);
        var golden = File.ReadAllText(path).Trim();
        var decrypted = EncryptedPayloadCodec.Decrypt(key, golden, "golden-context");
        Assert.Equal("golden plaintext ✓", Encoding.UTF8.GetString(decrypted.Plaintext));
        if (scheme != PayloadSchemes.RsaOaep256)
        {
            // RSA-OAEP padding is randomised inside OpenSSL: that golden file is pinned by decryption only.
            Assert.Equal(golden, produced);
        }
    }

    public static TheoryData<string, KeyType> Asymmetric => new()
    {
        { "ML-KEM-512", KeyType.Encryption }, { "ML-KEM-768", KeyType.Encryption }, { "ML-KEM-1024", KeyType.Encryption },
        { "RSA-2048", KeyType.Encryption }, { "RSA-2048", KeyType.Signing }, { "RSA-3072", KeyType.Signing }, { "RSA-4096", KeyType.Signing },
        { "ML-DSA-44", KeyType.Signing }, { "ML-DSA-65", KeyType.Signing }, { "ML-DSA-87", KeyType.Signing },
        { "SLH-DSA-SHA2-128s", KeyType.Signing }, { "SLH-DSA-SHA2-128f", KeyType.Signing },
        { "ECDSA-P256", KeyType.Signing }, { "ECDSA-P384", KeyType.Signing }, { "Ed25519", KeyType.Signing },
    };

    [Theory]
    [MemberData(nameof(Asymmetric))]
    public void Public_key_exports_are_pinned(string algorithm, KeyType type)
    {
        using var key = GoldenKey(algorithm, type);
        foreach (var format in new[] { PublicKeyFormat.Raw, PublicKeyFormat.Pem, PublicKeyFormat.Jwk })
        {
            var path = Path.Combine(Dir, $"public.{algorithm}.{type.ToString().ToLowerInvariant()}.{format.ToString().ToLowerInvariant()}");
            var produced = PublicKeyExporter.Export(key.PublicKey!, format, KeyId, 1);
            if (Regenerate)
            {
                Directory.CreateDirectory(Dir);
                File.WriteAllText(path, produced);
            }

            Assert.True(File.Exists(path), "missing golden file " + path);
            Assert.Equal(File.ReadAllText(path), produced);
        }
    }
}
