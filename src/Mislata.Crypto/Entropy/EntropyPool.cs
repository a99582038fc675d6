using System.Security.Cryptography;

namespace Mislata.Crypto.Entropy;

/// <summary>State of a QRNG pool, for health checks, metrics and <c>/random</c>'s <c>source</c>.</summary>
public sealed record QrngHealth(string SourceName, bool Healthy, HealthTestFailure LastFailure, bool SourceError, long AcceptedBlocks, long RejectedBlocks, int AvailableBlocks);

/// <summary>
/// Pulls raw QRNG bytes in blocks, runs the SP 800-90B continuous health tests on each block, discards failing
/// blocks and keeps the passing ones (in memory here; the worker's Redis pool is the platform's). Thread-safe.
/// </summary>
public sealed class EntropyPool(IEntropySource source, HealthTestOptions? options = null, int blockSize = 1024, int capacity = 64) : IQrngReseedSource, IDisposable
{
    private readonly Queue<byte[]> _blocks = new();
    private readonly Lock _gate = new();
    private readonly ContinuousHealthTests _tests = new(options ?? new HealthTestOptions());
    private long _accepted;
    private long _rejected;
    private bool _healthy = true;
    private bool _sourceError;
    private HealthTestFailure _lastFailure;

    public int BlockSize { get; } = blockSize;

    public QrngHealth Health
    {
        get
        {
            lock (_gate)
            {
                return new QrngHealth(source.Name, _healthy && !_sourceError, _lastFailure, _sourceError, _accepted, _rejected, _blocks.Count);
            }
        }
    }

    /// <summary>Reads up to <paramref name="blocks"/> blocks; returns how many passed the health tests.</summary>
    public async Task<int> RefillAsync(int blocks, CancellationToken cancellationToken)
    {
        var passed = 0;
        for (var i = 0; i < blocks; i++)
        {
            lock (_gate)
            {
                if (_blocks.Count >= capacity)
                {
                    break;
                }
            }

            var block = new byte[BlockSize];
            try
            {
                await source.ReadAsync(block, cancellationToken);
            }
            catch (CryptoException)
            {
                lock (_gate)
                {
                    _sourceError = true;
                }

                break;
            }

            lock (_gate)
            {
                _sourceError = false;
                var failure = _tests.Process(block);
                if (failure == HealthTestFailure.None)
                {
                    _blocks.Enqueue(block);
                    _accepted++;
                    _healthy = true;
                    passed++;
                }
                else
                {
                    // Discard the whole block and restart the tests on fresh samples.
                    CryptographicOperations.ZeroMemory(block);
                    _tests.Reset();
                    _rejected++;
                    _healthy = false;
                    _lastFailure = failure;
                }
            }
        }

        return passed;
    }

    /// <summary>Takes health-tested bytes (whole blocks, consumed once). False when the pool is empty or unhealthy.</summary>
    public bool TryTake(Span<byte> destination)
    {
        lock (_gate)
        {
            if (!_healthy || _sourceError || _blocks.Count * BlockSize < destination.Length)
            {
                return false;
            }

            var offset = 0;
            while (offset < destination.Length)
            {
                var block = _blocks.Dequeue();
                var n = Math.Min(block.Length, destination.Length - offset);
                block.AsSpan(0, n).CopyTo(destination[offset..]);
                CryptographicOperations.ZeroMemory(block);
                offset += n;
            }

            return true;
        }
    }

    /// <inheritdoc/>
    public string FallbackReason
    {
        get
        {
            var health = Health;
            return health.SourceError ? "QRNG source unavailable"
                : !health.Healthy ? $"QRNG failed the {(health.LastFailure == HealthTestFailure.RepetitionCount ? "repetition count" : "adaptive proportion")} health test"
                : "QRNG pool empty";
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            while (_blocks.Count > 0)
            {
                CryptographicOperations.ZeroMemory(_blocks.Dequeue());
            }
        }
    }
}

/// <summary>
/// Reseed policy of <see cref="MixedDrbg"/>. <paramref name="Reseeded"/> is told the source of every reseed
/// (<c>qrng</c>/<c>os</c>) and, on OS entropy, why (metrics); it runs under the DRBG's lock and must be cheap.
/// </summary>
public sealed record MixedDrbgOptions(long ReseedAfterBytes = 1 << 20, TimeSpan? ReseedInterval = null, Action<string, string?>? Reseeded = null)
{
    public TimeSpan Interval => ReseedInterval ?? TimeSpan.FromMinutes(5);
}

