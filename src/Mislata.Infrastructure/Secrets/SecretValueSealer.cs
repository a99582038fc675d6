using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Secrets;
using Mislata.Crypto;
using Mislata.Crypto.Entropy;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Tenants;

namespace Mislata.Infrastructure.Secrets;

/// <summary>A tenant's newest data key in clear, for sealing; disposing it zeroes the key.</summary>
public sealed class SecretSealingKey : IDisposable
{
    private readonly byte[] _dek;

    internal SecretSealingKey(Guid tenantId, int version, byte[] dek)
    {
        TenantId = tenantId;
        Version = version;
        _dek = dek;
    }

    public Guid TenantId { get; }

    public int Version { get; }

    internal ReadOnlySpan<byte> Dek => _dek;

    public void Dispose() => CryptographicOperations.ZeroMemory(_dek);
}

/// <summary>
/// Seals secret values under the tenant's data key and opens them again. AES-256-GCM; associated data
/// <c>mislata/v1/secret|{tenantId}|{secretId}|{version}</c>, so a blob copied to another row, version or tenant does not
/// open (and the data key's version is checked by the key that opens it: another data key fails the tag). Blob v1:
/// <c>0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)</c>. Values are never stored, logged or returned other than to the caller.
/// </summary>
public sealed class SecretValueSealer(MislataDbContext db, ITenantKeyWrapper keyWrapper, IRandomSource random)
{
    /// <summary>The tenant's newest data key (the caller disposes it); loaded before a row lock is taken, to keep the lock short.</summary>
    public async Task<SecretSealingKey> SealingKeyAsync(Guid tenantId, CancellationToken cancellationToken)
    {
        var record = await db.Set<TenantDataKeyRecord>().AsNoTracking()
            .Where(k => k.TenantId == tenantId)
            .OrderByDescending(k => k.Version)
            .FirstOrDefaultAsync(cancellationToken)
            ?? throw new InvalidOperationException("The tenant has no data key.");
        return new SecretSealingKey(tenantId, record.Version, keyWrapper.Unwrap(record.ToWrapped()));
    }

    /// <summary>Seals <paramref name="value"/> as version <paramref name="version"/> of secret <paramref name="secretId"/>.</summary>
    public SealedSecretValue Seal(SecretSealingKey key, Guid secretId, int version, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new SealedSecretValue(Seal(key.Dek, key.TenantId, secretId, version, value, random), key.Version);
    }

    /// <summary>The value of a version, whose data key record was read with it (one query). The caller zeroes the result.</summary>
    public byte[] Open(TenantDataKeyRecord dataKey, SecretVersion version)
    {
        ArgumentNullException.ThrowIfNull(dataKey);
        ArgumentNullException.ThrowIfNull(version);
        if (dataKey.TenantId != version.TenantId || dataKey.Version != version.DataKeyVersion)
        {
            throw new CryptoException(CryptoError.DecryptionFailed, "Decryption failed.");
        }

        var dek = keyWrapper.Unwrap(dataKey.ToWrapped());
        try
        {
            return Open(dek, version.TenantId, version.SecretId, version.Version, version.SealedValue);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dek);
        }
    }

    internal static byte[] Seal(ReadOnlySpan<byte> dek, Guid tenantId, Guid secretId, int version, ReadOnlySpan<byte> plaintext, IRandomSource random) =>
        DataKeyBlob.Seal(dek, AssociatedData(tenantId, secretId, version), plaintext, random);

    /// <summary>The caller zeroes the result. Any mismatch → <see cref="CryptoError.DecryptionFailed"/> (no detail on purpose).</summary>
    internal static byte[] Open(ReadOnlySpan<byte> dek, Guid tenantId, Guid secretId, int version, ReadOnlySpan<byte> blob) =>
        DataKeyBlob.Open(dek, AssociatedData(tenantId, secretId, version), blob);

    internal static byte[] AssociatedData(Guid tenantId, Guid secretId, int version) =>
        Encoding.UTF8.GetBytes(FormattableString.Invariant($"mislata/v1/secret|{tenantId:D}|{secretId:D}|{version}"));
}
