using Microsoft.Extensions.Options;
using Mislata.Crypto.Entropy;
using Mislata.Infrastructure.Entropy;
using Mislata.Infrastructure.Health;
using StackExchange.Redis;

namespace Mislata.Worker.Features.Entropy;

/// <summary>
/// Keeps the Redis entropy pool between its watermarks: when fewer than <see cref="EntropyOptions.LowWatermark"/>
/// sealed blocks remain, reads QRNG blocks, health-tests them (<see cref="QrngBlockReader"/>), seals the passing ones
/// and pushes them until <see cref="EntropyOptions.HighWatermark"/>. Rejected blocks are counted, never stored.
/// <para>
/// A hosted loop rather than a Hangfire recurring job: Hangfire's shortest schedule is one minute, too slow to refill
/// a pool that api processes drain under load (and to fill it within seconds of a start); the loop checks every
/// <see cref="EntropyOptions.FillInterval"/>. Among several worker replicas only the holder of a Redis lock
/// (<see cref="RedisEntropyPool.FillerLockKey"/>, renewed on every round, expiring if its holder dies) fills, so two
/// fillers never push at once and the continuous health tests see one stream; the others stand by.
/// </para>
/// </summary>
public sealed partial class EntropyPoolFiller(
    RedisEntropyPool pool,
    EntropyBlockSealer sealer,
    EntropyMetrics metrics,
    IOptions<EntropyOptions> options,
    IHttpClientFactory httpClients,
    TimeProvider time,
    ILogger<EntropyPoolFiller> logger) : BackgroundService
{
    public const string HttpClientName = "qrng";

    /// <summary>Consecutive rejected blocks after which a round stops (the source is unhealthy; try again next round).</summary>
    public const int MaxConsecutiveRejections = 4;

    private const int PushBatch = 8;
    private readonly string _holder = Guid.NewGuid().ToString("N");
    private readonly BackgroundRounds _rounds = new(logger, nameof(EntropyPoolFiller));
    private readonly Lazy<QrngBlockReader?> _reader = new(() => CreateReader(options.Value, httpClients));
    private long _accepted;
    private long _rejected;
    private bool _healthy = true;
    private string? _lastRejection;

    private TimeSpan LockTtl => TimeSpan.FromTicks(Math.Max(options.Value.FillInterval.Ticks * 5, TimeSpan.FromSeconds(15).Ticks));

    private TimeSpan StatusTtl => LockTtl * 2;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (_reader.Value is null)
        {
            LogNoSource(logger);
        }

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await _rounds.RunAsync(
                    async ct =>
                    {
                        try
                        {
                            await RunOnceAsync(ct);
                        }
                        catch (Exception ex) when (ex is RedisException or TimeoutException)
                        {
                            LogRedisDown(logger);
                        }
                    },
                    stoppingToken);

                await Task.Delay(settings.FillInterval, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Stops the loop, then hands the filler role over at once (another worker need not wait for the lock to expire).</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await pool.ReleaseFillerLockAsync(_holder);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // The lock expires by itself.
        }
    }

    /// <summary>
    /// One round: takes (or renews) the filler lock and, when holding it, refills the pool if it is below its low
    /// watermark. Returns the blocks pushed (0 when another worker fills, the pool is high enough or the source failed).
    /// </summary>
    internal async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!await pool.HoldFillerLockAsync(_holder, LockTtl))
        {
            metrics.PoolLevel(await pool.LevelAsync());
            return 0;
        }

        if (_reader.Value is not { } reader)
        {
            await pool.WriteStatusAsync(new EntropySourceStatus(EntropySourceStatus.NoSource, true, 0, 0, null, time.GetUtcNow()), StatusTtl);
            metrics.PoolLevel(await pool.LevelAsync());
            return 0;
        }

        var level = await pool.LevelAsync();
        var pushed = 0;
        if (level < settings.LowWatermark)
        {
            pushed = await FillAsync(reader, level, settings, cancellationToken);
            level = await pool.LevelAsync();
        }

        metrics.PoolLevel(level);
        metrics.SourceHealth(reader.SourceName, _healthy);
        await pool.WriteStatusAsync(new EntropySourceStatus(reader.SourceName, _healthy, _accepted, _rejected, _lastRejection, time.GetUtcNow()), StatusTtl);
        return pushed;
    }

    private async Task<int> FillAsync(QrngBlockReader reader, long level, EntropyOptions settings, CancellationToken cancellationToken)
    {
        var pushed = 0;
        var consecutiveRejections = 0;
        var batch = new List<byte[]>(PushBatch);
        while (level + batch.Count < settings.HighWatermark && consecutiveRejections < MaxConsecutiveRejections)
        {
            var block = await reader.ReadAsync(cancellationToken);
            if (block.Bytes is { } bytes)
            {
                try
                {
                    batch.Add(sealer.Seal(bytes, OsRandomSource.Instance));
                }
                finally
                {
                    System.Security.Cryptography.CryptographicOperations.ZeroMemory(bytes);
                }

                _accepted++;
                _healthy = true;
                consecutiveRejections = 0;
                metrics.BlockAccepted(reader.SourceName);
            }
            else
            {
                _rejected++;
                _healthy = false;
                _lastRejection = ReasonOf(block.Outcome);
                consecutiveRejections++;
                metrics.BlockRejected(reader.SourceName, _lastRejection);
                LogRejected(logger, reader.SourceName, _lastRejection);
                if (block.Outcome == QrngBlockOutcome.SourceError)
                {
                    break;
                }
            }

            if (batch.Count == PushBatch)
            {
                level = await PushAsync(batch, settings);
                pushed += PushBatch;
                if (!await pool.HoldFillerLockAsync(_holder, LockTtl))
                {
                    return pushed;
                }
            }
        }

        if (batch.Count > 0)
        {
            pushed += batch.Count;
            await PushAsync(batch, settings);
        }

        return pushed;
    }

    private async Task<long> PushAsync(List<byte[]> batch, EntropyOptions settings)
    {
        var level = await pool.PushAsync(batch, settings.HighWatermark);
        batch.Clear();
        return level;
    }

    internal static string ReasonOf(QrngBlockOutcome outcome) => outcome switch
    {
        QrngBlockOutcome.RepetitionCount => "repetition count test",
        QrngBlockOutcome.AdaptiveProportion => "adaptive proportion test",
        QrngBlockOutcome.RepeatedBlock => "repeated block",
        QrngBlockOutcome.SourceError => "source error",
        _ => "accepted",
    };

    private static QrngBlockReader? CreateReader(EntropyOptions settings, IHttpClientFactory httpClients)
    {
        IEntropySource? source = settings.QrngUrl.Length > 0
            ? new HttpQrngSource(httpClients.CreateClient(HttpClientName), new HttpQrngOptions(settings.QrngUrl, settings.QrngJsonPath, settings.QrngFormat))
            : settings.QrngDevice.Length > 0 ? new DeviceQrngSource(settings.QrngDevice) : null;
        return source is null ? null : new QrngBlockReader(source, settings.BlockSize);
    }

    [LoggerMessage(EventId = 750, Level = LogLevel.Information, Message = "No QRNG configured (QAPI_QRNG_URL, QAPI_QRNG_DEVICE): the platform runs on OS entropy")]
    private static partial void LogNoSource(ILogger logger);

    [LoggerMessage(EventId = 751, Level = LogLevel.Warning, Message = "Discarded a block from {Source}: {Reason}")]
    private static partial void LogRejected(ILogger logger, string source, string reason);

    [LoggerMessage(EventId = 752, Level = LogLevel.Warning, Message = "The entropy pool could not be reached in Redis; retrying")]
    private static partial void LogRedisDown(ILogger logger);
}