/// <summary>
/// The process-local entropy service: an SP 800-90A HMAC_DRBG (SHA-256) seeded with 32 bytes of OS entropy
/// concatenated with 32 bytes of health-tested QRNG entropy (when available), so its output is never weaker than the
/// OS CSPRNG. Reseeds after <see cref="MixedDrbgOptions.ReseedAfterBytes"/> bytes or <see cref="MixedDrbgOptions.Interval"/>.
/// <see cref="Source"/> says <c>qrng</c> when the current seed included QRNG bytes, <c>os</c> otherwise.
/// </summary>
public sealed class MixedDrbg : IRandomSource, IDisposable
{
    public const string SourceQrng = "qrng";
    public const string SourceOs = "os";
    private static readonly byte[] Personalization = "mislata/v1/drbg"u8.ToArray();
    private readonly IQrngReseedSource? _pool;
    private readonly MixedDrbgOptions _options;
    private readonly TimeProvider _time;
    private readonly HmacDrbg _drbg = new();
    private readonly Lock _gate = new();
    private long _bytesSinceReseed;
    private DateTimeOffset _seededAt;
    private bool _seeded;

    public MixedDrbg(IQrngReseedSource? qrngPool, MixedDrbgOptions? options = null, TimeProvider? time = null)
    {
        _pool = qrngPool;
        _options = options ?? new MixedDrbgOptions();
        _time = time ?? TimeProvider.System;
    }

    /// <summary><c>qrng</c> or <c>os</c>: where the current seed's non-OS half came from.</summary>
    public string Source { get; private set; } = SourceOs;

    /// <summary>Why the DRBG runs on OS entropy only (null when on QRNG).</summary>
    public string? FallbackReason { get; private set; }

    public long Reseeds { get; private set; }

    public void Fill(Span<byte> destination) => FillReportingSource(destination);

    /// <inheritdoc/>
    public string FillReportingSource(Span<byte> destination)
    {
        lock (_gate)
        {
            if (!_seeded || _bytesSinceReseed >= _options.ReseedAfterBytes || _time.GetUtcNow() - _seededAt >= _options.Interval || _drbg.NeedsReseed)
            {
                ReseedLocked();
            }

            while (!destination.IsEmpty)
            {
                var n = Math.Min(destination.Length, HmacDrbg.MaxBytesPerRequest);
                _drbg.Generate(destination[..n], []);
                destination = destination[n..];
                _bytesSinceReseed += n;
            }

            return Source;
        }
    }

    /// <summary>Forces a reseed now (e.g. after the pool was refilled).</summary>
    public void Reseed()
    {
        lock (_gate)
        {
            ReseedLocked();
        }
    }

    /// <summary>
    /// Reseeds now only if the current seed is OS-only and QRNG bytes are ready: called when the QRNG pool becomes
    /// available again, so the platform goes back to QRNG entropy without waiting for the reseed interval.
    /// </summary>
    public bool TryReseedFromQrng()
    {
        lock (_gate)
        {
            if (_pool is null || (_seeded && Source == SourceQrng))
            {
                return false;
            }

            Span<byte> qrng = stackalloc byte[32];
            if (!_pool.TryTake(qrng))
            {
                return false;
            }

            ReseedLocked(qrng);
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer)
            CryptographicOperations.ZeroMemory(qrng);
            return true;
        }
    }

    private void ReseedLocked() => ReseedLocked(default);

    private void ReseedLocked(ReadOnlySpan<byte> qrngTaken)
    {
        Span<byte> seed = stackalloc byte[64];
        RandomNumberGenerator.Fill(seed[..32]);
        if (!qrngTaken.IsEmpty)
        {
            qrngTaken.CopyTo(seed[32..]);
            Source = SourceQrng;
            FallbackReason = null;
        }
        else if (_pool is null)
        {
            Source = SourceOs;
            FallbackReason = "no QRNG configured";
            RandomNumberGenerator.Fill(seed[32..]);
        }
        else if (_pool.TryTake(seed[32..]))
        {
            Source = SourceQrng;
            FallbackReason = null;
        }
        else
        {
            Source = SourceOs;
            FallbackReason = _pool.FallbackReason;
            RandomNumberGenerator.Fill(seed[32..]);
        }

        Span<byte> nonce = stackalloc byte[16];
        RandomNumberGenerator.Fill(nonce);
        if (_seeded)
        {
            _drbg.Reseed(seed, nonce);
        }
        else
        {
            _drbg.Instantiate(seed, nonce, Personalization);
            _seeded = true;
        }

        // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the stack seed of the DRBG
        CryptographicOperations.ZeroMemory(seed);
        _bytesSinceReseed = 0;
        _seededAt = _time.GetUtcNow();
        Reseeds++;
        _options.Reseeded?.Invoke(Source, FallbackReason);
    }

    public void Dispose() => _drbg.Dispose();
}
