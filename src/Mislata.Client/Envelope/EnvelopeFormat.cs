using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Mislata.Client.Envelope;

/// <summary>
/// The streaming envelope of <see cref="DataKeyEnvelope"/> (format version 1). Public and stable: a file written by one
/// client version is read by every later one.
/// <code>
/// header   "MSLENV" (6 ASCII bytes) | version 0x01 | 0x00
///          chunkSize   uint32 big-endian: plaintext bytes per chunk (4 KiB .. 16 MiB)
///          baseNonce   12 random bytes
///          dekLength   uint32 big-endian (1 .. 65536)
///          dek         dekLength ASCII bytes: the data key's encryptedPayload from POST /datakey (CRYPTO.md)
/// chunks   for i = 0, 1, …: AES-256-GCM(DEK, nonce_i, plaintext_i, aad_i) ciphertext followed by its 16-byte tag
///          nonce_i = baseNonce XOR (0x00000000 | uint64 big-endian i)
///          aad_i   = SHA-256(header) | uint64 big-endian i | final (0x01 for the last chunk, else 0x00)
/// </code>
/// Every chunk but the last holds exactly chunkSize plaintext bytes; the last holds 0..chunkSize (an empty input is one
/// empty final chunk). The index in the associated data detects reordering, the final flag truncation and appended
/// data, the header hash a changed header and chunks taken from another envelope (each envelope has its own data key
/// and base nonce).
/// </summary>
public static class EnvelopeFormat
{
    /// <summary>The first bytes of every envelope.</summary>
    public static ReadOnlySpan<byte> Magic => "MSLENV"u8;

    /// <summary>This format's version byte.</summary>
    public const byte Version = 1;

    /// <summary>Bytes of the AES-GCM tag after each chunk.</summary>
    public const int TagLength = 16;

    /// <summary>Bytes of the base nonce.</summary>
    public const int NonceLength = 12;

    /// <summary>Smallest chunk size accepted.</summary>
    public const int MinChunkSize = 4 * 1024;

    /// <summary>Largest chunk size accepted (bounds the reader's memory).</summary>
    public const int MaxChunkSize = 16 * 1024 * 1024;

    /// <summary>The default chunk size: 256 KiB.</summary>
    public const int DefaultChunkSize = 256 * 1024;

    /// <summary>Largest encrypted data key accepted.</summary>
    public const int MaxDekLength = 64 * 1024;

