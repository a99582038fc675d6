using System.Security.Cryptography;
using Mislata.Crypto;
using Mislata.Crypto.Entropy;

namespace Mislata.Infrastructure.Persistence.Tenants;

/// <summary>
/// A column value sealed under a tenant's data key: AES-256-GCM, blob v1 <c>0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)</c>,
/// with associated data naming the row it belongs to (the caller's), so a blob copied to another row does not open.
/// Shared by the sealed columns (secret values, payload references' contexts).
/// </summary>
internal static class DataKeyBlob
{
    private const byte BlobVersion = 1;
    private const int NonceLength = 12;
    private const int TagLength = 16;

    public static byte[] Seal(ReadOnlySpan<byte> dek, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var blob = new byte[1 + NonceLength + plaintext.Length + TagLength];
        blob[0] = BlobVersion;
        var nonce = blob.AsSpan(1, NonceLength);
        random.Fill(nonce);
        using var aes = new AesGcm(dek, TagLength);
        aes.Encrypt(nonce, plaintext, blob.AsSpan(1 + NonceLength, plaintext.Length), blob.AsSpan(blob.Length - TagLength), associatedData);
        return blob;
    }

    /// <summary>The caller zeroes the result. Any mismatch → <see cref="CryptoError.DecryptionFailed"/> (no detail on purpose).</summary>
    public static byte[] Open(ReadOnlySpan<byte> dek, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> blob)
    {
        if (blob.Length < 1 + NonceLength + TagLength || blob[0] != BlobVersion)
        {
            throw new CryptoException(CryptoError.DecryptionFailed, "Decryption failed.");
        }

        var plaintext = new byte[blob.Length - 1 - NonceLength - TagLength];
        try
        {
            using var aes = new AesGcm(dek, TagLength);
            aes.Decrypt(blob.Slice(1, NonceLength), blob.Slice(1 + NonceLength, plaintext.Length), blob[^TagLength..], plaintext, associatedData);
            return plaintext;
        }
        catch (CryptographicException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new CryptoException(CryptoError.DecryptionFailed, "Decryption failed.");
        }
    }
}
