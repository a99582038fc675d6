using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Mislata.Core.Audit;
using Npgsql;
using NpgsqlTypes;

namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>
/// The audit log in PostgreSQL with group commit: callers enqueue events and wait; one writer per process takes
/// whatever is queued (up to <see cref="MaxBatch"/>), appends it to each tenant's keyed chain in one transaction and
/// completes every caller at once. Each link and the chain head are MAC'd under the current master key's chain key
/// (<see cref="AuditChainKeys"/>), one HMAC per event: the cost of keying is negligible beside the round trip.
/// Fail-closed: if the batch cannot be committed, every caller in it gets <see cref="AuditUnavailableException"/>.
/// </summary>
public sealed partial class PostgresAuditLog(NpgsqlDataSource dataSource, AuditChainKeys keys, TimeProvider time, ILogger<PostgresAuditLog> logger)
    : IAuditLog, IHostedService, IAsyncDisposable
{
    internal const int MaxBatch = 512;
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(10);

    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(20_000)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private readonly CancellationTokenSource _stopping = new();
    private Task? _writer;

    public async Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        EnsureWriter();
        var pending = new Pending(auditEvent, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(WaitLimit);
        try
        {
            await _queue.Writer.WriteAsync(pending, timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AuditUnavailableException("The audit log did not accept the event in time.");
        }
        catch (ChannelClosedException ex)
        {
            throw new AuditUnavailableException("The audit log is shutting down.", ex);
        }

        try
        {
            await pending.Completion.Task.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (pending.TryWithdraw())
        {
            // Still queued: withdrawn, and the writer skips it — "unavailable" always means "not stored", so a caller
            // that carries the event over (or answers 503 and changes nothing) never records it twice.
            cancellationToken.ThrowIfCancellationRequested();
            throw new AuditUnavailableException("The audit log did not confirm the event in time.");
        }
        catch (OperationCanceledException)
        {
            // Already in a batch being committed: that commit's outcome is the answer (bounded by the command timeouts).
            await pending.Completion.Task;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        EnsureWriter();
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stopping.CancelAsync();
        if (_writer is not null)
        {
            await _writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _stopping.Dispose();
    }

    private void EnsureWriter()
    {
        if (_writer is null)
        {
            lock (_queue)
            {
                _writer ??= Task.Run(WriteLoopAsync);
            }
        }
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stopping.Token))
            {
                while (batch.Count < MaxBatch && reader.TryRead(out var item))
                {
                    if (item.TryTake())
                    {
                        batch.Add(item);
                    }
                }

                if (batch.Count == 0)
                {
                    continue;
                }

                try
                {
                    await CommitAsync(batch, _stopping.Token);
                    foreach (var p in batch)
                    {
                        p.Completion.TrySetResult();
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !_stopping.IsCancellationRequested)
                {
                    LogBatchFailed(logger, batch.Count, ex.GetType().Name, (ex as PostgresException)?.SqlState);
                    var failure = new AuditUnavailableException("The audit log could not store the event.", ex);
                    foreach (var p in batch)
                    {
                        p.Completion.TrySetException(failure);
                    }
                }

                batch.Clear();
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            var failure = new AuditUnavailableException("The audit log is shutting down.");
            while (reader.TryRead(out var left))
            {
                left.Completion.TrySetException(failure);
            }
        }
    }

    [SuppressMessage("Security", "CA2100", Justification = "Constant SQL with parameters.")]
    private async Task CommitAsync(List<Pending> batch, CancellationToken cancellationToken)
    {
        var now = AuditChain.Truncate(time.GetUtcNow());
        var keyId = keys.CurrentId;
        var key = keys.Current;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);

        // Chains are locked in a fixed order so that replicas committing overlapping chains cannot deadlock.
        foreach (var group in batch.GroupBy(p => AuditChain.ChainOf(p.Event.TenantId)).OrderBy(g => g.Key))
        {
            await using (var ensure = new NpgsqlCommand(
                "INSERT INTO mislata.audit_chain_heads (chain, last_sequence, last_hash, mac_key_id, mac) VALUES (@chain, 0, @genesis, @keyId, @mac) ON CONFLICT (chain) DO NOTHING",
                connection, tx))
            {
                ensure.Parameters.AddWithValue("chain", group.Key);
                ensure.Parameters.AddWithValue("genesis", AuditChain.Genesis);
                ensure.Parameters.AddWithValue("keyId", keyId);
                ensure.Parameters.AddWithValue("mac", AuditChain.HeadMac(key, keyId, group.Key, 0, AuditChain.Genesis));
                await ensure.ExecuteNonQueryAsync(cancellationToken);
            }

            long sequence;
            byte[] previous;
            await using (var head = new NpgsqlCommand(
                "SELECT last_sequence, last_hash FROM mislata.audit_chain_heads WHERE chain = @chain FOR UPDATE", connection, tx))
            {
                head.Parameters.AddWithValue("chain", group.Key);
                await using var reader = await head.ExecuteReaderAsync(cancellationToken);
                await reader.ReadAsync(cancellationToken);
                sequence = reader.GetInt64(0);
                previous = (byte[])reader[1];
            }

            var records = new List<AuditEventRecord>();
            foreach (var pending in group)
            {
                var e = pending.Event;
                var record = new AuditEventRecord
                {
                    Id = Guid.CreateVersion7(now),
                    Chain = group.Key,
                    Sequence = ++sequence,
                    OccurredAt = now,
                    TenantId = e.TenantId,
                    ActorType = Text(e.ActorType),
                    ActorId = Clip(e.ActorId, 200)!,
                    Action = Clip(e.Action, 100)!,
                    ResourceType = Clip(e.ResourceType, 64),
                    ResourceId = Clip(e.ResourceId, 200),
                    Outcome = Text(e.Outcome),
                    ErrorCode = Clip(e.ErrorCode, 64),
                    SourceIp = Clip(e.SourceIp, 64),
                    RequestId = Clip(e.RequestId, 128),
                    Details = AuditChain.SerializeDetails(e.Details),
                    PrevHash = previous,
                    MacKeyId = keyId,
                };
                record.Hash = AuditChain.ComputeKeyed(key, previous, record);
                previous = record.Hash;
                records.Add(record);
            }

            await using (var copy = await connection.BeginBinaryImportAsync(
                "COPY mislata.audit_events (id, chain, sequence, occurred_at, tenant_id, actor_type, actor_id, action, resource_type, resource_id, outcome, error_code, source_ip, request_id, details, prev_hash, hash, mac_key_id) FROM STDIN (FORMAT BINARY)",
                cancellationToken))
            {
                foreach (var r in records)
                {
                    await copy.StartRowAsync(cancellationToken);
                    await copy.WriteAsync(r.Id, NpgsqlDbType.Uuid, cancellationToken);
                    await copy.WriteAsync(r.Chain, NpgsqlDbType.Uuid, cancellationToken);
                    await copy.WriteAsync(r.Sequence, NpgsqlDbType.Bigint, cancellationToken);
                    await copy.WriteAsync(r.OccurredAt, NpgsqlDbType.TimestampTz, cancellationToken);
                    await WriteNullableAsync(copy, r.TenantId, NpgsqlDbType.Uuid, cancellationToken);
                    await copy.WriteAsync(r.ActorType, NpgsqlDbType.Text, cancellationToken);
                    await copy.WriteAsync(r.ActorId, NpgsqlDbType.Text, cancellationToken);
                    await copy.WriteAsync(r.Action, NpgsqlDbType.Text, cancellationToken);
                    await WriteNullableAsync(copy, r.ResourceType, NpgsqlDbType.Text, cancellationToken);
                    await WriteNullableAsync(copy, r.ResourceId, NpgsqlDbType.Text, cancellationToken);
                    await copy.WriteAsync(r.Outcome, NpgsqlDbType.Text, cancellationToken);
                    await WriteNullableAsync(copy, r.ErrorCode, NpgsqlDbType.Text, cancellationToken);
                    await WriteNullableAsync(copy, r.SourceIp, NpgsqlDbType.Text, cancellationToken);
                    await WriteNullableAsync(copy, r.RequestId, NpgsqlDbType.Text, cancellationToken);
                    await WriteNullableAsync(copy, r.Details, NpgsqlDbType.Jsonb, cancellationToken);
                    await copy.WriteAsync(r.PrevHash, NpgsqlDbType.Bytea, cancellationToken);
                    await copy.WriteAsync(r.Hash, NpgsqlDbType.Bytea, cancellationToken);
                    await copy.WriteAsync(r.MacKeyId!, NpgsqlDbType.Text, cancellationToken);
                }

                await copy.CompleteAsync(cancellationToken);
            }

            await using (var advance = new NpgsqlCommand(
                "UPDATE mislata.audit_chain_heads SET last_sequence = @sequence, last_hash = @hash, mac_key_id = @keyId, mac = @mac WHERE chain = @chain", connection, tx))
            {
                advance.Parameters.AddWithValue("chain", group.Key);
                advance.Parameters.AddWithValue("sequence", sequence);
                advance.Parameters.AddWithValue("hash", previous);
                advance.Parameters.AddWithValue("keyId", keyId);
                advance.Parameters.AddWithValue("mac", AuditChain.HeadMac(key, keyId, group.Key, sequence, previous));
                await advance.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await tx.CommitAsync(cancellationToken);
    }

    private static async Task WriteNullableAsync<T>(NpgsqlBinaryImporter copy, T? value, NpgsqlDbType type, CancellationToken cancellationToken)
    {
        if (value is null)
        {
            await copy.WriteNullAsync(cancellationToken);
        }
        else
        {
            await copy.WriteAsync(value, type, cancellationToken);
        }
    }

    internal static string Text(AuditActorType type) => type switch
    {
        AuditActorType.User => "user",
        AuditActorType.ApiKey => "api_key",
        AuditActorType.Client => "client",
        AuditActorType.Anonymous => "anonymous",
        _ => "system",
    };

    internal static string Text(AuditOutcome outcome) => outcome switch
    {
        AuditOutcome.Success => "success",
        AuditOutcome.Denied => "denied",
        _ => "failure",
    };

    private static string? Clip(string? value, int max) => value is null || value.Length <= max ? value : value[..max];

    [LoggerMessage(EventId = 300, Level = LogLevel.Error, Message = "Audit batch of {Count} event(s) could not be stored: {ErrorType} {SqlState}")]
    private static partial void LogBatchFailed(ILogger logger, int count, string errorType, string? sqlState);

    /// <summary>A queued event: taken by the writer into a batch, or withdrawn by its caller after the wait limit — never both.</summary>
    private sealed class Pending(AuditEvent auditEvent, TaskCompletionSource completion)
    {
        private const int Queued = 0;
        private const int Taken = 1;
        private const int Withdrawn = 2;
        private int _state;

        public AuditEvent Event { get; } = auditEvent;

        public TaskCompletionSource Completion { get; } = completion;

        public bool TryTake() => Interlocked.CompareExchange(ref _state, Taken, Queued) == Queued;

        public bool TryWithdraw() => Interlocked.CompareExchange(ref _state, Withdrawn, Queued) == Queued;
    }
}
