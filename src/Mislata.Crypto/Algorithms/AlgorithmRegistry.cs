using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace Mislata.Crypto.Algorithms;

/// <summary>
/// The algorithms the platform offers, by their API names, with their capabilities and implementations.
/// PQC, Ed25519 and RSA key generation run on BouncyCastle (Debian 12's OpenSSL 3.0 has no ML-KEM/ML-DSA/SLH-DSA);
/// AES-GCM, RSA operations, ECDSA, HMAC and HKDF run on the .NET base library.
/// </summary>
public sealed class AlgorithmRegistry
{
    private readonly FrozenDictionary<string, IKeyAlgorithm> _algorithms;

    private AlgorithmRegistry(IEnumerable<IKeyAlgorithm> algorithms) =>
        _algorithms = algorithms.ToFrozenDictionary(a => a.Info.Name, StringComparer.Ordinal);

    /// <summary>The immutable registry of every algorithm in API.md.</summary>
    public static AlgorithmRegistry Default { get; } = new(
    [
        new MlKemAlgorithm(AlgorithmNames.MlKem512),
        new MlKemAlgorithm(AlgorithmNames.MlKem768),
        new MlKemAlgorithm(AlgorithmNames.MlKem1024),
        new AesGcmAlgorithm(),
        new RsaAlgorithm(AlgorithmNames.Rsa2048, 2048),
        new RsaAlgorithm(AlgorithmNames.Rsa3072, 3072),
        new RsaAlgorithm(AlgorithmNames.Rsa4096, 4096),
        new MlDsaAlgorithm(AlgorithmNames.MlDsa44),
        new MlDsaAlgorithm(AlgorithmNames.MlDsa65),
        new MlDsaAlgorithm(AlgorithmNames.MlDsa87),
        new SlhDsaAlgorithm(AlgorithmNames.SlhDsaSha2_128s),
        new SlhDsaAlgorithm(AlgorithmNames.SlhDsaSha2_128f),
        new EcdsaAlgorithm(AlgorithmNames.EcdsaP256),
        new EcdsaAlgorithm(AlgorithmNames.EcdsaP384),
        new Ed25519Algorithm(),
        new HmacAlgorithm(AlgorithmNames.HmacSha256),
        new HmacAlgorithm(AlgorithmNames.HmacSha512),
    ]);

    public IEnumerable<AlgorithmInfo> All => _algorithms.Values.Select(a => a.Info);

    public bool TryGet(string name, [NotNullWhen(true)] out AlgorithmInfo? info)
    {
        info = _algorithms.TryGetValue(name, out var a) ? a.Info : null;
        return info is not null;
    }

    /// <summary>The algorithm by its exact API name; unknown → <see cref="CryptoError.AlgorithmMismatch"/>.</summary>
    public IKeyAlgorithm Get(string name) =>
        // Stryker disable once String : no algorithm is named "" or "Stryker was here!": both miss the dictionary and give the same AlgorithmMismatch
        _algorithms.TryGetValue(name ?? string.Empty, out var a)
            ? a
            : throw new CryptoException(CryptoError.AlgorithmMismatch, "Unknown algorithm.");

    public ISignatureAlgorithm GetSigner(string name) =>
        Get(name) as ISignatureAlgorithm ?? throw CryptoException.Mismatch(name, "sign");

    public IKemAlgorithm GetKem(string name) =>
        Get(name) as IKemAlgorithm ?? throw CryptoException.Mismatch(name, "encapsulate");

    public IKeyTransportAlgorithm GetKeyTransport(string name) =>
        Get(name) as IKeyTransportAlgorithm ?? throw CryptoException.Mismatch(name, "wrap a content key");

    public IMacAlgorithm GetMac(string name) =>
        Get(name) as IMacAlgorithm ?? throw CryptoException.Mismatch(name, "compute a MAC");

    /// <summary>Generates a new key version: <paramref name="random"/> is the entropy service.</summary>
    public KeyMaterial Generate(string algorithm, KeyType type, Entropy.IRandomSource random)
    {
        var a = Get(algorithm);
        if (!a.Info.Supports(type))
        {
            throw CryptoException.Mismatch(algorithm, $"be a {type} key");
        }

        return a.Generate(type, random);
    }
}
