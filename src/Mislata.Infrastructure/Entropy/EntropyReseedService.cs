using Microsoft.Extensions.Options;
using Mislata.Crypto.Entropy;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Entropy;

/// <summary>
/// api: keeps <see cref="QrngReseedBuffer"/> stocked from the Redis pool, off the request path: pops a sealed block
/// (atomically, so no two processes share one), opens it and hands it to the buffer; when the process's DRBG runs on
/// OS entropy it reseeds it from QRNG at once. When the pool is empty, Redis is down or no QRNG is configured, it records
/// why and looks again later; the DRBG keeps running on OS entropy meanwhile.
/// </summary>
public sealed partial class EntropyReseedService(
    RedisEntropyPool pool,
    EntropyBlockSealer sealer,
    QrngReseedBuffer buffer,
    MixedDrbg drbg,
    EntropyMetrics metrics,
    IOptions<EntropyOptions> options,
    ILogger<EntropyReseedService> logger) : BackgroundService
{
    private readonly Health.BackgroundRounds _rounds = new(logger, nameof(EntropyReseedService));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.FillInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            var more = false;
            var stocked = await _rounds.RunAsync(
                async _ =>
                {
                    try
                    {
                        more = buffer.Wants && await TryStockOneAsync();
                    }
                    catch (Exception ex) when (ex is RedisException or TimeoutException)
                    {
                        buffer.SetFallbackReason("entropy pool unreachable");
                    }
                },
                stoppingToken);
            if (!stocked)
            {
                buffer.SetFallbackReason("entropy pool unreadable");
            }

            if (more)
            {
                continue;
            }

            try
            {
                await buffer.WaitForDemandAsync(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Pops and opens one block; true when the buffer got one (look for another at once).</summary>
    public async Task<bool> TryStockOneAsync()
    {
        var blob = await pool.PopAsync();
        if (blob is null)
        {
            var status = await pool.ReadStatusAsync();
            buffer.SetFallbackReason(status switch
            {
                null => "QRNG pool empty (no filler status)",
                { Source: EntropySourceStatus.NoSource } => "no QRNG configured",
                { Healthy: false, LastRejection: { } reason } => $"QRNG pool empty (source unhealthy: {reason})",
                _ => "QRNG pool empty",
            });
            metrics.PoolLevel(0);
            return false;
        }

        var block = sealer.TryOpen(blob);
        if (block is null)
        {
            // Tampered, swapped in from elsewhere or sealed under a master key this process does not have: never used.
            metrics.BlockUnopenable();
            LogUnopenable(logger);
            return true;
        }

        buffer.Add(block);
        drbg.TryReseedFromQrng();
        return true;
    }

    [LoggerMessage(EventId = 760, Level = LogLevel.Warning, Message = "Discarded an entropy pool block that failed authentication")]
    private static partial void LogUnopenable(ILogger logger);
}
