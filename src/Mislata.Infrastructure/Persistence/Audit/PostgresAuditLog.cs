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
/// completes every caller at once, after the commit. When this process wrote the last link of every chain of the batch
/// (it remembers each chain's head after its commits), the batch is one round trip: one implicit transaction that
/// advances every head only from the head it remembers (a head another replica moved makes the statement fail and the
/// whole transaction roll back) and inserts the events. Otherwise — a chain not yet seen, a head moved elsewhere, or a
/// chain that failed that way in the last <see cref="ContendedFor"/> — three round trips whatever the batch holds (lock
/// the heads in chain order; insert the events and advance the heads; commit). Each link and the chain head are MAC'd
/// under the current master key's chain key (<see cref="AuditChainKeys"/>), one HMAC per event.
/// Fail-closed: if the batch cannot be committed, every caller in it gets <see cref="AuditUnavailableException"/>.
/// </summary>
public sealed partial class PostgresAuditLog(NpgsqlDataSource dataSource, AuditChainKeys keys, TimeProvider time, ILogger<PostgresAuditLog> logger)
    : IAuditLog, IHostedService, IAsyncDisposable
{
    internal const int MaxBatch = 512;
    private const int MaxRememberedHeads = 100_000;
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(10);

    /// <summary>How long a chain whose remembered head was moved by another replica goes the locking way only.</summary>
    internal static readonly TimeSpan ContendedFor = TimeSpan.FromSeconds(10);

    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(20_000)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;

    /// <summary>Chains whose head row this process has seen committed: no INSERT … ON CONFLICT for them again.</summary>
    private readonly ConcurrentDictionary<Guid, byte> _knownChains = new();

    // The writer's own (one batch at a time): each chain's head as this process last committed it, and until when a
    // chain whose head moved elsewhere is written the locking way.
    private readonly Dictionary<Guid, (long Sequence, byte[] Hash)> _heads = [];
    private readonly Dictionary<Guid, long> _contendedUntil = [];
    private long _oneRoundTripCommits;
    private Task? _writer;

    /// <summary>Batches committed in one round trip from the remembered heads (tests).</summary>
    internal long OneRoundTripCommits => Interlocked.Read(ref _oneRoundTripCommits);

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

    private async Task CommitAsync(List<Pending> batch, CancellationToken cancellationToken)
    {
        var groups = batch.GroupBy(p => AuditChain.ChainOf(p.Event.TenantId)).OrderBy(g => g.Key).ToList();
        try
        {
            if (await TryCommitFromRememberedHeadsAsync(groups, cancellationToken))
            {
                return;
            }
        }
        catch (PostgresException)
        {
            // The server rolled the implicit transaction back (a head moved elsewhere, or any other refusal): nothing of
            // it is stored. Those chains go the locking way for a while; an error without the server's answer (the
            // connection lost) is not retried here, as that commit's outcome is unknown.
            var until = time.GetUtcNow().Add(ContendedFor).UtcTicks;
            foreach (var group in groups)
            {
                _heads.Remove(group.Key);
                _contendedUntil[group.Key] = until;
            }
        }

        await CommitLockingHeadsAsync(groups, cancellationToken);
    }

    /// <summary>
    /// The one-round-trip commit, when every chain's head is remembered and none is contended: false (nothing sent)
    /// otherwise. Throws <see cref="PostgresException"/> when the server refused it, having stored nothing.
    /// </summary>
    [SuppressMessage("Security", "CA2100", Justification = "Constant SQL with parameters.")]
    private async Task<bool> TryCommitFromRememberedHeadsAsync(List<IGrouping<Guid, Pending>> groups, CancellationToken cancellationToken)
    {
        var nowTicks = time.GetUtcNow().UtcTicks;
        foreach (var group in groups)
        {
            if (!_heads.ContainsKey(group.Key))
            {
                return false;
            }

            if (_contendedUntil.TryGetValue(group.Key, out var until))
            {
                if (until > nowTicks)
                {
                    return false;
                }

                _contendedUntil.Remove(group.Key);
            }
        }

        var now = AuditChain.Truncate(time.GetUtcNow());
        var keyId = keys.CurrentId;
        var key = keys.Current;
        var records = new List<AuditEventRecord>(groups.Sum(g => g.Count()));
        var advanced = new (Guid Chain, long FromSequence, byte[] FromHash, long Sequence, byte[] Hash, byte[] Mac)[groups.Count];
        for (var i = 0; i < groups.Count; i++)
        {
            var chain = groups[i].Key;
            var (from, fromHash) = _heads[chain];
            var (sequence, previous) = AppendLinks(groups[i], chain, from, fromHash, now, key, keyId, records);
            advanced[i] = (chain, from, fromHash, sequence, previous, AuditChain.HeadMac(key, keyId, chain, sequence, previous));
        }

        // Without a transaction of its own, the batch is one implicit transaction (one Sync): the heads are advanced
        // first — each only from the head remembered, and any head that moved makes the cast fail (an expression of the
        // count, so that the planner cannot fold it into an error up front), rolling everything back — then the events
        // are inserted. The answer comes after the commit, so the events are durable.
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var commit = new NpgsqlBatch(connection);
        var advance = new NpgsqlBatchCommand("""
            WITH moved AS (
                UPDATE mislata.audit_chain_heads h SET last_sequence = a.sequence, last_hash = a.hash, mac_key_id = $7, mac = a.mac
                FROM unnest($1::uuid[], $2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[])
                    AS a(chain, from_sequence, from_hash, sequence, hash, mac)
                WHERE h.chain = a.chain AND h.last_sequence = a.from_sequence AND h.last_hash = a.from_hash
                RETURNING h.chain)
            SELECT CASE WHEN c.n = $8 THEN 1 ELSE CAST('audit chain head moved: ' || c.n || ' of ' || $8 || ' advanced' AS integer) END
            FROM (SELECT count(*) AS n FROM moved) c
            """);
        var p = advance.Parameters;
        p.Add(new NpgsqlParameter<Guid[]> { TypedValue = [.. advanced.Select(a => a.Chain)] });
        p.Add(new NpgsqlParameter<long[]> { TypedValue = [.. advanced.Select(a => a.FromSequence)] });
        p.Add(new NpgsqlParameter<byte[][]> { TypedValue = [.. advanced.Select(a => a.FromHash)] });
        p.Add(new NpgsqlParameter<long[]> { TypedValue = [.. advanced.Select(a => a.Sequence)] });
        p.Add(new NpgsqlParameter<byte[][]> { TypedValue = [.. advanced.Select(a => a.Hash)] });
        p.Add(new NpgsqlParameter<byte[][]> { TypedValue = [.. advanced.Select(a => a.Mac)] });
        p.Add(new NpgsqlParameter<string> { TypedValue = keyId });
        p.Add(new NpgsqlParameter<long> { TypedValue = advanced.Length });
        commit.BatchCommands.Add(advance);
        commit.BatchCommands.Add(InsertEvents(records));

        // Prepared once per pooled connection (Npgsql keeps it): PostgreSQL then neither parses nor plans them per batch.
        await commit.PrepareAsync(cancellationToken);
        await commit.ExecuteNonQueryAsync(cancellationToken);

        foreach (var a in advanced)
        {
            RememberHead(a.Chain, a.Sequence, a.Hash);
        }

        Interlocked.Increment(ref _oneRoundTripCommits);
        return true;
    }

    /// <summary>Links <paramref name="group"/>'s events after (<paramref name="sequence"/>, <paramref name="previous"/>) into <paramref name="records"/>; the new head.</summary>
    private static (long Sequence, byte[] Hash) AppendLinks(
        IEnumerable<Pending> group, Guid chain, long sequence, byte[] previous, DateTimeOffset now, byte[] key, string keyId, List<AuditEventRecord> records)
    {
        foreach (var pending in group)
        {
            var record = NewRecord(pending.Event, chain, ++sequence, now, previous, keyId);
            record.Hash = AuditChain.ComputeKeyed(key, previous, record);
            previous = record.Hash;
            records.Add(record);
        }

        return (sequence, previous);
    }

    private void RememberHead(Guid chain, long sequence, byte[] hash)
    {
        if (_heads.Count >= MaxRememberedHeads && !_heads.ContainsKey(chain))
        {
            _heads.Clear();
        }

        _heads[chain] = (sequence, hash);
    }

    [SuppressMessage("Security", "CA2100", Justification = "Constant SQL with parameters.")]
    private async Task CommitLockingHeadsAsync(List<IGrouping<Guid, Pending>> groups, CancellationToken cancellationToken)
    {
        var now = AuditChain.Truncate(time.GetUtcNow());
        var keyId = keys.CurrentId;
        var key = keys.Current;
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
        var records = new List<AuditEventRecord>(groups.Sum(g => g.Count()));
        var advancedTo = new Dictionary<Guid, (long Sequence, byte[] Hash)>(chains.Length);
        await using (var append = new NpgsqlBatch(connection, tx))
        {
            foreach (var group in groups)
            {
                var (from, fromHash) = heads[group.Key];
                var (sequence, previous) = AppendLinks(group, group.Key, from, fromHash, now, key, keyId, records);
                advancedTo[group.Key] = (sequence, previous);
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
            RememberHead(chain, advancedTo[chain].Sequence, advancedTo[chain].Hash);
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
