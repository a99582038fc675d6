using Microsoft.Extensions.Options;
using Npgsql;

namespace Mislata.Infrastructure.Encryption;

/// <summary>
/// Writes the usage the <see cref="KeyUsageTracker"/> counted, every <see cref="OperationKeyOptions.UsageFlushInterval"/>
/// and once more at shutdown: one <c>UPDATE … SET invocation_count = invocation_count + @delta, encryption_count = …</c> per key version used
/// since the last flush, sent as one batch. A failed write keeps the deltas for the next round.
/// </summary>
public sealed partial class KeyUsageFlusher(
    KeyUsageTracker tracker, NpgsqlDataSource dataSource, TimeProvider time, IOptions<OperationKeyOptions> options, ILogger<KeyUsageFlusher> logger) : BackgroundService
{
    private const int BatchSize = 500;

    // Counters idle this long are dropped: longer than any key stays cached, so a later use reloads the stored count.
    private readonly TimeSpan _forgetIdleAfter = TimeSpan.FromTicks(Math.Max(TimeSpan.FromHours(1).Ticks, options.Value.Lifetime.Ticks * 2));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.UsageFlushInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(cancellationToken);
    }

    /// <summary>One round; returns how many key versions were written.</summary>
    public async Task<int> FlushAsync(CancellationToken cancellationToken)
    {
        var changes = tracker.TakeChanges(time.GetUtcNow() - _forgetIdleAfter);
        var written = 0;
        for (var start = 0; start < changes.Count; start += BatchSize)
        {
            var chunk = changes.GetRange(start, Math.Min(BatchSize, changes.Count - start));
            try
            {
                await WriteAsync(chunk, cancellationToken);
                written += chunk.Count;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or OperationCanceledException or InvalidOperationException)
            {
                foreach (var change in chunk)
                {
                    tracker.FlushFailed(change);
                }

                LogFlushFailed(logger, chunk.Count, ex.GetType().Name);
            }
        }

        return written;
    }

    private async Task WriteAsync(List<UsageDelta> chunk, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection);
        foreach (var change in chunk)
        {
            var command = new NpgsqlBatchCommand(
                "UPDATE mislata.key_versions SET invocation_count = invocation_count + $1, encryption_count = encryption_count + $5, " +
                "last_used_at = CASE WHEN $2::timestamptz IS NULL THEN last_used_at ELSE GREATEST(COALESCE(last_used_at, $2::timestamptz), $2::timestamptz) END " +
                "WHERE key_id = $3 AND version = $4 RETURNING invocation_count");
            command.Parameters.Add(new NpgsqlParameter { Value = change.Delta });
            command.Parameters.Add(new NpgsqlParameter { Value = change.LastUseTicks == 0 ? DBNull.Value : new DateTime(change.LastUseTicks, DateTimeKind.Utc) });
            command.Parameters.Add(new NpgsqlParameter { Value = change.KeyId });
            command.Parameters.Add(new NpgsqlParameter { Value = change.Version });
            command.Parameters.Add(new NpgsqlParameter { Value = change.Encryptions });
            batch.BatchCommands.Add(command);
        }

        var stored = new long?[chunk.Count];
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            for (var i = 0; i < chunk.Count; i++)
            {
                if (await reader.ReadAsync(cancellationToken))
                {
                    stored[i] = reader.GetInt64(0);
                }

                if (i < chunk.Count - 1)
                {
                    await reader.NextResultAsync(cancellationToken);
                }
            }
        }

        for (var i = 0; i < chunk.Count; i++)
        {
            // A version that no longer exists (its tenant was deleted) has nothing to count.
            tracker.Flushed(chunk[i], stored[i]);
        }
    }

    [LoggerMessage(EventId = 5300, Level = LogLevel.Warning, Message = "Could not write the usage of {Count} key versions ({ExceptionType}); kept for the next round")]
    private static partial void LogFlushFailed(ILogger logger, int count, string exceptionType);
}
