using System.Buffers.Binary;
using System.Security.Cryptography;
using Mislata.Client.Envelope;

namespace Mislata.Client.Tests.Envelope;

/// <summary>The chunked format round-trips every size and refuses any change, truncation, extension, reordering or swap.</summary>
public sealed class EnvelopeFormatTests
{
    private const int Chunk = EnvelopeFormat.MinChunkSize;
    private const string EncryptedDek = "eyJ2IjoxfQ==";

    private static async Task<byte[]> SealAsync(byte[] plaintext, byte[] dek, int chunk = Chunk)
    {
        using var output = new MemoryStream();
        Assert.Equal(plaintext.Length, await EnvelopeFormat.EncryptAsync(new MemoryStream(plaintext), output, dek, EncryptedDek, chunk, null, default));
        return output.ToArray();
    }

    private static async Task<byte[]> OpenAsync(byte[] envelope, byte[] dek)
    {
        using var input = new MemoryStream(envelope);
        var (chunkSize, nonce, _, header) = await EnvelopeFormat.ReadHeaderAsync(input, default);
        using var output = new MemoryStream();
        await EnvelopeFormat.DecryptChunksAsync(input, output, dek, chunkSize, nonce, header, null, default);
        return output.ToArray();
    }

    private static int HeaderLength => 28 + EncryptedDek.Length;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(Chunk - 1)]
    [InlineData(Chunk)]
    [InlineData(Chunk + 1)]
    [InlineData(3 * Chunk)]
    [InlineData(3 * Chunk + 17)]
    public async Task Every_size_round_trips_with_one_tag_per_chunk(int size)
    {
        var dek = RandomNumberGenerator.GetBytes(32);
        var plaintext = RandomNumberGenerator.GetBytes(size);

        var envelope = await SealAsync(plaintext, dek);

        var chunks = Math.Max(1, (size + Chunk - 1) / Chunk);
        Assert.Equal(HeaderLength + size + chunks * EnvelopeFormat.TagLength, envelope.Length);
        Assert.Equal("MSLENV"u8.ToArray(), envelope[..6]);
        Assert.Equal(EncryptedDek, (await EnvelopeFormat.ReadHeaderAsync(new MemoryStream(envelope), default)).EncryptedDek);
        Assert.Equal(plaintext, await OpenAsync(envelope, dek));
    }

    [Fact]
    public async Task The_same_plaintext_twice_gives_different_envelopes()
    {
        var dek = RandomNumberGenerator.GetBytes(32);
        var plaintext = new byte[100];
        Assert.NotEqual(await SealAsync(plaintext, dek), await SealAsync(plaintext, dek));
    }

    public static TheoryData<string> Tamperings => new() { "bit flip in a chunk", "bit flip in a tag", "header dek", "header chunk size", "drop last chunk", "drop last bytes", "append", "swap chunks", "wrong key" };

    [Theory]
    [MemberData(nameof(Tamperings))]
    public async Task A_tampered_envelope_is_refused(string tampering)
    {
        var dek = RandomNumberGenerator.GetBytes(32);
        var plaintext = RandomNumberGenerator.GetBytes(3 * Chunk + 100);
        var e = await SealAsync(plaintext, dek);
        var sealedChunk = Chunk + EnvelopeFormat.TagLength;
        var key = dek;
        switch (tampering)
        {
            case "bit flip in a chunk": e[HeaderLength + sealedChunk + 5] ^= 1; break;
            case "bit flip in a tag": e[^1] ^= 0x80; break;
            case "header dek": e[30] ^= 1; break;
            case "header chunk size": BinaryPrimitives.WriteUInt32BigEndian(e.AsSpan(8), Chunk * 2); break;
            case "drop last chunk": e = e[..(HeaderLength + 3 * sealedChunk)]; break;
            case "drop last bytes": e = e[..^3]; break;
            case "append": e = [.. e, .. new byte[EnvelopeFormat.TagLength + 1]]; break;
            case "swap chunks":
                var first = e[HeaderLength..(HeaderLength + sealedChunk)];
                e.AsSpan(HeaderLength + sealedChunk, sealedChunk).CopyTo(e.AsSpan(HeaderLength));
                first.CopyTo(e.AsSpan(HeaderLength + sealedChunk));
                break;
            case "wrong key": key = RandomNumberGenerator.GetBytes(32); break;
        }

        var failure = await Record.ExceptionAsync(() => OpenAsync(e, key));
        Assert.True(failure is CryptographicException or InvalidDataException, $"{tampering}: {failure?.GetType().Name ?? "accepted"}");
    }

    [Fact]
    public async Task A_chunk_from_another_envelope_under_the_same_key_is_refused()
    {
        var dek = RandomNumberGenerator.GetBytes(32);
        var a = await SealAsync(new byte[2 * Chunk + 1], dek);
        var b = await SealAsync(new byte[2 * Chunk + 1], dek);
        b.AsSpan(HeaderLength, Chunk + EnvelopeFormat.TagLength).CopyTo(a.AsSpan(HeaderLength));

        await Assert.ThrowsAsync<CryptographicException>(() => OpenAsync(a, dek));
    }

    [Fact]
    public async Task Not_an_envelope_and_out_of_range_headers_are_format_errors()
    {
        await Assert.ThrowsAsync<InvalidDataException>(() => OpenAsync("not an envelope at all, just text ......"u8.ToArray(), new byte[32]));
        var e = await SealAsync([1, 2, 3], RandomNumberGenerator.GetBytes(32));
        BinaryPrimitives.WriteUInt32BigEndian(e.AsSpan(8), EnvelopeFormat.MaxChunkSize + 1);
        await Assert.ThrowsAsync<InvalidDataException>(() => OpenAsync(e, new byte[32]));
        var f = await SealAsync([1, 2, 3], RandomNumberGenerator.GetBytes(32));
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(24), EnvelopeFormat.MaxDekLength + 1);
        await Assert.ThrowsAsync<InvalidDataException>(() => OpenAsync(f, new byte[32]));
    }

    [Fact]
    public void Chunk_nonces_are_the_base_nonce_xor_the_index()
    {
        var baseNonce = Convert.FromHexString("000102030405060708090a0b");
        var nonce = new byte[12];
        EnvelopeFormat.Nonce(baseNonce, 0, nonce);
        Assert.Equal(baseNonce, nonce);
        EnvelopeFormat.Nonce(baseNonce, 0x0102, nonce);
        Assert.Equal(Convert.FromHexString("000102030405060708090b09"), nonce);
    }
}
