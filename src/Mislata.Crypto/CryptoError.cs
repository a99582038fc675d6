namespace Mislata.Crypto;

/// <summary>Expected, caller-visible failures of the crypto layer. The API maps them to its error codes.</summary>
public enum CryptoError
{
    /// <summary>Key bytes are malformed, of the wrong length, on the wrong curve, or fail a consistency check.</summary>
    InvalidKeyMaterial,

    /// <summary>An <c>encryptedPayload</c> (or wrapped blob) is structurally invalid: maps to <c>invalid_payload</c>.</summary>
    InvalidPayload,

    /// <summary>Authentication failed. Deliberately says nothing more: maps to <c>decryption_failed</c>.</summary>
    DecryptionFailed,

    /// <summary>The algorithm (or the key's type) cannot do the requested operation: maps to <c>algorithm_mismatch</c>.</summary>
    AlgorithmMismatch,

    /// <summary>An argument is out of range (e.g. a context longer than 255 bytes).</summary>
    InvalidArgument,

    /// <summary>A symmetric key version reached its invocation limit (2^32 AES-GCM encryptions).</summary>
    UsageLimitExceeded,

    /// <summary>No entropy source could deliver bytes.</summary>
    EntropyUnavailable,
}

/// <summary>
/// An expected failure with a stable <see cref="CryptoError"/> code. Messages are fixed texts: never key bytes,
/// plaintext or library internals. Library exceptions (BouncyCastle, CryptographicException) never escape the
/// public API: they are translated into this type.
/// </summary>
public sealed class CryptoException : Exception
{
    public CryptoException()
        : this(CryptoError.InvalidArgument, "Invalid cryptographic input.")
    {
    }

    public CryptoException(string message)
        : this(CryptoError.InvalidArgument, message)
    {
    }

    public CryptoException(string message, Exception innerException)
        : base(message, innerException)
    {
        Error = CryptoError.InvalidArgument;
    }

    public CryptoException(CryptoError error, string message)
        : base(message)
    {
        Error = error;
    }

    public CryptoError Error { get; }

    internal static CryptoException InvalidKey(string why = "The key material is invalid.") => new(CryptoError.InvalidKeyMaterial, why);

    internal static CryptoException InvalidPayload(string why = "The encrypted payload is malformed.") => new(CryptoError.InvalidPayload, why);

    // One generic text on purpose: a failed decryption must not tell which check failed.
    internal static CryptoException DecryptionFailed() => new(CryptoError.DecryptionFailed, "Decryption failed.");

    internal static CryptoException Mismatch(string algorithm, string operation) =>
        new(CryptoError.AlgorithmMismatch, $"Algorithm {algorithm} cannot {operation}.");
}
