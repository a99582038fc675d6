using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Mislata.Core.Audit;
using Npgsql;
using NpgsqlTypes;

namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>
/// The audit log in PostgreSQL with group commit: callers enqueue events and wait; one writer per process takes
/// whatever is queued (up to <see cref="MaxBatch"/>), appends it to each tenant's keyed chain in one transaction and
/// completes every caller at once — in three round trips whatever the batch holds (lock the heads; insert the events and
/// advance the heads; commit). Each link and the chain head are MAC'd under the current master key's chain key
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
    private int _disposed;

    /// <summary>Chains whose head row this process has seen committed: no INSERT … ON CONFLICT for them again.</summary>
    private readonly ConcurrentDictionary<Guid, byte> _knownChains = new();
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

    /// <summary>
    /// Idempotent: the container disposes this instance once for each registration that hands it out (the class, IAuditLog
    /// and the hosted service), and a second CancelAsync on the disposed source threw — a host that failed to start (its
    /// port taken) then aborted with exit code 134 instead of reporting its error.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

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
        var groups = batch.GroupBy(p => AuditChain.ChainOf(p.Event.TenantId)).OrderBy(g => g.Key).ToList();
        var chains = groups.Select(g => g.Key).ToArray();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);

        // Round trip 1: the head of a chain this process has not seen yet is created (genesis), then every head of the
        // batch is locked in chain order, so that replicas committing overlapping chains cannot deadlock.
        var heads = new Dictionary<Guid, (long Sequence, byte[] Hash)>(chains.Length);
        await using (var locking = new NpgsqlBatch(connection, tx))
        {
            foreach (var chain in chains.Where(c => !_knownChains.ContainsKey(c)))
            {
                var ensure = new NpgsqlBatchCommand(
                    "INSERT INTO mislata.audit_chain_heads (chain, last_sequence, last_hash, mac_key_id, mac) VALUES ($1, 0, $2, $3, $4) ON CONFLICT (chain) DO NOTHING");
                ensure.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = chain });
                ensure.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = AuditChain.Genesis });
                ensure.Parameters.Add(new NpgsqlParameter<string> { TypedValue = keyId });
                ensure.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = AuditChain.HeadMac(key, keyId, chain, 0, AuditChain.Genesis) });
                locking.BatchCommands.Add(ensure);
            }

            var select = new NpgsqlBatchCommand(
                "SELECT chain, last_sequence, last_hash FROM mislata.audit_chain_heads WHERE chain = ANY($1) ORDER BY chain FOR UPDATE");
            select.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = chains });
            locking.BatchCommands.Add(select);
            await using var reader = await locking.ExecuteReaderAsync(cancellationToken);
            do
            {
                while (reader.FieldCount == 3 && await reader.ReadAsync(cancellationToken))
                {
                    heads[reader.GetGuid(0)] = (reader.GetInt64(1), (byte[])reader[2]);
                }
            }
            while (await reader.NextResultAsync(cancellationToken));
        }

        if (heads.Count != chains.Length)
        {
            foreach (var chain in chains)
            {
                _knownChains.TryRemove(chain, out _);
            }

            throw new InvalidOperationException("An audit chain head is missing after it was created.");
        }

        // Round trip 2: the linked events of every chain and the advanced heads, in one batch; then the commit.
        var records = new List<AuditEventRecord>(batch.Count);
        await using (var append = new NpgsqlBatch(connection, tx))
        {
            foreach (var group in groups)
            {
                var (sequence, previous) = heads[group.Key];
                foreach (var pending in group)
                {
                    var record = NewRecord(pending.Event, group.Key, ++sequence, now, previous, keyId);
                    record.Hash = AuditChain.ComputeKeyed(key, previous, record);
                    previous = record.Hash;
                    records.Add(record);
                }

                var advance = new NpgsqlBatchCommand(
                    "UPDATE mislata.audit_chain_heads SET last_sequence = $2, last_hash = $3, mac_key_id = $4, mac = $5 WHERE chain = $1");
                advance.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = group.Key });
                advance.Parameters.Add(new NpgsqlParameter<long> { TypedValue = sequence });
                advance.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = previous });
                advance.Parameters.Add(new NpgsqlParameter<string> { TypedValue = keyId });
                advance.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = AuditChain.HeadMac(key, keyId, group.Key, sequence, previous) });
                append.BatchCommands.Add(advance);
            }

            append.BatchCommands.Insert(0, InsertEvents(records));
            await append.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        foreach (var chain in chains)
        {
            _knownChains.TryAdd(chain, 0);
        }
    }

    private static AuditEventRecord NewRecord(AuditEvent e, Guid chain, long sequence, DateTimeOffset now, byte[] previous, string keyId) => new()
    {
        Id = Guid.CreateVersion7(now),
        Chain = chain,
        Sequence = sequence,
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

    /// <summary>One INSERT of every record of the batch, its columns as arrays (unnest keeps them row by row).</summary>
    private static NpgsqlBatchCommand InsertEvents(List<AuditEventRecord> records)
    {
        var insert = new NpgsqlBatchCommand("""
            INSERT INTO mislata.audit_events (id, chain, sequence, occurred_at, tenant_id, actor_type, actor_id, action, resource_type,
                resource_id, outcome, error_code, source_ip, request_id, details, prev_hash, hash, mac_key_id)
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[], $5::uuid[], $6::text[], $7::text[], $8::text[],
                $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::jsonb[], $16::bytea[], $17::bytea[], $18::text[])
            """);
        var p = insert.Parameters;
        p.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. records.Select(r => r.Id)] });
        p.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. records.Select(r => r.Chain)] });
        p.Add(new NpgsqlParameter<long[]> { TypedValue = [.. records.Select(r => r.Sequence)] });
        p.Add(new NpgsqlParameter<DateTimeOffset[]> { TypedValue = [.. records.Select(r => r.OccurredAt)] });
        p.Add(new NpgsqlParameter<Guid?[]> { TypedValue = [.. records.Select(r => r.TenantId)] });
        p.Add(new NpgsqlParameter<string[]> { TypedValue = [.. records.Select(r => r.ActorType)] });
        p.Add(new NpgsqlParameter<string[]> { TypedValue = [.. records.Select(r => r.ActorId)] });
        p.Add(new NpgsqlParameter<string[]> { TypedValue = [.. records.Select(r => r.Action)] });
        p.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. records.Select(r => r.ResourceType)] });
        p.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. records.Select(r => r.ResourceId)] });
        p.Add(new NpgsqlParameter<string[]> { TypedValue = [.. records.Select(r => r.Outcome)] });
        p.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. records.Select(r => r.ErrorCode)] });
        p.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. records.Select(r => r.SourceIp)] });
        p.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. records.Select(r => r.RequestId)] });
        p.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. records.Select(r => r.Details)], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        p.Add(new NpgsqlParameter<byte[][]> { TypedValue = [.. records.Select(r => r.PrevHash)] });
        p.Add(new NpgsqlParameter<byte[][]> { TypedValue = [.. records.Select(r => r.Hash)] });
        p.Add(new NpgsqlParameter<string[]> { TypedValue = [.. records.Select(r => r.MacKeyId!)] });
        return insert;
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
