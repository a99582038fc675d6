using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Keys;
using Mislata.Crypto;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Tenants;

namespace Mislata.Infrastructure.Keys;

/// <summary>
/// Seals a key version's private (or secret) material under its tenant's data key, and opens it again. AES-256-GCM;
/// associated data <c>mislata/v1/key-material|{tenantId}|{keyId}|{version}|{algorithm}|{dekVersion}</c>, so a blob
/// copied to another row, version, key or tenant, or relabelled with another algorithm, does not open. Blob v1:
/// <c>0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)</c>. The material is never stored or returned in clear.
/// </summary>
public sealed class KeyMaterialSealer(MislataDbContext db, ITenantKeyWrapper keyWrapper, IRandomSource random)
{
    private const byte BlobVersion = 1;
    private const int NonceLength = 12;
    private const int TagLength = 16;

    /// <summary>Seals <paramref name="material"/> as version <paramref name="version"/> of key <paramref name="keyId"/> under the tenant's newest data key.</summary>
    public async Task<SealedVersionMaterial> SealAsync(Guid tenantId, Guid keyId, int version, KeyMaterial material, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(material);
        var record = await db.Set<TenantDataKeyRecord>().AsNoTracking()
            .Where(k => k.TenantId == tenantId)
            .OrderByDescending(k => k.Version)
            .FirstOrDefaultAsync(cancellationToken)
            ?? throw new InvalidOperationException("The tenant has no data key.");
        var dek = keyWrapper.Unwrap(record.ToWrapped());
        var plaintext = material.ExportForStorage();
        try
        {
            var sealedBlob = Seal(dek, record.Version, tenantId, keyId, version, material.Algorithm, plaintext, random);
            return new SealedVersionMaterial(sealedBlob, record.Version, material.PublicKey?.Raw.ToArray());
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
            CryptographicOperations.ZeroMemory(dek);
        }
    }

    /// <summary>
    /// The material of one version, for the operations (the caller disposes it, which zeroes it). A blob that does not
    /// open under its row's tenant, key, version and algorithm throws <see cref="CryptoException"/> (<see cref="CryptoError.DecryptionFailed"/>).
    /// </summary>
    public async Task<KeyMaterial> OpenAsync(Key key, KeyVersion version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(version);
        var record = await db.Set<TenantDataKeyRecord>().AsNoTracking()
            .SingleOrDefaultAsync(k => k.TenantId == key.TenantId && k.Version == version.DataKeyVersion, cancellationToken)
            ?? throw new CryptoException(CryptoError.DecryptionFailed, "Decryption failed.");
        var dek = keyWrapper.Unwrap(record.ToWrapped());
        try
        {
            var plaintext = Open(dek, version.DataKeyVersion, key.TenantId, key.Id, version.Version, key.Algorithm, version.SealedMaterial);
            try
            {
                return KeyMaterial.FromStorage(plaintext);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(plaintext);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dek);
        }
    }

    internal static byte[] Seal(
        ReadOnlySpan<byte> dek, int dekVersion, Guid tenantId, Guid keyId, int version, string algorithm, ReadOnlySpan<byte> plaintext, IRandomSource random)
    {
        var blob = new byte[1 + NonceLength + plaintext.Length + TagLength];
        blob[0] = BlobVersion;
        var nonce = blob.AsSpan(1, NonceLength);
        random.Fill(nonce);
        using var aes = new AesGcm(dek, TagLength);
        aes.Encrypt(nonce, plaintext, blob.AsSpan(1 + NonceLength, plaintext.Length), blob.AsSpan(blob.Length - TagLength),
            AssociatedData(tenantId, keyId, version, algorithm, dekVersion));
        return blob;
    }

    /// <summary>The caller zeroes the result. Any mismatch → <see cref="CryptoError.DecryptionFailed"/> (no detail on purpose).</summary>
    internal static byte[] Open(ReadOnlySpan<byte> dek, int dekVersion, Guid tenantId, Guid keyId, int version, string algorithm, ReadOnlySpan<byte> blob)
    {
        if (blob.Length < 1 + NonceLength + TagLength || blob[0] != BlobVersion)
        {
            throw new CryptoException(CryptoError.DecryptionFailed, "Decryption failed.");
        }

        var plaintext = new byte[blob.Length - 1 - NonceLength - TagLength];
        try
        {
            using var aes = new AesGcm(dek, TagLength);
            aes.Decrypt(blob.Slice(1, NonceLength), blob.Slice(1 + NonceLength, plaintext.Length), blob[^TagLength..], plaintext,
                AssociatedData(tenantId, keyId, version, algorithm, dekVersion));
            return plaintext;
        }
        catch (CryptographicException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new CryptoException(CryptoError.DecryptionFailed, "Decryption failed.");
        }
    }

    private static byte[] AssociatedData(Guid tenantId, Guid keyId, int version, string algorithm, int dekVersion) =>
        Encoding.UTF8.GetBytes(FormattableString.Invariant($"mislata/v1/key-material|{tenantId:D}|{keyId:D}|{version}|{algorithm}|{dekVersion}"));
}
