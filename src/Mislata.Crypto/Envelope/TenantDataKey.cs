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
/// Wraps DEKs under the master key (AES-256-GCM). Blob v1: <c>0x01 ‖ len ‖ ASCII master-key id ‖ nonce (12) ‖ ct (32) ‖ tag (16)</c>;
/// AAD = <c>mislata/v1/dek|{tenant}|{dekVersion}|{masterKeyId}</c>, so a wrapped DEK cannot move to another tenant or version.
/// </summary>
public static class DataKeyWrapper
{
    private const byte BlobVersion = 1;

    public static byte[] Wrap(MasterKeyRing ring, TenantDataKey dek, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(ring);
        ArgumentNullException.ThrowIfNull(dek);
        ArgumentNullException.ThrowIfNull(random);
        return WrapWith(ring.Current, dek.TenantId, dek.Version, dek.Key, random);
    }

    /// <summary>The master-key id a blob was wrapped with (public, non-secret), or <see cref="CryptoError.InvalidPayload"/>.</summary>
    public static string MasterKeyIdOf(ReadOnlySpan<byte> wrapped)
    {
        if (wrapped.Length < 2 || wrapped[0] != BlobVersion || wrapped.Length != 2 + wrapped[1] + 12 + TenantDataKey.KeyLength + 16)
        {
            throw CryptoException.InvalidPayload("The wrapped data key is malformed.");
        }

        return Encoding.ASCII.GetString(wrapped.Slice(2, wrapped[1]));
    }

    /// <summary>True when the blob is not wrapped by the current master key (the rotation job's work list).</summary>
    public static bool NeedsRewrap(MasterKeyRing ring, ReadOnlySpan<byte> wrapped)
    {
        ArgumentNullException.ThrowIfNull(ring);
        return MasterKeyIdOf(wrapped) != ring.Current.Id;
    }

    /// <summary>Unwraps with whichever master key (current or previous) the blob names. Wrong tenant/version/key → <see cref="CryptoError.DecryptionFailed"/>.</summary>
    public static TenantDataKey Unwrap(MasterKeyRing ring, ReadOnlySpan<byte> wrapped, Guid tenantId, int dekVersion)
    {
        ArgumentNullException.ThrowIfNull(ring);
        var id = MasterKeyIdOf(wrapped);
        var master = ring.Find(id) ?? throw new CryptoException(CryptoError.DecryptionFailed, "The master key that wrapped this data key is not configured.");
        var body = wrapped[(2 + wrapped[1])..];
        var key = new byte[TenantDataKey.KeyLength];
        try
        {
            using var gcm = master.CreateAesGcm();
            gcm.Decrypt(body[..12], body.Slice(12, TenantDataKey.KeyLength), body[(12 + TenantDataKey.KeyLength)..], key, Aad(tenantId, dekVersion, id));
            return TenantDataKey.FromBytes(tenantId, dekVersion, key);
        }
        catch (CryptographicException)
        {
            throw CryptoException.DecryptionFailed();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Re-wraps under the current master key (from the previous one); a blob already current is returned as is.</summary>
    public static byte[] Rewrap(MasterKeyRing ring, ReadOnlySpan<byte> wrapped, Guid tenantId, int dekVersion, IRandomSource random)
    {
        if (!NeedsRewrap(ring, wrapped))
        {
            return wrapped.ToArray();
        }

        using var dek = Unwrap(ring, wrapped, tenantId, dekVersion);
        return Wrap(ring, dek, random);
    }

    private static byte[] WrapWith(MasterKey master, Guid tenantId, int dekVersion, ReadOnlySpan<byte> key, IRandomSource random)
    {
        var id = Encoding.ASCII.GetBytes(master.Id);
        var blob = new byte[2 + id.Length + 12 + TenantDataKey.KeyLength + 16];
        blob[0] = BlobVersion;
        blob[1] = (byte)id.Length;
        id.CopyTo(blob, 2);
        var body = blob.AsSpan(2 + id.Length);
        random.Fill(body[..12]);
        using var gcm = master.CreateAesGcm();
        gcm.Encrypt(body[..12], key, body.Slice(12, TenantDataKey.KeyLength), body[(12 + TenantDataKey.KeyLength)..], Aad(tenantId, dekVersion, master.Id));
        return blob;
    }

    private static byte[] Aad(Guid tenantId, int dekVersion, string masterKeyId) =>
        Encoding.ASCII.GetBytes($"mislata/v1/dek|{tenantId:D}|{dekVersion}|{masterKeyId}");
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
            throw CryptoException.DecryptionFailed();
        }

        var plaintext = new byte[blob.Length - Overhead];
        AesGcmPrimitive.Decrypt(dek.Key, blob.Slice(5, AesGcmPrimitive.NonceLength), blob.Slice(5 + AesGcmPrimitive.NonceLength, plaintext.Length), blob[^AesGcmPrimitive.TagLength..], plaintext, Aad(recordId, recordVersion, field));
        return plaintext;
    }

    private byte[] Aad(Guid recordId, int recordVersion, string field) =>
        Encoding.UTF8.GetBytes($"mislata/v1/field|{dek.TenantId:D}|{dek.Version}|{recordId:D}|{recordVersion}|{field}");
}
