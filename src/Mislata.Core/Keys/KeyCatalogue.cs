using System.Diagnostics.CodeAnalysis;
using Mislata.Crypto.Algorithms;

namespace Mislata.Core.Keys;

/// <summary>
/// The algorithms a key can be created with (API.md "Keys", exactly), the key type each allows, the defaults and the
/// operations a key of each algorithm and type may run. A thin, named view over <see cref="AlgorithmRegistry"/>.
/// </summary>
public static class KeyCatalogue
{
    /// <summary>Every algorithm string of API.md, in its order.</summary>
    public static readonly IReadOnlyList<string> Algorithms =
    [
        AlgorithmNames.MlKem512, AlgorithmNames.MlKem768, AlgorithmNames.MlKem1024, AlgorithmNames.Aes256Gcm,
        AlgorithmNames.Rsa2048, AlgorithmNames.Rsa3072, AlgorithmNames.Rsa4096, AlgorithmNames.MlDsa44,
        AlgorithmNames.MlDsa65, AlgorithmNames.MlDsa87, AlgorithmNames.SlhDsaSha2_128s, AlgorithmNames.SlhDsaSha2_128f,
        AlgorithmNames.EcdsaP256, AlgorithmNames.EcdsaP384, AlgorithmNames.Ed25519, AlgorithmNames.HmacSha256,
        AlgorithmNames.HmacSha512,
    ];

    /// <summary>The API name of a key type: <c>encryption</c>, <c>signing</c>, <c>hmac</c>, <c>symmetric</c>.</summary>
    public static string TypeName(KeyType type) => type switch
    {
        KeyType.Encryption => "encryption",
        KeyType.Signing => "signing",
        KeyType.Hmac => "hmac",
        KeyType.Symmetric => "symmetric",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    public static bool TryParseType(string? name, out KeyType type)
    {
        (var ok, type) = name switch
        {
            "encryption" => (true, KeyType.Encryption),
            "signing" => (true, KeyType.Signing),
            "hmac" => (true, KeyType.Hmac),
            "symmetric" => (true, KeyType.Symmetric),
            _ => (false, KeyType.Encryption),
        };
        return ok;
    }

    /// <summary>
    /// The algorithm and type of a new key. Without an algorithm: the default of the type (ML-KEM-768 for encryption
    /// or no type, ML-DSA-65 for signing, HMAC-SHA256, AES-256-GCM). Without a type: the algorithm's own (RSA keys are
    /// encryption keys, OAEP, unless asked for as <c>signing</c>, PSS). Null with a reason when the pair is not allowed.
    /// </summary>
    public static bool TryResolve(string? algorithm, KeyType? type, [NotNullWhen(true)] out AlgorithmInfo? info, out KeyType keyType, [NotNullWhen(false)] out string? reason)
    {
        algorithm ??= type switch
        {
            KeyType.Signing => AlgorithmNames.DefaultSigning,
            KeyType.Hmac => AlgorithmNames.HmacSha256,
            KeyType.Symmetric => AlgorithmNames.Aes256Gcm,
            _ => AlgorithmNames.DefaultEncryption,
        };
        keyType = default;
        if (!AlgorithmRegistry.Default.TryGet(algorithm, out info))
        {
            reason = "is not an algorithm of this API (" + string.Join(", ", Algorithms) + ").";
            return false;
        }

        keyType = type ?? info.DefaultKeyType;
        if (!info.Supports(keyType))
        {
            reason = $"{info.Name} cannot be a {TypeName(keyType)} key (allowed: {string.Join(", ", info.KeyTypes.Select(TypeName))}).";
            info = null;
            return false;
        }

        reason = null;
        return true;
    }

    /// <summary>The API operations a key of this algorithm and type may run (what K2's endpoints check).</summary>
    public static IReadOnlyList<string> Operations(AlgorithmInfo info, KeyType type)
    {
        ArgumentNullException.ThrowIfNull(info);
        var capabilities = info.CapabilitiesFor(type);
        var operations = new List<string>(6);
        if (capabilities.HasFlag(AlgorithmCapabilities.Encrypt))
        {
            operations.AddRange(["encrypt", "decrypt", "rewrap"]);
        }

        if (capabilities.HasFlag(AlgorithmCapabilities.Wrap))
        {
            operations.Add("datakey");
        }

        if (capabilities.HasFlag(AlgorithmCapabilities.Sign))
        {
            operations.AddRange(["sign", "verify"]);
        }

        if (capabilities.HasFlag(AlgorithmCapabilities.Hmac))
        {
            operations.AddRange(["hmac", "hmac/verify"]);
        }

        return operations;
    }
}
