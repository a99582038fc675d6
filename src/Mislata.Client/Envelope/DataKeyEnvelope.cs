using System.Security.Cryptography;
using Mislata.Client.Contracts;

namespace Mislata.Client.Envelope;

/// <summary>What to encrypt under.</summary>
/// <param name="KeyId">The key encryption key (default: the tenant's default encryption key).</param>
/// <param name="Context">Associated data bound to the data key: the same string is needed to decrypt.</param>
/// <param name="ChunkSize">Plaintext bytes per chunk (<see cref="EnvelopeFormat.DefaultChunkSize"/>).</param>
public sealed record EnvelopeOptions(Guid? KeyId = null, string? Context = null, int ChunkSize = EnvelopeFormat.DefaultChunkSize);

/// <summary>The outcome of an envelope encryption.</summary>
public sealed record EnvelopeResult(long PlaintextBytes, Guid KeyId, int KeyVersion, string Algorithm);

/// <summary>
/// Envelope encryption of data of any size with a fresh data key from <c>POST /datakey</c>: the data never leaves the
/// process, only the 32-byte data key is wrapped by the API. The plaintext data key lives in a pinned buffer that is
/// zeroed as soon as the stream is done; the encrypted data key travels in the envelope's header
/// (<see cref="EnvelopeFormat"/>), so decryption needs only the envelope, the API (<c>POST /decrypt</c>) and the
/// context. Memory stays constant (a few chunk buffers) whatever the size.
/// </summary>
/// <remarks>
/// The data key also passes through the JSON of the <c>/datakey</c> answer as a managed string, which cannot be
/// wiped; it is dropped at once and collected with the response.
/// </remarks>
public sealed class DataKeyEnvelope(MislataClient client)
{
    /// <summary>Encrypts <paramref name="plaintext"/> to <paramref name="output"/> (both streamed; neither is disposed).</summary>
    public async Task<EnvelopeResult> EncryptAsync(Stream plaintext, Stream output, EnvelopeOptions? options = null, IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        ArgumentNullException.ThrowIfNull(output);
        options ??= new EnvelopeOptions();
        if (options.ChunkSize is < EnvelopeFormat.MinChunkSize or > EnvelopeFormat.MaxChunkSize)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"ChunkSize must be between {EnvelopeFormat.MinChunkSize} and {EnvelopeFormat.MaxChunkSize}");
        }

        var dataKey = await client.Crypto.DataKeyAsync(new DataKeyRequest(options.KeyId, 32, true, options.Context), cancellationToken).ConfigureAwait(false);
        var dek = Pinned(dataKey.Plaintext ?? throw new MislataApiException(200, "invalid_response", detail: "no plaintext data key"));
        try
        {
            var bytes = await EnvelopeFormat.EncryptAsync(plaintext, output, dek, dataKey.EncryptedPayload, options.ChunkSize, progress, cancellationToken)
                .ConfigureAwait(false);
            return new EnvelopeResult(bytes, dataKey.KeyId, dataKey.KeyVersion, dataKey.Algorithm);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dek);
        }
    }

    /// <summary>
    /// Decrypts an envelope: the data key through <c>POST /decrypt</c> (with <paramref name="context"/>), then the chunks.
    /// A changed, truncated, extended or reordered envelope is a <see cref="CryptographicException"/>; output already
    /// written belongs to chunks that authenticated, so write to a temporary file and keep it only on success.
    /// </summary>
    public async Task<long> DecryptAsync(Stream envelope, Stream output, string? context = null, IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(output);
        var (chunkSize, baseNonce, encryptedDek, header) = await EnvelopeFormat.ReadHeaderAsync(envelope, cancellationToken).ConfigureAwait(false);
        var opened = await client.Crypto.DecryptAsync(new DecryptRequest(encryptedDek, context), cancellationToken).ConfigureAwait(false);
        if (opened.Encoding != ValueEncoding.Base64)
        {
            throw new InvalidDataException("the envelope's data key is not a data key");
        }

        var dek = Pinned(opened.Plaintext);
        try
        {
            if (dek.Length != 32)
            {
                throw new InvalidDataException("the envelope's data key is not 32 bytes");
            }

            return await EnvelopeFormat.DecryptChunksAsync(envelope, output, dek, chunkSize, baseNonce, header, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dek);
        }
    }

    /// <summary>The key's bytes in a pinned array (the GC never copies it elsewhere before it is zeroed).</summary>
    private static byte[] Pinned(string base64)
    {
        var maxLength = base64.Length / 4 * 3;
        var buffer = GC.AllocateArray<byte>(maxLength, pinned: true);
        if (!Convert.TryFromBase64String(base64, buffer, out var written))
        {
            throw new InvalidDataException("data key is not base64");
        }

        if (written == maxLength)
        {
            return buffer;
        }

        var exact = GC.AllocateArray<byte>(written, pinned: true);
        buffer.AsSpan(0, written).CopyTo(exact);
        CryptographicOperations.ZeroMemory(buffer);
        return exact;
    }
}
