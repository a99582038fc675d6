using System.Security.Cryptography;
using System.Text;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;

namespace Mislata.Infrastructure.Persistence.Tenants;

/// <summary>A tenant data key as stored: wrapped under one master key, bound to its tenant and version.</summary>
public sealed record WrappedDataKey(Guid TenantId, int Version, string MasterKeyId, byte[] WrappedKey);

/// <summary>
/// Creates, wraps and unwraps tenant data keys (DEKs): the platform's one envelope format, stored as
/// (wrapped bytes, dek_version, master_key_id). The master key never encrypts anything itself: the wrapping key is
/// derived from it.
/// </summary>
public interface ITenantKeyWrapper
{
    /// <summary>A fresh random 32-byte DEK, wrapped under the current master key. The plaintext is zeroed before returning.</summary>
    WrappedDataKey CreateDataKey(Guid tenantId, int version);

    /// <summary>The DEK in plaintext; the caller zeroes it after use. Throws <see cref="CryptographicException"/> when the wrap does not verify.</summary>
    byte[] Unwrap(WrappedDataKey wrapped);

    /// <summary>
    /// The same DEK wrapped under the current master key (a master-key rotation). Throws <see cref="CryptographicException"/>
    /// when <paramref name="wrapped"/> does not unwrap with a configured master key.
    /// </summary>
    WrappedDataKey Rewrap(WrappedDataKey wrapped);
}

/// <summary>
/// AES-256-GCM under <c>HKDF(master key, "mislata/v1/tenant-dek-wrap")</c>; AAD =
/// <c>mislata/v1/dek|{tenantId}|{dekVersion}|{masterKeyId}</c>, so a wrapped DEK cannot be moved to another tenant
/// or version. Layout: nonce (12) ‖ ciphertext (32) ‖ tag (16).
/// </summary>
public sealed class AesGcmTenantKeyWrapper(MasterKeyRing masterKeys, IRandomSource? random = null) : ITenantKeyWrapper
{
    public const int DataKeyLength = 32;
    private const int NonceLength = 12;
    private const int TagLength = 16;
    private const string WrapPurpose = "tenant-dek-wrap";

    public WrappedDataKey CreateDataKey(Guid tenantId, int version)
    {
        var dek = new byte[DataKeyLength];
        try
        {
            Random.Fill(dek);
            return Wrap(tenantId, version, masterKeys.Current, dek, Random);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dek);
        }
    }

    /// <summary>The platform's entropy service in the api (DEKs and wrap nonces); the OS CSPRNG elsewhere.</summary>
    private IRandomSource Random { get; } = random ?? OsRandomSource.Instance;

    public byte[] Unwrap(WrappedDataKey wrapped)
    {
        ArgumentNullException.ThrowIfNull(wrapped);
        var master = masterKeys.Find(wrapped.MasterKeyId)
            ?? throw new CryptographicException("The data key is wrapped under a master key that is not configured.");
        if (wrapped.WrappedKey.Length != NonceLength + DataKeyLength + TagLength)
        {
            throw new CryptographicException("The wrapped data key has the wrong length.");
        }

        var kek = new byte[32];
        var dek = new byte[DataKeyLength];
        try
        {
            master.DeriveKey(WrapPurpose, kek);
            using var aes = new AesGcm(kek, TagLength);
            var blob = wrapped.WrappedKey.AsSpan();
            aes.Decrypt(blob[..NonceLength], blob.Slice(NonceLength, DataKeyLength), blob[(NonceLength + DataKeyLength)..], dek,
                Aad(wrapped.TenantId, wrapped.Version, master.Id));
            return dek;
        }
        catch
        {
            CryptographicOperations.ZeroMemory(dek);
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(kek);
        }
    }

    public WrappedDataKey Rewrap(WrappedDataKey wrapped)
    {
        var dek = Unwrap(wrapped);
        try
        {
            return Wrap(wrapped.TenantId, wrapped.Version, masterKeys.Current, dek, Random);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dek);
        }
    }

    internal static WrappedDataKey Wrap(Guid tenantId, int version, MasterKey master, ReadOnlySpan<byte> dek, IRandomSource? random = null)
    {
        var kek = new byte[32];
        try
        {
            master.DeriveKey(WrapPurpose, kek);
            using var aes = new AesGcm(kek, TagLength);
            var blob = new byte[NonceLength + DataKeyLength + TagLength];
            (random ?? OsRandomSource.Instance).Fill(blob.AsSpan(0, NonceLength));
            aes.Encrypt(blob.AsSpan(0, NonceLength), dek, blob.AsSpan(NonceLength, DataKeyLength), blob.AsSpan(NonceLength + DataKeyLength),
                Aad(tenantId, version, master.Id));
            return new WrappedDataKey(tenantId, version, master.Id, blob);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(kek);
        }
    }

    private static byte[] Aad(Guid tenantId, int version, string masterKeyId) =>
        Encoding.UTF8.GetBytes(FormattableString.Invariant($"mislata/v1/dek|{tenantId:D}|{version}|{masterKeyId}"));
}
