using Microsoft.Extensions.Options;
using Npgsql;

namespace Mislata.Infrastructure.Encryption;

/// <summary>
/// Writes the usage the <see cref="KeyUsageTracker"/> counted, every <see cref="OperationKeyOptions.UsageFlushInterval"/>
/// and once more at shutdown: one <c>UPDATE … SET invocation_count = invocation_count + delta, encryption_count = …</c> over the
/// key versions used since the last flush (up to 500 a statement). A failed write keeps the deltas for the next round.
/// </summary>
public sealed partial class KeyUsageFlusher(
    KeyUsageTracker tracker, NpgsqlDataSource dataSource, TimeProvider time, IOptions<OperationKeyOptions> options, ILogger<KeyUsageFlusher> logger) : BackgroundService
{
    private const int BatchSize = 500;

    private readonly Health.BackgroundRounds _rounds = new(logger, nameof(KeyUsageFlusher));

    // Counters idle this long are dropped: longer than any key stays cached, so a later use reloads the stored count.
    private readonly TimeSpan _forgetIdleAfter = TimeSpan.FromTicks(Math.Max(TimeSpan.FromHours(1).Ticks, options.Value.Lifetime.Ticks * 2));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.UsageFlushInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await _rounds.RunAsync(FlushAsync, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await _rounds.RunAsync(FlushAsync, cancellationToken);
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
            catch (Exception ex)
            {
                // Whatever failed (the driver, the circuit breaker, a cancelled shutdown), the deltas are kept.
                foreach (var change in chunk)
                {
                    tracker.FlushFailed(change);
                }

                LogFlushFailed(logger, chunk.Count, ex.GetType().Name);
            }
        }

        return written;
    }

    /// <summary>
    /// One statement for the whole chunk (its rows as arrays): with many keys in use, one UPDATE per key version each
    /// round cost PostgreSQL a statement per key — about one for every two operations with 10,000 keys.
    /// </summary>
    private async Task WriteAsync(List<UsageDelta> chunk, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            UPDATE mislata.key_versions v SET invocation_count = v.invocation_count + u.delta, encryption_count = v.encryption_count + u.encryptions,
                last_used_at = CASE WHEN u.last_use IS NULL THEN v.last_used_at ELSE GREATEST(COALESCE(v.last_used_at, u.last_use), u.last_use) END
            FROM unnest($1::uuid[], $2::integer[], $3::bigint[], $4::bigint[], $5::timestamptz[]) AS u(key_id, version, delta, encryptions, last_use)
            WHERE v.key_id = u.key_id AND v.version = u.version
            RETURNING v.key_id, v.version, v.invocation_count
            """, connection);
        var p = command.Parameters;
        p.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. chunk.Select(c => c.KeyId)] });
        p.Add(new NpgsqlParameter<int[]> { TypedValue = [.. chunk.Select(c => c.Version)] });
        p.Add(new NpgsqlParameter<long[]> { TypedValue = [.. chunk.Select(c => c.Delta)] });
        p.Add(new NpgsqlParameter<long[]> { TypedValue = [.. chunk.Select(c => c.Encryptions)] });
        p.Add(new NpgsqlParameter<DateTime?[]> { TypedValue = [.. chunk.Select(c => c.LastUseTicks == 0 ? (DateTime?)null : new DateTime(c.LastUseTicks, DateTimeKind.Utc))] });

        var stored = new Dictionary<(Guid, int), long>(chunk.Count);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                stored[(reader.GetGuid(0), reader.GetInt32(1))] = reader.GetInt64(2);
            }
        }

        foreach (var change in chunk)
        {
            // A version that no longer exists (its tenant was deleted) has nothing to count.
            tracker.Flushed(change, stored.TryGetValue((change.KeyId, change.Version), out var count) ? count : null);
        }
    }

    [LoggerMessage(EventId = 5300, Level = LogLevel.Warning, Message = "Could not write the usage of {Count} key versions ({ExceptionType}); kept for the next round")]
    private static partial void LogFlushFailed(ILogger logger, int count, string exceptionType);
}
