using System.Security.Cryptography;

namespace Mislata.Crypto.Entropy;

/// <summary>What became of one block read from a QRNG source.</summary>
public enum QrngBlockOutcome
{
    Accepted,

    /// <summary>SP 800-90B §4.4.1 repetition count test failed.</summary>
    RepetitionCount,

    /// <summary>SP 800-90B §4.4.2 adaptive proportion test failed.</summary>
    AdaptiveProportion,

    /// <summary>The block equals the previous one (a source replaying a buffer, e.g. a regular file read from its start).</summary>
    RepeatedBlock,

    /// <summary>The source could not be read (HTTP error, device missing, short read).</summary>
    SourceError,
}

/// <summary>One block: its bytes when accepted (the caller owns and zeroes them), else null.</summary>
public sealed record QrngBlock(QrngBlockOutcome Outcome, byte[]? Bytes);

/// <summary>
/// Reads fixed-size blocks from one QRNG source and runs the SP 800-90B continuous health tests over the stream: a
/// failing block is discarded whole (zeroed) and the tests restart on fresh samples. Not thread-safe: one reader per
/// source stream (the worker's pool filler holds a lock).
/// </summary>
public sealed class QrngBlockReader(IEntropySource source, int blockSize, HealthTestOptions? options = null)
{
    private readonly ContinuousHealthTests _tests = new(options ?? new HealthTestOptions());
    private readonly byte[] _previousDigest = new byte[32];
    private bool _hasPrevious;

    public string SourceName => source.Name;

    public int BlockSize { get; } = blockSize >= 64 ? blockSize : throw new ArgumentOutOfRangeException(nameof(blockSize), "A QRNG block has at least 64 bytes.");

    public async Task<QrngBlock> ReadAsync(CancellationToken cancellationToken)
    {
        var block = new byte[BlockSize];
        try
        {
            await source.ReadAsync(block, cancellationToken);
        }
        catch (CryptoException)
        {
            CryptographicOperations.ZeroMemory(block);
            _tests.Reset();
            return new QrngBlock(QrngBlockOutcome.SourceError, null);
        }

        var outcome = _tests.Process(block) switch
        {
            HealthTestFailure.RepetitionCount => QrngBlockOutcome.RepetitionCount,
            HealthTestFailure.AdaptiveProportion => QrngBlockOutcome.AdaptiveProportion,
            _ => QrngBlockOutcome.Accepted,
        };

        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(block, digest);
        if (outcome == QrngBlockOutcome.Accepted && _hasPrevious && CryptographicOperations.FixedTimeEquals(digest, _previousDigest))
        {
            outcome = QrngBlockOutcome.RepeatedBlock;
        }

        digest.CopyTo(_previousDigest);
        _hasPrevious = true;
        if (outcome == QrngBlockOutcome.Accepted)
        {
            return new QrngBlock(outcome, block);
        }

        CryptographicOperations.ZeroMemory(block);
        _tests.Reset();
        return new QrngBlock(outcome, null);
    }
}
