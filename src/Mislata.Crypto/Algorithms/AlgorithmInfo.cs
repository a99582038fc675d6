namespace Mislata.Crypto.Algorithms;

/// <summary>What a key is for (API.md key object <c>type</c>).</summary>
public enum KeyType
{
    Encryption,
    Signing,
    Hmac,
    Symmetric,
}

/// <summary>Operations a key can do, given its algorithm and <see cref="KeyType"/>.</summary>
[Flags]
public enum AlgorithmCapabilities
{
    None = 0,

    /// <summary><c>/encrypt</c>, <c>/decrypt</c>, <c>/rewrap</c> (KEM + AES-GCM, RSA-OAEP + AES-GCM, or AES-GCM).</summary>
    Encrypt = 1,

    /// <summary><c>/sign</c> and <c>/verify</c>.</summary>
    Sign = 2,

    /// <summary><c>/hmac</c> and <c>/hmac/verify</c>.</summary>
    Hmac = 4,

    /// <summary><c>/datakey</c>: wrap a generated data key in an encryptedPayload.</summary>
    Wrap = 8,
}

public enum AlgorithmFamily
{
    MlKem,
    Aes,
    Rsa,
    MlDsa,
    SlhDsa,
    Ecdsa,
    Ed25519,
    Hmac,
}

/// <summary>The exact algorithm strings of API.md.</summary>
public static class AlgorithmNames
{
    public const string MlKem512 = "ML-KEM-512";
    public const string MlKem768 = "ML-KEM-768";
    public const string MlKem1024 = "ML-KEM-1024";
    public const string Aes256Gcm = "AES-256-GCM";
    public const string Rsa2048 = "RSA-2048";
    public const string Rsa3072 = "RSA-3072";
    public const string Rsa4096 = "RSA-4096";
    public const string MlDsa44 = "ML-DSA-44";
    public const string MlDsa65 = "ML-DSA-65";
    public const string MlDsa87 = "ML-DSA-87";
    public const string SlhDsaSha2_128s = "SLH-DSA-SHA2-128s";
    public const string SlhDsaSha2_128f = "SLH-DSA-SHA2-128f";
    public const string EcdsaP256 = "ECDSA-P256";
    public const string EcdsaP384 = "ECDSA-P384";
    public const string Ed25519 = "Ed25519";
    public const string HmacSha256 = "HMAC-SHA256";
    public const string HmacSha512 = "HMAC-SHA512";

    public const string DefaultEncryption = MlKem768;
    public const string DefaultSigning = MlDsa65;
}

/// <summary>Static facts about one algorithm: which key types it accepts and what each can do.</summary>
public sealed record AlgorithmInfo(
    string Name,
    AlgorithmFamily Family,
    IReadOnlyList<KeyType> KeyTypes,
    string? PayloadScheme,
    string? JwkAlg)
{
    public KeyType DefaultKeyType => KeyTypes[0];

    public bool IsAsymmetric => Family is not (AlgorithmFamily.Aes or AlgorithmFamily.Hmac);

    public bool Supports(KeyType type) => KeyTypes.Contains(type);

    /// <summary>Capabilities of a key of this algorithm created with <paramref name="type"/> (None when the type is not allowed).</summary>
    public AlgorithmCapabilities CapabilitiesFor(KeyType type) => !Supports(type) ? AlgorithmCapabilities.None : type switch
    {
        KeyType.Encryption or KeyType.Symmetric => AlgorithmCapabilities.Encrypt | AlgorithmCapabilities.Wrap,
        KeyType.Signing => AlgorithmCapabilities.Sign,
        KeyType.Hmac => AlgorithmCapabilities.Hmac,
        _ => AlgorithmCapabilities.None,
    };

    /// <summary>JWK <c>use</c>: <c>sig</c> for signing keys, <c>enc</c> otherwise.</summary>
    public static string JwkUse(KeyType type) => type == KeyType.Signing ? "sig" : "enc";
}
