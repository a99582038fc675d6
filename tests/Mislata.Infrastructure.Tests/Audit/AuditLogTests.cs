using Mislata.Core.Audit;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Persistence.Audit;

namespace Mislata.Infrastructure.Tests.Audit;

/// <summary>The audit log against real PostgreSQL: group commit, per-tenant hash chains, tamper detection, fail-closed.</summary>
public sealed class AuditLogTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new();
    private readonly PlatformKey _platformKey = PlatformKey.Generate();
    private AuditChainKeys _keys = null!;

    public async Task InitializeAsync()
    {
        _keys = new AuditChainKeys(_platformKey);
        await _db.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        _keys.Dispose();
        _platformKey.Dispose();
    }

    private PostgresAuditLog NewLog() => new(_db.DataSource, _keys, TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());

    private PostgresAuditReader NewReader() => new(_db.Contexts, _keys, TimeProvider.System);

    private static AuditEvent Event(Guid? tenant, string action, string? resource = null, AuditOutcome outcome = AuditOutcome.Success) => new()
    {
        TenantId = tenant,
        ActorType = AuditActorType.ApiKey,
        ActorId = "key-" + (tenant?.ToString("N")[..6] ?? "platform"),
        Action = action,
        ResourceType = "key",
        ResourceId = resource,
        Outcome = outcome,
        SourceIp = "127.0.0.1",
        RequestId = "req-" + Guid.NewGuid().ToString("N")[..8],
        Details = new Dictionary<string, string> { ["algorithm"] = "ML-KEM-768", ["keyVersion"] = "1" },
    };

    [Fact]
    public async Task An_event_reported_unavailable_is_never_stored_and_one_already_being_committed_gets_its_commits_outcome()
    {
        var (busy, behind) = (Guid.NewGuid(), Guid.NewGuid());
        await using var log = NewLog();
        await log.RecordAsync(Event(busy, "key.create"), CancellationToken.None);

        // Someone holds the busy chain's head: the writer's next batch waits for it, longer than a caller's wait limit.
        await using var holder = new Npgsql.NpgsqlConnection(_db.AdminConnectionString);
        await holder.OpenAsync();
        await using var hold = await holder.BeginTransactionAsync();
        await using (var lockHead = new Npgsql.NpgsqlCommand("SELECT 1 FROM mislata.audit_chain_heads WHERE chain = @chain FOR UPDATE", holder, hold))
        {
            lockHead.Parameters.AddWithValue("chain", AuditChain.ChainOf(busy));
            await lockHead.ExecuteScalarAsync();
        }

        var inBatch = log.RecordAsync(Event(busy, "key.rotate"), CancellationToken.None);
        await WaitUntilTheWriterWaitsForTheLockAsync();

        // Queued behind the stuck batch: after the wait limit its caller hears "unavailable" — and it must then never be stored.
        await Assert.ThrowsAsync<AuditUnavailableException>(() => log.RecordAsync(Event(behind, "key.delete"), CancellationToken.None));
        await hold.RollbackAsync();

        // The event already in the batch is not reported as failed while its commit is still going to succeed.
        await inBatch;
        await log.RecordAsync(Event(busy, "key.get"), CancellationToken.None);
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{behind}'"));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{busy}' AND action = 'key.rotate'"));
    }

    private async Task WaitUntilTheWriterWaitsForTheLockAsync()
    {
        var deadline = DateTimeOffset.UtcNow.AddMinutes(1);
        while (await _db.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") == 0)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "the audit writer never waited for the held chain head");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Disposing_twice_as_the_container_does_for_each_registration_does_not_throw()
    {
        var log = NewLog();
        await log.StartAsync(CancellationToken.None);
        await log.DisposeAsync();
        await log.DisposeAsync(); // threw ObjectDisposedException: a host that failed to start then aborted (exit 134)
        await Assert.ThrowsAsync<AuditUnavailableException>(() => log.RecordAsync(Event(Guid.NewGuid(), "key.create"), CancellationToken.None));
    }

    [Fact]
    public async Task A_replica_whose_remembered_head_another_replica_moved_stores_each_event_once_in_one_valid_chain()
    {
        var tenant = Guid.NewGuid();
        await using var replica1 = NewLog();
        await using var replica2 = NewLog();

        // Each replica remembers the head it wrote last; every write here finds it moved by the other one (the one-round-trip
        // commit is refused and rolled back, the locking commit stores the event), then writes again from its own head.
        for (var i = 0; i < 6; i++)
        {
            var log = i % 2 == 0 ? replica1 : replica2;
            await log.RecordAsync(Event(tenant, "crypto.encrypt", "alternate-" + i), CancellationToken.None);
            await log.RecordAsync(Event(tenant, "crypto.encrypt", "again-" + i), CancellationToken.None);
        }

        Assert.Equal(12L, await _db.ScalarAsync<long>($"SELECT count(DISTINCT resource_id) FROM mislata.audit_events WHERE tenant_id = '{tenant}'"));
        Assert.Equal(12L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{tenant}'"));
        var verification = await NewReader().VerifyAsync(tenant, PostgresAuditReader.MaxVerifyRows, CancellationToken.None);
        Assert.Equal(new AuditVerification(true, 12, null) { VerifiedThrough = 12 }, verification);
        Assert.Equal(12L, await _db.ScalarAsync<long>($"SELECT last_sequence FROM mislata.audit_chain_heads WHERE chain = '{tenant}'"));
    }

    [Fact]
    public async Task Once_a_chain_s_head_is_known_each_batch_commits_in_one_round_trip_and_the_chain_stays_valid()
    {
        var (a, b) = (Guid.NewGuid(), Guid.NewGuid());
        await using var log = NewLog();
        await log.RecordAsync(Event(a, "key.create"), CancellationToken.None);
        await log.RecordAsync(Event(b, "key.create"), CancellationToken.None);
        Assert.Equal(0, log.OneRoundTripCommits);

        await log.RecordAsync(Event(a, "crypto.encrypt"), CancellationToken.None);
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => log.RecordAsync(Event(i % 2 == 0 ? a : b, "crypto.encrypt", "r" + i), CancellationToken.None)));
        Assert.True(log.OneRoundTripCommits >= 2, $"{log.OneRoundTripCommits} one-round-trip commits");

        var reader = NewReader();
        Assert.Equal(new AuditVerification(true, 12, null) { VerifiedThrough = 12 }, await reader.VerifyAsync(a, PostgresAuditReader.MaxVerifyRows, CancellationToken.None));
        Assert.Equal(new AuditVerification(true, 11, null) { VerifiedThrough = 11 }, await reader.VerifyAsync(b, PostgresAuditReader.MaxVerifyRows, CancellationToken.None));
    }

    [Fact]
    public async Task Concurrent_events_from_two_replicas_form_valid_contiguous_chains_per_tenant()
    {
        var (a, b) = (Guid.NewGuid(), Guid.NewGuid());
        await using var replica1 = NewLog();
        await using var replica2 = NewLog();

        var writes = Enumerable.Range(0, 400).Select(i =>
        {
            var log = i % 2 == 0 ? replica1 : replica2;
            Guid? tenant = (i % 3) switch { 0 => a, 1 => b, _ => null };
            return log.RecordAsync(Event(tenant, "crypto.encrypt", "r" + i), CancellationToken.None);
        });
        await Task.WhenAll(writes);

        var reader = NewReader();
        var ra = await reader.VerifyAsync(a, PostgresAuditReader.MaxVerifyRows, CancellationToken.None);
        var rb = await reader.VerifyAsync(b, PostgresAuditReader.MaxVerifyRows, CancellationToken.None);
        var rp = await reader.VerifyAsync(null, PostgresAuditReader.MaxVerifyRows, CancellationToken.None);
        Assert.Equal(new AuditVerification(true, 134, null) { VerifiedThrough = 134 }, ra);
        Assert.Equal(new AuditVerification(true, 133, null) { VerifiedThrough = 133 }, rb);
        Assert.Equal(new AuditVerification(true, 133, null) { VerifiedThrough = 133 }, rp);

        // Group commit: 400 events took far fewer transactions than events (batches share one commit).
        var maxSeq = await _db.ScalarAsync<long>($"SELECT max(sequence) FROM mislata.audit_events WHERE chain = '{a}'");
        Assert.Equal(134, maxSeq);
    }

    [Fact]
    public async Task Editing_any_field_of_a_row_is_reported_as_the_first_invalid_event()
    {
        var tenant = Guid.NewGuid();
        await using (var log = NewLog())
        {
            for (var i = 0; i < 10; i++)
            {
                await log.RecordAsync(Event(tenant, "key.create", "k" + i), CancellationToken.None);
            }
        }

        var target = await _db.ScalarAsync<Guid>($"SELECT id FROM mislata.audit_events WHERE chain = '{tenant}' AND sequence = 4");
        await _db.ExecuteAsync($"UPDATE mislata.audit_events SET outcome = 'failure' WHERE id = '{target}'");

        var result = await NewReader().VerifyAsync(tenant, PostgresAuditReader.MaxVerifyRows, CancellationToken.None);
        Assert.False(result.Valid);
        Assert.Equal(target, result.FirstInvalidEventId);
        Assert.Equal(4, result.Checked);
    }

    [Theory]
    [InlineData("details = '{\"algorithm\": \"AES-256-GCM\", \"keyVersion\": \"1\"}'")]
    [InlineData("occurred_at = occurred_at + interval '1 microsecond'")]
    [InlineData("actor_id = 'someone-else'")]
    [InlineData("hash = prev_hash")]
    public async Task Each_kind_of_edit_breaks_the_chain(string assignment)
    {
        var tenant = Guid.NewGuid();
        await using (var log = NewLog())
        {
            for (var i = 0; i < 3; i++)
            {
                await log.RecordAsync(Event(tenant, "secret.read", "s" + i), CancellationToken.None);
            }
        }

        Assert.True((await NewReader().VerifyAsync(tenant, PostgresAuditReader.MaxVerifyRows, CancellationToken.None)).Valid);
        await _db.ExecuteAsync($"UPDATE mislata.audit_events SET {assignment} WHERE chain = '{tenant}' AND sequence = 2");
        var result = await NewReader().VerifyAsync(tenant, PostgresAuditReader.MaxVerifyRows, CancellationToken.None);
        Assert.False(result.Valid);
        Assert.NotNull(result.FirstInvalidEventId);
    }

    [Fact]
    public async Task Deleting_a_row_is_reported_at_the_event_after_it_and_deleting_the_last_row_is_detected()
    {
        var tenant = Guid.NewGuid();
        await using (var log = NewLog())
        {
            for (var i = 0; i < 6; i++)
            {
                await log.RecordAsync(Event(tenant, "key.rotate", "k" + i), CancellationToken.None);
            }
        }

        var fourth = await _db.ScalarAsync<Guid>($"SELECT id FROM mislata.audit_events WHERE chain = '{tenant}' AND sequence = 4");
        await _db.ExecuteAsync($"DELETE FROM mislata.audit_events WHERE chain = '{tenant}' AND sequence = 3");
        var middle = await NewReader().VerifyAsync(tenant, PostgresAuditReader.MaxVerifyRows, CancellationToken.None);
        Assert.Equal(new AuditVerification(false, 3, fourth) { Complete = false, Reason = AuditVerification.EventReason }, middle);

        var other = Guid.NewGuid();
        await using (var log = NewLog())
        {
            for (var i = 0; i < 3; i++)
            {
                await log.RecordAsync(Event(other, "key.rotate"), CancellationToken.None);
            }
        }

        await _db.ExecuteAsync($"DELETE FROM mislata.audit_events WHERE chain = '{other}' AND sequence = 3");
        Assert.False((await NewReader().VerifyAsync(other, PostgresAuditReader.MaxVerifyRows, CancellationToken.None)).Valid);
    }

    [Fact]
    public async Task When_the_store_refuses_writes_recording_fails_closed_and_stores_nothing()
    {
        var tenant = Guid.NewGuid();
        await using var log = NewLog();
        await log.RecordAsync(Event(tenant, "key.create"), CancellationToken.None);

        await _db.ExecuteAsync("ALTER TABLE mislata.audit_events RENAME TO audit_events_away");
        try
        {
            await Assert.ThrowsAsync<AuditUnavailableException>(() => log.RecordAsync(Event(tenant, "key.delete"), CancellationToken.None));
        }
        finally
        {
            await _db.ExecuteAsync("ALTER TABLE mislata.audit_events_away RENAME TO audit_events");
        }

        // The failed batch left neither a row nor an advanced chain head; the log keeps working afterwards.
        await log.RecordAsync(Event(tenant, "key.enable"), CancellationToken.None);
        var verification = await NewReader().VerifyAsync(tenant, PostgresAuditReader.MaxVerifyRows, CancellationToken.None);
        Assert.Equal(new AuditVerification(true, 2, null) { VerifiedThrough = 2 }, verification);
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE chain = '{tenant}' AND action = 'key.delete'"));
    }

    [Fact]
    public async Task Listing_filters_and_pages_newest_first_with_a_cursor()
    {
        var tenant = Guid.NewGuid();
        await using (var log = NewLog())
        {
            for (var i = 0; i < 7; i++)
            {
                await log.RecordAsync(Event(tenant, i % 2 == 0 ? "key.create" : "crypto.sign", "res-" + i, i == 5 ? AuditOutcome.Denied : AuditOutcome.Success), CancellationToken.None);
            }

            await log.RecordAsync(Event(Guid.NewGuid(), "key.create"), CancellationToken.None);
        }

        var reader = NewReader();
        var first = await reader.ListAsync(new AuditQuery { TenantId = tenant, Limit = 3 }, CancellationToken.None);
        Assert.Equal([7L, 6L, 5L], first.Data.Select(e => e.Sequence));
        Assert.NotNull(first.NextCursor);
        var second = await reader.ListAsync(new AuditQuery { TenantId = tenant, Limit = 3, Cursor = first.NextCursor }, CancellationToken.None);
        Assert.Equal([4L, 3L, 2L], second.Data.Select(e => e.Sequence));
        var last = await reader.ListAsync(new AuditQuery { TenantId = tenant, Limit = 3, Cursor = second.NextCursor }, CancellationToken.None);
        Assert.Equal([1L], last.Data.Select(e => e.Sequence));
        Assert.Null(last.NextCursor);

        var creates = await reader.ListAsync(new AuditQuery { TenantId = tenant, Action = "key.create" }, CancellationToken.None);
        Assert.Equal(4, creates.Data.Count);
        Assert.All(creates.Data, e => Assert.Equal(tenant, e.TenantId));
        var denied = await reader.ListAsync(new AuditQuery { TenantId = tenant, Outcome = AuditOutcome.Denied }, CancellationToken.None);
        Assert.Equal("res-5", Assert.Single(denied.Data).ResourceId);
        var byResource = await reader.ListAsync(new AuditQuery { TenantId = tenant, ResourceId = "res-2" }, CancellationToken.None);
        Assert.Equal("ML-KEM-768", Assert.Single(byResource.Data).Details!["algorithm"]);
        var prefix = await reader.ListAsync(new AuditQuery { TenantId = tenant, Action = "crypto.*" }, CancellationToken.None);
        Assert.Equal(3, prefix.Data.Count);

        await Assert.ThrowsAsync<ArgumentException>(() => reader.ListAsync(new AuditQuery { TenantId = tenant, Cursor = "bogus!" }, CancellationToken.None));
    }
}
