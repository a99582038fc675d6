using Mislata.Crypto.Entropy;

namespace Mislata.Crypto.Algorithms;

/// <summary>One algorithm: key generation and its static facts.</summary>
public interface IKeyAlgorithm
{
    AlgorithmInfo Info { get; }

    KeyMaterial Generate(KeyType type, IRandomSource random);
}

/// <summary>ML-DSA, SLH-DSA (pure, context ≤ 255 bytes), ECDSA (P1363), Ed25519, RSA-PSS.</summary>
public interface ISignatureAlgorithm : IKeyAlgorithm
{
    /// <summary>Signs; <paramref name="random"/> hedges ML-DSA/SLH-DSA (ECDSA and RSA-PSS use the OS CSPRNG inside OpenSSL).</summary>
    byte[] Sign(KeyMaterial key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, IRandomSource random);

    /// <summary>False for any bad signature, key/signature length, or context; never throws for attacker input.</summary>
    bool Verify(PublicKey key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, ReadOnlySpan<byte> signature);
}

/// <summary>ML-KEM (FIPS 203).</summary>
public interface IKemAlgorithm : IKeyAlgorithm
{
    int CiphertextLength { get; }

    /// <summary>Returns (ciphertext, 32-byte shared secret). The caller zeroes the secret.</summary>
    (byte[] Ciphertext, byte[] SharedSecret) Encapsulate(PublicKey key, IRandomSource random);

    /// <summary>Implicit rejection: a tampered ciphertext of the right length yields a pseudo-random secret.</summary>
    byte[] Decapsulate(KeyMaterial key, ReadOnlySpan<byte> ciphertext);
}

/// <summary>RSA-OAEP (SHA-256, MGF1-SHA-256, no label) key transport.</summary>
public interface IKeyTransportAlgorithm : IKeyAlgorithm
{
    byte[] WrapKey(PublicKey key, ReadOnlySpan<byte> contentKey);

    /// <summary>Throws <see cref="CryptoError.DecryptionFailed"/> on any failure.</summary>
    byte[] UnwrapKey(KeyMaterial key, ReadOnlySpan<byte> wrapped);
}

/// <summary>HMAC-SHA256/512.</summary>
public interface IMacAlgorithm : IKeyAlgorithm
{
    byte[] Compute(KeyMaterial key, ReadOnlySpan<byte> message);

    /// <summary>Constant-time comparison of the full-length MAC.</summary>
    bool Verify(KeyMaterial key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> mac);
}
