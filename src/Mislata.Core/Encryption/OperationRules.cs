using Mislata.Core.Keys;
using Mislata.Crypto.Algorithms;

namespace Mislata.Core.Encryption;

/// <summary>Expected failures of the cryptographic operations, mapped to API.md problems by the api in one place.</summary>
public enum OperationError
{
    None = 0,

    /// <summary>The tenant has no key of this id (another tenant's key included): <c>404 not_found</c>.</summary>
    NotFound,

    /// <summary>No <c>keyId</c> and the tenant has no default key of the type the operation needs: <c>404 not_found</c>.</summary>
    NoDefaultKey,

    /// <summary>Disabled, pending deletion or destroyed: <c>409 key_state_invalid</c>.</summary>
    StateInvalid,

    /// <summary>The key's algorithm or type cannot do the operation: <c>400 algorithm_mismatch</c>.</summary>
    AlgorithmMismatch,

    /// <summary>The encryptedPayload is not one (structure, base64, fields): <c>400 invalid_payload</c>.</summary>
    InvalidPayload,

    /// <summary>Anything that fails after parsing, a destroyed key, a version below the minimum: <c>400 decryption_failed</c>, nothing more.</summary>
    DecryptionFailed,

    /// <summary>A context the algorithm cannot take (too long, or none allowed): <c>400 validation_failed</c> on <c>context</c>.</summary>
    InvalidContext,

    /// <summary>A verify naming a version the key does not have (or cannot use): <c>400 validation_failed</c> on <c>keyVersion</c>.</summary>
    InvalidVersion,

    /// <summary>The symmetric version reached 2^32 encryptions: <c>409 key_state_invalid</c>, rotate the key.</summary>
    UsageLimitReached,

    /// <summary>Every slot for slow signatures (SLH-DSA) is taken: <c>429 rate_limited</c> with Retry-After.</summary>
    Busy,

    /// <summary>No entropy source delivered bytes: <c>503 unavailable</c>.</summary>
    EntropyUnavailable,
}

/// <summary>An operation's result or its failure (an expected one; bugs are exceptions).</summary>
public readonly record struct Outcome<T>(T? Value, OperationError Error, string? Detail = null)
    where T : class
{
    public bool Succeeded => Error == OperationError.None;

    public static Outcome<T> Ok(T value) => new(value, OperationError.None);

    public static Outcome<T> Fail(OperationError error, string? detail = null) => new(null, error, detail);
}

/// <summary>The operations of API.md, as the rules name them.</summary>
public enum Operation
{
    Encrypt,
    Decrypt,
    Rewrap,
    DataKey,
    Sign,
    Verify,
    Hmac,
    HmacVerify,
}

/// <summary>
/// The pure rules that decide whether a key may run an operation, and which version: state first (a disabled key refuses
/// everything), then capability, then the version. New payloads, signatures and MACs use the current version; decrypt and
/// verify take any version from <see cref="KeySnapshot.MinDecryptionVersion"/> to the current one that is not destroyed.
/// </summary>
public static class OperationRules
{
    /// <summary>Longest <c>context</c> for AES-GCM associated data (UTF-8 bytes).</summary>
    public const int MaxEncryptionContextBytes = 4096;

    /// <summary>FIPS 204/205 context strings are at most 255 bytes.</summary>
    public const int MaxSignatureContextBytes = 255;

    public const int MinDataKeyBytes = 16;
    public const int MaxDataKeyBytes = 64;
    public const int DefaultDataKeyBytes = 32;
    public const int MinRandomBytes = 1;
    public const int MaxRandomBytes = 4096;
    public const int MaxBatchItems = 1000;

    /// <summary>Whether <paramref name="key"/> may run <paramref name="operation"/> at all (state, then capability).</summary>
    public static OperationError CheckUse(KeySnapshot key, Operation operation)
    {
        ArgumentNullException.ThrowIfNull(key);
        var reading = operation is Operation.Decrypt or Operation.Verify or Operation.HmacVerify or Operation.Rewrap;
        if (key.State == KeyState.Destroyed && reading)
        {
            // The material is gone: what was encrypted under it is lost, and says so only as decryption_failed.
            return OperationError.DecryptionFailed;
        }

        if (key.State != KeyState.Enabled)
        {
            return OperationError.StateInvalid;
        }

        return key.Capabilities.HasFlag(Needed(operation)) ? OperationError.None : OperationError.AlgorithmMismatch;
    }

    /// <summary>Whether a payload or signature of <paramref name="version"/> may be opened or checked.</summary>
    public static bool CanRead(KeySnapshot key, int version)
    {
        ArgumentNullException.ThrowIfNull(key);
        return version >= key.MinDecryptionVersion && version <= key.CurrentVersion &&
            key.Versions.TryGetValue(version, out var state) && state != KeyVersionState.Destroyed;
    }

    /// <summary>The versions a verification without a version tries, newest first.</summary>
    public static IEnumerable<int> ReadableVersions(KeySnapshot key)
    {
        ArgumentNullException.ThrowIfNull(key);
        for (var v = key.CurrentVersion; v >= key.MinDecryptionVersion; v--)
        {
            if (CanRead(key, v))
            {
                yield return v;
            }
        }
    }

    /// <summary>The key type a call without <c>keyId</c> uses.</summary>
    public static KeyType DefaultTypeFor(Operation operation) => operation switch
    {
        Operation.Sign or Operation.Verify => KeyType.Signing,
        Operation.Hmac or Operation.HmacVerify => KeyType.Hmac,
        _ => KeyType.Encryption,
    };

    /// <summary>A context the key's algorithm can take: ≤ 4096 bytes for encryption, ≤ 255 for ML-DSA/SLH-DSA, none for the other signatures.</summary>
    public static OperationError CheckContext(KeySnapshot key, Operation operation, int contextBytes, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(key);
        reason = null;
        if (operation is Operation.Sign or Operation.Verify)
        {
            if (key.Algorithm.Family is AlgorithmFamily.MlDsa or AlgorithmFamily.SlhDsa)
            {
                if (contextBytes > MaxSignatureContextBytes)
                {
                    reason = $"must be at most {MaxSignatureContextBytes} bytes (UTF-8) for {key.Algorithm.Name}.";
                    return OperationError.InvalidContext;
                }
            }
            else if (contextBytes > 0)
            {
                reason = $"{key.Algorithm.Name} signatures take no context.";
                return OperationError.InvalidContext;
            }
        }
        else if (contextBytes > MaxEncryptionContextBytes)
        {
            reason = $"must be at most {MaxEncryptionContextBytes} bytes (UTF-8).";
            return OperationError.InvalidContext;
        }

        return OperationError.None;
    }

    /// <summary>Whether signing with this algorithm is slow enough to run under the bounded slot limit.</summary>
    public static bool IsSlowSignature(AlgorithmInfo algorithm)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        return algorithm.Family == AlgorithmFamily.SlhDsa;
    }

    private static AlgorithmCapabilities Needed(Operation operation) => operation switch
    {
        Operation.Encrypt or Operation.Decrypt or Operation.Rewrap => AlgorithmCapabilities.Encrypt,
        Operation.DataKey => AlgorithmCapabilities.Wrap,
        Operation.Sign or Operation.Verify => AlgorithmCapabilities.Sign,
        Operation.Hmac or Operation.HmacVerify => AlgorithmCapabilities.Hmac,
        _ => throw new ArgumentOutOfRangeException(nameof(operation)),
    };
}