    internal static byte[] Header(int chunkSize, ReadOnlySpan<byte> baseNonce, string encryptedDek)
    {
        var dek = Encoding.ASCII.GetBytes(encryptedDek);
        var header = new byte[8 + 4 + NonceLength + 4 + dek.Length];
        Magic.CopyTo(header);
        header[6] = Version;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), (uint)chunkSize);
        baseNonce.CopyTo(header.AsSpan(12));
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), (uint)dek.Length);
        dek.CopyTo(header.AsSpan(28));
        return header;
    }

    /// <summary>Reads and checks a header: (chunkSize, baseNonce, encrypted DEK, header bytes).</summary>
    internal static async Task<(int ChunkSize, byte[] BaseNonce, string EncryptedDek, byte[] Header)> ReadHeaderAsync(Stream input, CancellationToken cancellationToken)
    {
        var fixedPart = new byte[28];
        if (await ReadFullAsync(input, fixedPart, cancellationToken).ConfigureAwait(false) != fixedPart.Length
            || !fixedPart.AsSpan(0, 6).SequenceEqual(Magic) || fixedPart[6] != Version || fixedPart[7] != 0)
        {
            throw new InvalidDataException("not a Mislata envelope (version 1)");
        }

        var chunkSize = BinaryPrimitives.ReadUInt32BigEndian(fixedPart.AsSpan(8));
        var dekLength = BinaryPrimitives.ReadUInt32BigEndian(fixedPart.AsSpan(24));
        if (chunkSize is < MinChunkSize or > MaxChunkSize || dekLength is < 1 or > MaxDekLength)
        {
            throw new InvalidDataException("envelope header out of range");
        }

        var header = new byte[28 + (int)dekLength];
        fixedPart.CopyTo(header, 0);
        if (await ReadFullAsync(input, header.AsMemory(28), cancellationToken).ConfigureAwait(false) != dekLength)
        {
            throw new InvalidDataException("envelope header truncated");
        }

        var dek = Encoding.ASCII.GetString(header, 28, (int)dekLength);
        return ((int)chunkSize, fixedPart[12..24], dek, header);
    }

    internal static void Nonce(ReadOnlySpan<byte> baseNonce, long index, Span<byte> nonce)
    {
        baseNonce.CopyTo(nonce);
        Span<byte> counter = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(counter, (ulong)index);
        for (var i = 0; i < 8; i++)
        {
            nonce[4 + i] ^= counter[i];
        }
    }

    internal static void AssociatedData(ReadOnlySpan<byte> headerHash, long index, bool final, Span<byte> aad)
    {
        headerHash.CopyTo(aad);
        BinaryPrimitives.WriteUInt64BigEndian(aad[32..], (ulong)index);
        aad[40] = final ? (byte)1 : (byte)0;
    }

    internal const int AssociatedDataLength = 41;

    /// <summary>Encrypts <paramref name="input"/> to <paramref name="output"/> under <paramref name="dek"/>; memory: four chunk buffers.</summary>
    internal static async Task<long> EncryptAsync(Stream input, Stream output, byte[] dek, string encryptedDek, int chunkSize, IProgress<long>? progress,
        CancellationToken cancellationToken)
    {
        if (chunkSize is < MinChunkSize or > MaxChunkSize)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkSize), $"between {MinChunkSize} and {MaxChunkSize}");
        }

        var baseNonce = RandomNumberGenerator.GetBytes(NonceLength);
        var header = Header(chunkSize, baseNonce, encryptedDek);
        if (header.Length - 28 > MaxDekLength)
        {
            throw new ArgumentException("encrypted data key too long", nameof(encryptedDek));
        }

        await output.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        var headerHash = SHA256.HashData(header);
        var current = new byte[chunkSize];
        var next = new byte[chunkSize];
        var sealedChunk = new byte[chunkSize + TagLength];
        var nonce = new byte[NonceLength];
        var aad = new byte[AssociatedDataLength];
        using var aes = new AesGcm(dek, TagLength);
        long total = 0;
        var filled = await ReadFullAsync(input, current, cancellationToken).ConfigureAwait(false);
        for (long index = 0; ; index++)
        {
            var nextFilled = filled == chunkSize ? await ReadFullAsync(input, next, cancellationToken).ConfigureAwait(false) : 0;
            var final = nextFilled == 0;
            Nonce(baseNonce, index, nonce);
            AssociatedData(headerHash, index, final, aad);
            aes.Encrypt(nonce, current.AsSpan(0, filled), sealedChunk.AsSpan(0, filled), sealedChunk.AsSpan(filled, TagLength), aad);
            await output.WriteAsync(sealedChunk.AsMemory(0, filled + TagLength), cancellationToken).ConfigureAwait(false);
            total += filled;
            progress?.Report(total);
            if (final)
            {
                break;
            }

            (current, next) = (next, current);
            filled = nextFilled;
        }

        CryptographicOperations.ZeroMemory(current);
        CryptographicOperations.ZeroMemory(next);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        return total;
    }

    /// <summary>Decrypts the chunks after a header already read. Nothing of a chunk is written before its tag checks.</summary>
    internal static async Task<long> DecryptChunksAsync(Stream input, Stream output, byte[] dek, int chunkSize, byte[] baseNonce, byte[] header,
        IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var headerHash = SHA256.HashData(header);
        var sealedSize = chunkSize + TagLength;
        var current = new byte[sealedSize];
        var next = new byte[sealedSize];
        var plain = new byte[chunkSize];
        var nonce = new byte[NonceLength];
        var aad = new byte[AssociatedDataLength];
        using var aes = new AesGcm(dek, TagLength);
        long total = 0;
        var filled = await ReadFullAsync(input, current, cancellationToken).ConfigureAwait(false);
        try
        {
            for (long index = 0; ; index++)
            {
                if (filled < TagLength)
                {
                    throw new CryptographicException("envelope truncated");
                }

                var nextFilled = filled == sealedSize ? await ReadFullAsync(input, next, cancellationToken).ConfigureAwait(false) : 0;
                var final = nextFilled == 0;
                var length = filled - TagLength;
                Nonce(baseNonce, index, nonce);
                AssociatedData(headerHash, index, final, aad);
                aes.Decrypt(nonce, current.AsSpan(0, length), current.AsSpan(length, TagLength), plain.AsSpan(0, length), aad);
                await output.WriteAsync(plain.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                total += length;
                progress?.Report(total);
                if (final)
                {
                    break;
                }

                (current, next) = (next, current);
                filled = nextFilled;
            }
        }
        catch (AuthenticationTagMismatchException e)
        {
            throw new CryptographicException("envelope authentication failed (tampered, truncated, reordered or wrong key)", e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }

        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        return total;
    }

    internal static async Task<int> ReadFullAsync(Stream input, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await input.ReadAsync(buffer[total..], cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }
}
