using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Mislata.Core.Audit;
using Mislata.Core.Tenants;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.MasterKeys;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.PlatformKeys;
using Mislata.Infrastructure.Persistence.Tenants;

namespace Mislata.Worker.Tests.MasterKeys;

/// <summary>The master-key rotation job on real PostgreSQL, as the worker's own database role.</summary>
public sealed class MasterKeyRotationTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new(DatabaseGrants.WorkerService);
    private readonly string _old = TestEnvironment.NewMasterKey();
    private readonly string _new = TestEnvironment.NewMasterKey();
    private readonly Audit _audit = new();
    private readonly Dictionary<(Guid Tenant, int Version), byte[]> _deks = [];
    private PlatformKey? _platformKey;

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        using var before = MasterKeyRing.FromBase64(_old, null);
        _platformKey = PlatformKey.Generate();
        await _db.ExecuteAsync($"""
            INSERT INTO mislata.platform_keys (id, wrapped_key, master_key_id, created_at, updated_at)
            VALUES ('{_platformKey.Id}', '\x{Convert.ToHexString(_platformKey.WrapUnder(before.Current))}'::bytea, '{before.Current.Id}', now(), now())
            """);
    }

    public async Task DisposeAsync()
    {
        await _meters.DisposeAsync();
        _platformKey?.Dispose();
        await _db.DisposeAsync();
    }

    /// <summary>Tenants with data keys wrapped under <paramref name="master"/> (two versions for the first one).</summary>
    private async Task SeedAsync(int tenants, string master)
    {
        using var ring = MasterKeyRing.FromBase64(master, null);
        var wrapper = new AesGcmTenantKeyWrapper(ring);
        for (var i = 0; i < tenants; i++)
        {
            var tenant = Guid.NewGuid();
            await _db.ExecuteAsync($"""
                INSERT INTO mislata.tenants (id, name, plan_id, status, created_at, updated_at)
                VALUES ('{tenant}', 't-{tenant:N}', '{Plan.CommunityId}', 'Active', now(), now())
                """);
            for (var version = 1; version <= (i == 0 ? 2 : 1); version++)
            {
                var wrapped = wrapper.CreateDataKey(tenant, version);
                _deks[(tenant, version)] = wrapper.Unwrap(wrapped);
                await _db.ExecuteAsync($"""
                    INSERT INTO mislata.tenant_data_keys (tenant_id, dek_version, wrapped_key, master_key_id, created_at)
                    VALUES ('{tenant}', {version}, '\x{Convert.ToHexString(wrapped.WrappedKey)}'::bytea, '{wrapped.MasterKeyId}', now())
                    """);
            }
        }
    }

    private async Task<AdminJob> QueueAsync()
    {
        var id = Guid.NewGuid();
        await _db.ExecuteAsync($"INSERT INTO mislata.admin_jobs (id, kind, state, requested_by, created_at) VALUES ('{id}', '{MasterKeyRotation.Kind}', 'queued', 'test', now())");
        return (await Jobs().FindAsync(id, CancellationToken.None))!;
    }

    private AdminJobStore Jobs() => new(_db.DataSource, TimeProvider.System);

    private readonly ServiceProvider _meters = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private MasterKeyRotation Rotation(MasterKeyRing ring, int batchSize, TimeSpan pause = default, MasterKeyRotationMetrics? metrics = null) => new(
        _db.DataSource,
        ring,
        new PlatformKeyStore(ring, TimeProvider.System, NullLogger<PlatformKeyStore>.Instance),
        new AesGcmTenantKeyWrapper(ring),
        Jobs(),
        _audit,
        Microsoft.Extensions.Options.Options.Create(new MasterKeyRotationOptions { BatchSize = batchSize, BatchPause = pause }),
        TimeProvider.System,
        NullLogger<MasterKeyRotation>.Instance,
        metrics);

    private Task<long> UnderAsync(string masterKeyId) =>
        _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.tenant_data_keys WHERE master_key_id = '{masterKeyId}'");

    /// <summary>Every data key unwraps with the new master key alone to the bytes it had before.</summary>
    private async Task AssertEveryDataKeyOpensWithOnlyAsync(MasterKeyRing ring)
    {
        var wrapper = new AesGcmTenantKeyWrapper(ring);
        foreach (var ((tenant, version), dek) in _deks)
        {
            var wrapped = await _db.ScalarAsync<byte[]>($"SELECT wrapped_key FROM mislata.tenant_data_keys WHERE tenant_id = '{tenant}' AND dek_version = {version}");
            Assert.Equal(dek, wrapper.Unwrap(new WrappedDataKey(tenant, version, ring.Current.Id, wrapped)));
        }
    }

    [Fact]
    public async Task Every_wrapped_key_moves_to_the_new_master_key_in_batches_and_the_platform_key_keeps_its_id_and_bytes()
    {
        await SeedAsync(7, _old);
        using var rotating = MasterKeyRing.FromBase64(_new, _old);
        var job = await QueueAsync();

        long rewrapped = 0, succeeded = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == MasterKeyRotationMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "mislata.master_key.rotation.rewrapped")
            {
                Interlocked.Add(ref rewrapped, value);
            }
            else if (instrument.Name == "mislata.master_key.rotation.finished" && tags.ToArray().Contains(new KeyValuePair<string, object?>("outcome", "succeeded")))
            {
                Interlocked.Add(ref succeeded, value);
            }
        });
        listener.Start();
        var metrics = new MasterKeyRotationMetrics(_meters.GetRequiredService<IMeterFactory>());

        var finished = await Rotation(rotating, batchSize: 3, metrics: metrics).RunAsync(job, CancellationToken.None);
        Assert.Equal((9L, 1L), (Interlocked.Read(ref rewrapped), Interlocked.Read(ref succeeded)));

        Assert.Equal(AdminJobState.Succeeded, finished!.State);
        Assert.Equal(8 + 1, finished.Total);
        Assert.Equal(finished.Total, finished.Done);
        Assert.NotNull(finished.StartedAt);
        Assert.NotNull(finished.FinishedAt);
        Assert.Equal(0L, await UnderAsync(rotating.Previous!.Id));
        Assert.Equal(8L, await UnderAsync(rotating.Current.Id));
        Assert.Equal(rotating.Current.Id, await _db.ScalarAsync<string>("SELECT master_key_id FROM mislata.platform_keys"));

        // After the rotation, the new master key alone opens everything, and the platform key is the same key.
        using var after = MasterKeyRing.FromBase64(_new, null);
        await AssertEveryDataKeyOpensWithOnlyAsync(after);
        await using (var connection = await _db.DataSource.OpenConnectionAsync())
        {
            using var store = new PlatformKeyStore(after, TimeProvider.System, NullLogger<PlatformKeyStore>.Instance);
            var loaded = await store.EnsureLoadedAsync(connection, CancellationToken.None);
            Assert.Equal(_platformKey!.Id, loaded.Id);
            byte[] expected = new byte[32], actual = new byte[32];
            _platformKey.DeriveKey("api-key-hash", expected);
            loaded.DeriveKey("api-key-hash", actual);
            Assert.Equal(expected, actual);
        }

        // Audited at start and finish, with ids and counts only.
        Assert.Equal([MasterKeyRotation.StartAction, MasterKeyRotation.FinishAction], _audit.Events.Select(e => e.Action));
        Assert.All(_audit.Events, e => Assert.Equal(job.Id.ToString("D"), e.ResourceId));
        Assert.All(_audit.Events.SelectMany(e => e.Details!.Values), v => Assert.DoesNotContain(_new, v, StringComparison.Ordinal));
        Assert.Equal(rotating.Current.Id, _audit.Events[0].Details!["to"]);

        // Run again: nothing left to do, nothing changes.
        var again = await Rotation(rotating, 3).RunAsync(await QueueAsync(), CancellationToken.None);
        Assert.Equal((AdminJobState.Succeeded, 0, 0), (again!.State, again.Total, again.Done));
    }

    [Fact]
    public async Task A_run_stopped_halfway_resumes_from_its_last_committed_batch()
    {
        await SeedAsync(9, _old);
        using var rotating = MasterKeyRing.FromBase64(_new, _old);
        var job = await QueueAsync();

        // Stop the first run once some, not all, batches are committed (the pause between batches makes it observable).
        using var stop = new CancellationTokenSource();
        var first = Rotation(rotating, batchSize: 2, pause: TimeSpan.FromMilliseconds(300)).RunAsync(job, stop.Token);
        AdminJob? seen;
        do
        {
            await Task.Delay(50);
            seen = await Jobs().FindAsync(job.Id, CancellationToken.None);
        }
        while (seen!.Done < 3 && !first.IsCompleted);

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        var halfway = (await Jobs().FindAsync(job.Id, CancellationToken.None))!;
        Assert.Equal(AdminJobState.Running, halfway.State);
        Assert.InRange(halfway.Done, 1, halfway.Total - 1);
        Assert.Equal(halfway.Done - 1, await UnderAsync(rotating.Current.Id));

        var resumed = await Rotation(rotating, batchSize: 2).RunAsync(halfway, CancellationToken.None);
        Assert.Equal((AdminJobState.Succeeded, 11, 11), (resumed!.State, resumed.Total, resumed.Done));
        Assert.Single(_audit.Events, e => e.Action == MasterKeyRotation.StartAction);
        using var after = MasterKeyRing.FromBase64(_new, null);
        await AssertEveryDataKeyOpensWithOnlyAsync(after);
    }

    [Fact]
    public async Task Keys_already_under_the_new_master_key_are_left_as_they_are()
    {
        await SeedAsync(2, _new);
        using var rotating = MasterKeyRing.FromBase64(_new, _old);
        const string Snapshot = "SELECT string_agg(tenant_id::text || ':' || encode(wrapped_key, 'hex'), ',' ORDER BY tenant_id, dek_version) FROM mislata.tenant_data_keys";
        var before = await _db.ScalarAsync<string>(Snapshot);
        await SeedAsync(3, _old);

        var finished = await Rotation(rotating, 100).RunAsync(await QueueAsync(), CancellationToken.None);

        Assert.Equal((AdminJobState.Succeeded, 4 + 1), (finished!.State, finished.Total));
        var after = (await _db.ScalarAsync<string>(Snapshot)).Split(',');
        Assert.All(before.Split(','), row => Assert.Contains(row, after));
    }

    [Fact]
    public async Task A_data_key_under_a_master_key_that_is_not_configured_fails_the_job_and_names_that_key_only()
    {
        var stranger = TestEnvironment.NewMasterKey();
        await SeedAsync(2, stranger);
        using var strangerRing = MasterKeyRing.FromBase64(stranger, null);
        using var rotating = MasterKeyRing.FromBase64(_new, _old);

        var failed = await Rotation(rotating, 100).RunAsync(await QueueAsync(), CancellationToken.None);

        Assert.Equal(AdminJobState.Failed, failed!.State);
        Assert.Contains(strangerRing.Current.Id, failed.Error, StringComparison.Ordinal);
        Assert.Contains(MasterKeyRing.PreviousVariable, failed.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(stranger, failed.Error, StringComparison.Ordinal);
        Assert.Equal(AuditOutcome.Failure, _audit.Events[^1].Outcome);
        Assert.Equal(3L, await UnderAsync(strangerRing.Current.Id));
    }

    [Fact]
    public async Task When_the_audit_log_is_down_the_job_does_not_start_and_the_next_attempt_records_its_start()
    {
        await SeedAsync(2, _old);
        using var rotating = MasterKeyRing.FromBase64(_new, _old);
        var job = await QueueAsync();

        _audit.Unavailable = true;
        await Assert.ThrowsAsync<AuditUnavailableException>(() => Rotation(rotating, 100).RunAsync(job, CancellationToken.None));
        var untouched = (await Jobs().FindAsync(job.Id, CancellationToken.None))!;
        Assert.Equal((AdminJobState.Queued, 0), (untouched.State, untouched.Done));
        Assert.Equal(3L, await UnderAsync(rotating.Previous!.Id));

        _audit.Unavailable = false;
        var finished = await Rotation(rotating, 100).RunAsync(untouched, CancellationToken.None);
        Assert.Equal(AdminJobState.Succeeded, finished!.State);
        Assert.Equal([MasterKeyRotation.StartAction, MasterKeyRotation.FinishAction], _audit.Events.Select(e => e.Action));
    }

    private sealed class Audit : IAuditLog
    {
        private readonly ConcurrentQueue<AuditEvent> _events = new();

        public List<AuditEvent> Events => [.. _events];

        public bool Unavailable { get; set; }

        public Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
        {
            if (Unavailable)
            {
                throw new AuditUnavailableException("the audit store is down (test)");
            }

            _events.Enqueue(auditEvent);
            return Task.CompletedTask;
        }
    }
}
