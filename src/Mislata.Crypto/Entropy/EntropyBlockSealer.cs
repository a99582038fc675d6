using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Mislata.Crypto.Envelope;

namespace Mislata.Crypto.Entropy;

/// <summary>
/// Seals QRNG pool blocks for their stay in Redis: AES-256-GCM under <c>HKDF(platform key, "mislata/v1/entropy-pool")</c>.
/// Layout: version (1) ‖ key id length (1) ‖ platform key id (ASCII) ‖ nonce (12) ‖ ciphertext ‖ tag (16).
/// The associated data binds the purpose (<c>mislata/v1/entropy-pool-block</c> and the pool's name), the header and the
/// block length, so a blob sealed for anything else (another pool, another Redis value, a truncated block) does not open.
/// The platform key survives master-key rotations, so blocks keep opening across one.
/// </summary>
public sealed class EntropyBlockSealer(PlatformKey platformKey, string poolName)
{
    public const string KeyPurpose = "entropy-pool";
    private const byte Version = 1;
    private const int NonceLength = 12;
    private const int TagLength = 16;

    /// <summary>Seals one block; <paramref name="nonceSource"/> draws the nonce (the worker's OS CSPRNG).</summary>
    public byte[] Seal(ReadOnlySpan<byte> block, IRandomSource nonceSource)
    {
        ArgumentNullException.ThrowIfNull(nonceSource);
        var master = platformKey;
        var header = Header(master.Id);
        var blob = new byte[header.Length + NonceLength + block.Length + TagLength];
        header.CopyTo(blob, 0);
        var nonce = blob.AsSpan(header.Length, NonceLength);
        nonceSource.Fill(nonce);
        Span<byte> key = stackalloc byte[32];
        try
        {
            master.DeriveKey(KeyPurpose, key);
            using var aes = new AesGcm(key, TagLength);
            aes.Encrypt(nonce, block, blob.AsSpan(header.Length + NonceLength, block.Length), blob.AsSpan(blob.Length - TagLength),
                AssociatedData(header, block.Length));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }

        return blob;
    }

    /// <summary>The block in clear (the caller zeroes it), or null when the blob is malformed, tampered, sealed for
    /// another purpose or under another platform key.</summary>
    public byte[]? TryOpen(ReadOnlySpan<byte> blob)
    {
        if (blob.Length < 2 || blob[0] != Version)
        {
            return null;
        }

        var headerLength = 2 + blob[1];
        var length = blob.Length - headerLength - NonceLength - TagLength;
        if (length <= 0)
        {
            return null;
        }

        string id;
        try
        {
            id = Encoding.ASCII.GetString(blob[2..headerLength]);
        }
        catch (ArgumentException)
        {
            return null;
        }

        if (!string.Equals(id, platformKey.Id, StringComparison.Ordinal))
        {
            return null;
        }

        var master = platformKey;

        var block = new byte[length];
        Span<byte> key = stackalloc byte[32];
        try
        {
            master.DeriveKey(KeyPurpose, key);
            using var aes = new AesGcm(key, TagLength);
            aes.Decrypt(blob.Slice(headerLength, NonceLength), blob.Slice(headerLength + NonceLength, length), blob[^TagLength..], block,
                AssociatedData(blob[..headerLength], length));
            return block;
        }
        catch (AuthenticationTagMismatchException)
        {
            CryptographicOperations.ZeroMemory(block);
            return null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static byte[] Header(string masterKeyId)
    {
        var id = Encoding.ASCII.GetBytes(masterKeyId);
        return [Version, checked((byte)id.Length), .. id];
    }

    private byte[] AssociatedData(ReadOnlySpan<byte> header, int blockLength)
    {
        var purpose = Encoding.UTF8.GetBytes("mislata/v1/entropy-pool-block|" + poolName + "|");
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, blockLength);
        return [.. purpose, .. header, .. length];
    }
}
