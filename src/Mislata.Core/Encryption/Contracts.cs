namespace Mislata.Core.Encryption;

/// <summary>One encryption: the plaintext's bytes, how decrypt gives them back (<c>utf8</c> or <c>base64</c>), the key (null: the default) and the associated data.</summary>
public sealed record EncryptRequest(ReadOnlyMemory<byte> Plaintext, string Encoding, Guid? KeyId, string? Context);

public sealed record EncryptResult(string EncryptedPayload, Guid KeyId, int KeyVersion, string Algorithm);

public sealed record DecryptRequest(string EncryptedPayload, string? Context);

/// <summary>The caller zeroes <see cref="Plaintext"/> once it is written out.</summary>
public sealed record DecryptResult(byte[] Plaintext, string Encoding, Guid KeyId, int KeyVersion);

public sealed record DataKeyRequest(Guid? KeyId, int Bytes, bool IncludePlaintext, string? Context);

/// <summary>A fresh data key and the same key encrypted (<c>e</c> = base64). The caller zeroes <see cref="Plaintext"/>.</summary>
public sealed record DataKeyResult(byte[]? Plaintext, string EncryptedPayload, Guid KeyId, int KeyVersion, string Algorithm);

public sealed record SignRequest(ReadOnlyMemory<byte> Message, Guid? KeyId, string? Context);

public sealed record SignResult(byte[] Signature, Guid KeyId, int KeyVersion, string Algorithm);

/// <summary>The message built around the signing key's public part, its signature, that public key and the version that signed.</summary>
public sealed record EmbeddedKeySignResult(byte[] Message, byte[] Signature, Mislata.Crypto.Algorithms.PublicKey PublicKey, int KeyVersion);

/// <summary>Without <see cref="KeyVersion"/> every readable version is tried, newest first.</summary>
public sealed record VerifyRequest(ReadOnlyMemory<byte> Message, ReadOnlyMemory<byte> Signature, Guid? KeyId, int? KeyVersion, string? Context);

/// <summary><see cref="KeyVersion"/> is the version that verified (null when none did).</summary>
public sealed record VerifyResult(bool Valid, Guid KeyId, int? KeyVersion);

public sealed record MacRequest(ReadOnlyMemory<byte> Message, Guid KeyId);

public sealed record MacResult(byte[] Mac, Guid KeyId, int KeyVersion, string Algorithm);

public sealed record MacVerifyRequest(ReadOnlyMemory<byte> Message, ReadOnlyMemory<byte> Mac, Guid KeyId, int? KeyVersion);

public sealed record RandomResult(byte[] Bytes, string Source);
