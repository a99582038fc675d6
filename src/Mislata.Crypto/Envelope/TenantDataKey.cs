using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Primitives;

namespace Mislata.Crypto.Envelope;

/// <summary>A tenant's data key (DEK): 32 bytes from the entropy service, versioned. Zeroed on dispose.</summary>
public sealed class TenantDataKey : IDisposable
{
    public const int KeyLength = 32;
    private readonly byte[] _key;
    private bool _disposed;

    private TenantDataKey(Guid tenantId, int version, byte[] key)
    {
        if (version < 1)
        {
            throw new CryptoException(CryptoError.InvalidArgument, "A DEK version is ≥ 1.");
        }

        TenantId = tenantId;
        Version = version;
        _key = key;
    }

    public Guid TenantId { get; }

    public int Version { get; }

    internal ReadOnlySpan<byte> Key
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _key;
        }
    }

    public static TenantDataKey Generate(Guid tenantId, int version, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var key = new byte[KeyLength];
        random.Fill(key);
        return new TenantDataKey(tenantId, version, key);
    }

    internal static TenantDataKey FromBytes(Guid tenantId, int version, ReadOnlySpan<byte> key) => new(tenantId, version, key.ToArray());

    public void Dispose()
    {
        _disposed = true;
        CryptographicOperations.ZeroMemory(_key);
    }
}

/// <summary>
/// Encrypts one sensitive column value with the tenant's DEK (AES-256-GCM, nonce from the entropy service).
/// Blob v1: <c>0x01 ‖ DEK version (4, big-endian) ‖ nonce (12) ‖ ct ‖ tag (16)</c>;
/// AAD = <c>mislata/v1/field|{tenant}|{dekVersion}|{recordId}|{recordVersion}|{field}</c>, so values cannot be swapped between rows,
/// versions, fields or tenants.
/// </summary>
public sealed class FieldCipher(TenantDataKey dek, IRandomSource random)
{
    private const byte BlobVersion = 1;
    private const int Overhead = 1 + 4 + AesGcmPrimitive.NonceLength + AesGcmPrimitive.TagLength;

    public byte[] Encrypt(Guid recordId, int recordVersion, string field, ReadOnlySpan<byte> plaintext)
    {
        ArgumentException.ThrowIfNullOrEmpty(field);
        var blob = new byte[Overhead + plaintext.Length];
        blob[0] = BlobVersion;
        BinaryPrimitives.WriteInt32BigEndian(blob.AsSpan(1), dek.Version);
        var nonce = blob.AsSpan(5, AesGcmPrimitive.NonceLength);
        random.Fill(nonce);
        AesGcmPrimitive.Encrypt(dek.Key, nonce, plaintext, blob.AsSpan(5 + AesGcmPrimitive.NonceLength, plaintext.Length), blob.AsSpan(blob.Length - AesGcmPrimitive.TagLength), Aad(recordId, recordVersion, field));
        return blob;
    }

    /// <summary>Which DEK version a blob needs (so the caller can load it).</summary>
    public static int DekVersionOf(ReadOnlySpan<byte> blob) =>
        blob.Length >= Overhead && blob[0] == BlobVersion ? BinaryPrimitives.ReadInt32BigEndian(blob[1..]) : throw CryptoException.InvalidPayload("The encrypted field is malformed.");

    /// <summary>The caller zeroes the result after use. Any mismatch or tampering → <see cref="CryptoError.DecryptionFailed"/>.</summary>
    public byte[] Decrypt(Guid recordId, int recordVersion, string field, ReadOnlySpan<byte> blob)
    {
        ArgumentException.ThrowIfNullOrEmpty(field);
        if (DekVersionOf(blob) != dek.Version)
        {
            // Stryker disable once Statement : the AAD contains the DEK version, so a blob of another version fails the GCM tag with the same DecryptionFailed even with the same key bytes
            throw CryptoException.DecryptionFailed();
        }

        var plaintext = new byte[blob.Length - Overhead];
        AesGcmPrimitive.Decrypt(dek.Key, blob.Slice(5, AesGcmPrimitive.NonceLength), blob.Slice(5 + AesGcmPrimitive.NonceLength, plaintext.Length), blob[^AesGcmPrimitive.TagLength..], plaintext, Aad(recordId, recordVersion, field));
        return plaintext;
    }

    private byte[] Aad(Guid recordId, int recordVersion, string field) =>
        Encoding.UTF8.GetBytes($"mislata/v1/field|{dek.TenantId:D}|{dek.Version}|{recordId:D}|{recordVersion}|{field}");
}
