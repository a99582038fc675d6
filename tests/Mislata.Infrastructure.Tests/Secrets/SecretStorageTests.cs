using System.Collections.Concurrent;
using System.Data.Common;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Secrets;
using Mislata.Core.Tenants;
using Mislata.Crypto;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Tenants;
using Mislata.Infrastructure.Secrets;

namespace Mislata.Infrastructure.Tests.Secrets;

/// <summary>
/// Secrets against real PostgreSQL, as the api's role: values sealed under the tenant's data key and bound to their
/// row (tenant, secret, version), never in clear in any column or audit event; check-and-set under concurrency; names
/// unique among live secrets; quota; fail-closed audit; a read of the current version is one query.
/// </summary>
public sealed class SecretStorageTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new();
    private readonly MasterKeyRing _masterKeys = MasterKeyRing.FromBase64(TestEnvironment.NewMasterKey(), null);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
    private readonly RecordingAudit _audit = new();
    private readonly Guid _tenant = Guid.NewGuid();
    private readonly Guid _otherTenant = Guid.NewGuid();
    private static readonly RequestActor Actor = new(AuditActorType.ApiKey, "actor-1", "127.0.0.1", "req-1");

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        var wrapper = new AesGcmTenantKeyWrapper(_masterKeys);
        await using var context = _db.Contexts.CreateDbContext();
        foreach (var (id, plan) in new[] { (_tenant, Plan.BusinessId), (_otherTenant, Plan.CommunityId) })
        {
            context.Add(new Tenant(id, "t-" + id.ToString("N")[..8], plan, null, null, _time.GetUtcNow()));
            context.Add(new TenantDataKeyRecord(id, 1, wrapper.CreateDataKey(id, 1), _time.GetUtcNow()));
        }

        await context.SaveChangesAsync();
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        _masterKeys.Dispose();
    }

    private (SecretAdministration Secrets, MislataDbContext Db) New(IInterceptor? interceptor = null)
    {
        var db = interceptor is null
            ? _db.Contexts.CreateDbContext()
            : new MislataDbContext(new DbContextOptionsBuilder<MislataDbContext>().UseNpgsql(_db.DataSource).AddInterceptors(interceptor).Options);
        var sealer = new SecretValueSealer(db, new AesGcmTenantKeyWrapper(_masterKeys), OsRandomSource.Instance);
        return (new SecretAdministration(db, sealer, _audit, _time), db);
    }

    private static SecretDraft Draft(string name, string value) => new(name, Encoding.UTF8.GetBytes(value), null, [], null, null);

    private async Task<Secret> CreateAsync(Guid tenant, string name, string value)
    {
        var (secrets, db) = New();
        await using (db)
        {
            var (secret, error) = await secrets.CreateAsync(tenant, Draft(name, value), Actor, CancellationToken.None);
            Assert.Equal(SecretError.None, error);
            return secret!;
        }
    }

    private async Task<(string? Value, SecretError Error)> ReadAsync(Guid tenant, Guid id, int? version = null, bool includeExpired = false)
    {
        var (secrets, db) = New();
        await using (db)
        {
            var (read, error) = await secrets.ReadAsync(tenant, id, version, includeExpired, Actor, CancellationToken.None);
            return (read is null ? null : Encoding.UTF8.GetString(read.Value), error);
        }
    }

    private async Task<(Secret? Secret, SecretError Error)> WriteAsync(Guid tenant, Guid id, string value, int? expectedVersion = null)
    {
        var (secrets, db) = New();
        await using (db)
        {
            return await secrets.WriteAsync(tenant, id, Encoding.UTF8.GetBytes(value), expectedVersion, Actor, CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_value_is_stored_only_sealed_reads_back_per_version_and_is_in_no_column_and_no_audit_event()
    {
        var marker = "marker-" + Guid.NewGuid().ToString("N");
        var secret = await CreateAsync(_tenant, "db/password", marker + "-v1");
        Assert.Equal(SecretError.None, (await WriteAsync(_tenant, secret.Id, marker + "-v2", expectedVersion: 1)).Error);

        Assert.Equal((marker + "-v2", SecretError.None), await ReadAsync(_tenant, secret.Id));
        Assert.Equal((marker + "-v1", SecretError.None), await ReadAsync(_tenant, secret.Id, version: 1));
        Assert.Equal((null, SecretError.NotFound), await ReadAsync(_tenant, secret.Id, version: 3));

        // Neither the text nor its bytes appear in any column of either table (row text includes bytea as hex).
        var hex = Convert.ToHexString(Encoding.UTF8.GetBytes(marker[..12])).ToLowerInvariant();
        foreach (var table in new[] { "secrets", "secret_versions", "audit_events" })
        {
            Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.{table} r WHERE position('{marker[..12]}' in r::text) > 0 OR position('{hex}' in lower(r::text)) > 0"));
        }

        Assert.Equal(2L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.secret_versions WHERE secret_id = '{secret.Id}' AND dek_version = 1 AND length(sealed_value) = {1 + 12 + marker.Length + 3 + 16}"));
        Assert.DoesNotContain(_audit.Events, e => e.Details?.Values.Any(v => v.Contains(marker, StringComparison.Ordinal)) == true);
        Assert.Equal(["secret.create", "secret.update", "secret.read", "secret.read"], _audit.Events.Select(e => e.Action));
        Assert.Equal(["1", "2", "2", "1"], _audit.Events.Select(e => e.Details!["version"]));
        Assert.All(_audit.Events, e => Assert.Equal(secret.Id.ToString(), e.ResourceId));
    }

    [Fact]
    public async Task An_empty_value_and_a_64_KiB_binary_value_round_trip()
    {
        var (secrets, db) = New();
        await using (db)
        {
            var binary = new byte[SecretLimits.MaxValueBytes];
            Random.Shared.NextBytes(binary);
            var (empty, e1) = await secrets.CreateAsync(_tenant, new SecretDraft("empty", [], null, [], null, null), Actor, CancellationToken.None);
            var (large, e2) = await secrets.CreateAsync(_tenant, new SecretDraft("large", (byte[])binary.Clone(), null, [], "application/octet-stream", null), Actor, CancellationToken.None);
            Assert.Equal((SecretError.None, SecretError.None), (e1, e2));
            Assert.Empty((await secrets.ReadAsync(_tenant, empty!.Id, null, false, Actor, CancellationToken.None)).Read!.Value);
            Assert.Equal(binary, (await secrets.ReadAsync(_tenant, large!.Id, null, false, Actor, CancellationToken.None)).Read!.Value);
        }
    }

    [Theory]
    [InlineData("another secret of the tenant")]
    [InlineData("another tenant's secret")]
    [InlineData("another version of the secret")]
    public async Task A_sealed_value_moved_to_another_row_does_not_open(string move)
    {
        var victim = await CreateAsync(_tenant, "victim", "victim-value");
        Assert.Equal(SecretError.None, (await WriteAsync(_tenant, victim.Id, "victim-value-2")).Error);
        var source = move switch
        {
            "another tenant's secret" => await CreateAsync(_otherTenant, "source", "source-value"),
            "another secret of the tenant" => await CreateAsync(_tenant, "source", "source-value"),
            _ => victim,
        };

        // Version 1 of the source (the victim's own version 1 for a move between versions) over the victim's version 2.
        Assert.Equal(1, await _db.ExecuteAsync($"""
            UPDATE mislata.secret_versions SET sealed_value = (SELECT sealed_value FROM mislata.secret_versions WHERE secret_id = '{source.Id}' AND version = 1)
            WHERE secret_id = '{victim.Id}' AND version = 2
            """));

        Assert.Equal((null, SecretError.Unreadable), await ReadAsync(_tenant, victim.Id));
        Assert.Equal(("victim-value", SecretError.None), await ReadAsync(_tenant, victim.Id, 1));
        var failed = Assert.Single(_audit.Events, e => e.Outcome == AuditOutcome.Failure);
        Assert.Equal(("secret.read", "decryption_failed", "2"), (failed.Action, failed.ErrorCode, failed.Details!["version"]));
    }

    [Fact]
    public async Task The_sealing_binds_tenant_secret_and_version_and_a_flipped_byte_fails()
    {
        var dek = new byte[32];
        Random.Shared.NextBytes(dek);
        var (tenant, secret) = (Guid.NewGuid(), Guid.NewGuid());
        var blob = SecretValueSealer.Seal(dek, tenant, secret, 3, "v"u8, OsRandomSource.Instance);
        Assert.Equal("v"u8.ToArray(), SecretValueSealer.Open(dek, tenant, secret, 3, blob));
        Assert.Equal("mislata/v1/secret|" + tenant.ToString("D") + "|" + secret.ToString("D") + "|3", Encoding.UTF8.GetString(SecretValueSealer.AssociatedData(tenant, secret, 3)));

        Assert.Throws<CryptoException>(() => SecretValueSealer.Open(dek, Guid.NewGuid(), secret, 3, blob));
        Assert.Throws<CryptoException>(() => SecretValueSealer.Open(dek, tenant, Guid.NewGuid(), 3, blob));
        Assert.Throws<CryptoException>(() => SecretValueSealer.Open(dek, tenant, secret, 4, blob));
        var otherDek = (byte[])dek.Clone();
        otherDek[0] ^= 1;
        Assert.Throws<CryptoException>(() => SecretValueSealer.Open(otherDek, tenant, secret, 3, blob));
        for (var i = 0; i < blob.Length; i++)
        {
            var tampered = (byte[])blob.Clone();
            tampered[i] ^= 0x40;
            Assert.Throws<CryptoException>(() => SecretValueSealer.Open(dek, tenant, secret, 3, tampered));
        }

        Assert.Throws<CryptoException>(() => SecretValueSealer.Open(dek, tenant, secret, 3, blob.AsSpan(0, 28)));
    }

    [Fact]
    public async Task Concurrent_check_and_set_writers_lose_no_update_and_never_share_a_version_number()
    {
        var secret = await CreateAsync(_tenant, "counter", "initial");
        const int writers = 16;
        var attempts = 0;
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            while (true)
            {
                Interlocked.Increment(ref attempts);
                await using var db = _db.Contexts.CreateDbContext();
                var current = await db.Set<Secret>().AsNoTracking().Where(s => s.Id == secret.Id).Select(s => s.CurrentVersion).SingleAsync();
                var (written, error) = await WriteAsync(_tenant, secret.Id, "writer-" + w, expectedVersion: current);
                if (error == SecretError.None)
                {
                    Assert.Equal(current + 1, written!.CurrentVersion);
                    return;
                }

                Assert.Equal(SecretError.VersionMismatch, error);
            }
        })));

        Assert.Equal(1 + writers, await _db.ScalarAsync<int>($"SELECT current_version FROM mislata.secrets WHERE id = '{secret.Id}'"));
        Assert.Equal(1L + writers, await _db.ScalarAsync<long>($"SELECT count(DISTINCT version) FROM mislata.secret_versions WHERE secret_id = '{secret.Id}'"));
        Assert.Equal(1 + writers, await _db.ScalarAsync<int>($"SELECT max(version) FROM mislata.secret_versions WHERE secret_id = '{secret.Id}'"));
        var values = new List<string>();
        for (var v = 1; v <= 1 + writers; v++)
        {
            values.Add((await ReadAsync(_tenant, secret.Id, v)).Value!);
        }

        // Every writer's value is stored exactly once: none lost, none duplicated.
        Assert.Equal(["initial", .. Enumerable.Range(0, writers).Select(w => "writer-" + w).Order(StringComparer.Ordinal)],
            [values[0], .. values.Skip(1).Order(StringComparer.Ordinal)]);
        Assert.True(attempts >= writers);
    }

    [Fact]
    public async Task Concurrent_blind_writes_each_get_their_own_version()
    {
        var secret = await CreateAsync(_tenant, "blind", "v1");
        const int writers = 12;
        var results = await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(() => WriteAsync(_tenant, secret.Id, "w" + w))));
        Assert.All(results, r => Assert.Equal(SecretError.None, r.Error));
        Assert.Equal(Enumerable.Range(2, writers), results.Select(r => r.Secret!.CurrentVersion).Order());
        Assert.Equal(1L + writers, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.secret_versions WHERE secret_id = '{secret.Id}'"));
    }

    [Fact]
    public async Task A_stale_expected_version_changes_nothing_and_is_audited_nowhere()
    {
        var secret = await CreateAsync(_tenant, "cas", "one");
        Assert.Equal(SecretError.None, (await WriteAsync(_tenant, secret.Id, "two", expectedVersion: 1)).Error);
        Assert.Equal(SecretError.VersionMismatch, (await WriteAsync(_tenant, secret.Id, "stale", expectedVersion: 1)).Error);
        Assert.Equal(("two", SecretError.None), await ReadAsync(_tenant, secret.Id));
        Assert.Equal(2L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.secret_versions WHERE secret_id = '{secret.Id}'"));
        Assert.Equal(2, _audit.Events.Count(e => e.Action is "secret.create" or "secret.update"));
    }

    [Fact]
    public async Task Another_tenants_secret_is_not_found_for_every_operation()
    {
        var secret = await CreateAsync(_tenant, "mine", "value");
        var (secrets, db) = New();
        await using (db)
        {
            Assert.Equal(SecretError.NotFound, (await secrets.ReadAsync(_otherTenant, secret.Id, null, true, Actor, CancellationToken.None)).Error);
            Assert.Equal(SecretError.NotFound, (await secrets.WriteAsync(_otherTenant, secret.Id, [1], null, Actor, CancellationToken.None)).Error);
            Assert.Equal(SecretError.NotFound, (await secrets.UpdateAsync(_otherTenant, secret.Id, new SecretChanges("x", null, null, null, false), Actor, CancellationToken.None)).Error);
            Assert.Equal(SecretError.NotFound, (await secrets.DeleteAsync(_otherTenant, secret.Id, Actor, CancellationToken.None)).Error);
            Assert.Equal(SecretError.NotFound, (await secrets.RestoreAsync(_otherTenant, secret.Id, Actor, CancellationToken.None)).Error);
            Assert.Equal(SecretError.NotFound, await secrets.PurgeAsync(_otherTenant, secret.Id, Actor, CancellationToken.None));
        }

        Assert.Equal(("value", SecretError.None), await ReadAsync(_tenant, secret.Id));
        Assert.Equal(1, await _db.ScalarAsync<int>($"SELECT current_version FROM mislata.secrets WHERE id = '{secret.Id}'"));
    }

    [Fact]
    public async Task Names_are_unique_among_live_secrets_only_and_a_restore_into_a_taken_name_is_refused()
    {
        var first = await CreateAsync(_tenant, "shared/name", "1");
        var (secrets, db) = New();
        await using (db)
        {
            Assert.Equal(SecretError.NameTaken, (await secrets.CreateAsync(_tenant, Draft("shared/name", "2"), Actor, CancellationToken.None)).Error);
            Assert.Equal(SecretError.None, (await secrets.CreateAsync(_otherTenant, Draft("shared/name", "3"), Actor, CancellationToken.None)).Error);
            Assert.Equal(SecretError.None, (await secrets.DeleteAsync(_tenant, first.Id, Actor, CancellationToken.None)).Error);
            Assert.Equal(SecretError.NotFound, (await secrets.ReadAsync(_tenant, first.Id, null, true, Actor, CancellationToken.None)).Error);
        }

        var second = await CreateAsync(_tenant, "shared/name", "4");
        (secrets, db) = New();
        await using (db)
        {
            Assert.Equal(SecretError.NameTaken, (await secrets.RestoreAsync(_tenant, first.Id, Actor, CancellationToken.None)).Error);
            Assert.Equal(SecretError.None, await secrets.PurgeAsync(_tenant, second.Id, Actor, CancellationToken.None));
            Assert.Equal(SecretError.None, (await secrets.RestoreAsync(_tenant, first.Id, Actor, CancellationToken.None)).Error);
        }

        Assert.Equal(("1", SecretError.None), await ReadAsync(_tenant, first.Id));
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.secret_versions WHERE secret_id = '{second.Id}'"));
    }

    [Fact]
    public async Task An_expired_secret_reads_only_when_asked_for()
    {
        var (secrets, db) = New();
        await using (db)
        {
            var (secret, _) = await secrets.CreateAsync(_tenant, new SecretDraft("expiring", [7], null, [], null, _time.GetUtcNow().AddHours(1)), Actor, CancellationToken.None);
            Assert.Equal(SecretError.None, (await secrets.ReadAsync(_tenant, secret!.Id, null, false, Actor, CancellationToken.None)).Error);
            _time.Advance(TimeSpan.FromHours(1));
            Assert.Equal(SecretError.Expired, (await secrets.ReadAsync(_tenant, secret.Id, null, false, Actor, CancellationToken.None)).Error);
            Assert.Equal([7], (await secrets.ReadAsync(_tenant, secret.Id, null, true, Actor, CancellationToken.None)).Read!.Value);
        }
    }

    [Fact]
    public async Task The_plans_max_secrets_counts_live_and_deleted_secrets_until_they_are_purged()
    {
        await _db.ExecuteAsync($"UPDATE mislata.plans SET max_secrets = 2 WHERE id = '{Plan.CommunityId}'");
        await CreateAsync(_otherTenant, "q1", "1");
        var second = await CreateAsync(_otherTenant, "q2", "2");
        var (secrets, db) = New();
        await using (db)
        {
            Assert.Equal(SecretError.QuotaExceeded, (await secrets.CreateAsync(_otherTenant, Draft("q3", "3"), Actor, CancellationToken.None)).Error);
            await secrets.DeleteAsync(_otherTenant, second.Id, Actor, CancellationToken.None);
            Assert.Equal(SecretError.QuotaExceeded, (await secrets.CreateAsync(_otherTenant, Draft("q3", "3"), Actor, CancellationToken.None)).Error);
            await secrets.PurgeAsync(_otherTenant, second.Id, Actor, CancellationToken.None);
            Assert.Equal(SecretError.None, (await secrets.CreateAsync(_otherTenant, Draft("q3", "3"), Actor, CancellationToken.None)).Error);
        }
    }

    [Fact]
    public async Task When_the_audit_log_is_down_nothing_is_written_and_no_value_is_returned()
    {
        var secret = await CreateAsync(_tenant, "audited", "before");
        _audit.Unavailable = true;
        var (secrets, db) = New();
        await using (db)
        {
            await Assert.ThrowsAsync<AuditUnavailableException>(() => secrets.CreateAsync(_tenant, Draft("unaudited", "x"), Actor, CancellationToken.None));
            await Assert.ThrowsAsync<AuditUnavailableException>(() => secrets.WriteAsync(_tenant, secret.Id, [1], null, Actor, CancellationToken.None));
            await Assert.ThrowsAsync<AuditUnavailableException>(() => secrets.DeleteAsync(_tenant, secret.Id, Actor, CancellationToken.None));
            await Assert.ThrowsAsync<AuditUnavailableException>(() => secrets.PurgeAsync(_tenant, secret.Id, Actor, CancellationToken.None));
            await Assert.ThrowsAsync<AuditUnavailableException>(() => secrets.ReadAsync(_tenant, secret.Id, null, false, Actor, CancellationToken.None));
        }

        _audit.Unavailable = false;
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.secrets WHERE tenant_id = '{_tenant}' AND state = 'Live'"));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.secret_versions WHERE secret_id = '{secret.Id}'"));
    }

    [Fact]
    public async Task A_read_of_the_current_version_is_one_query_on_the_primary_keys()
    {
        var secret = await CreateAsync(_tenant, "one-query", "value");
        await WriteAsync(_tenant, secret.Id, "value-2");
        var counter = new CommandCounter();
        var (secrets, db) = New(counter);
        await using (db)
        {
            var (read, error) = await secrets.ReadAsync(_tenant, secret.Id, null, false, Actor, CancellationToken.None);
            Assert.Equal(SecretError.None, error);
            Assert.Equal("value-2", Encoding.UTF8.GetString(read!.Value));
        }

        var sql = Assert.Single(counter.Commands);
        Assert.Contains("secret_versions", sql, StringComparison.Ordinal);
        Assert.Contains("tenant_data_keys", sql, StringComparison.Ordinal);
    }

    private sealed class CommandCounter : DbCommandInterceptor
    {
        public ConcurrentQueue<string> Commands { get; } = new();

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
            DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            Commands.Enqueue(command.CommandText);
            return base.ReaderExecutingAsync(command, eventData, result, cancellationToken);
        }
    }

    private sealed class RecordingAudit : IAuditLog
    {
        public ConcurrentQueue<AuditEvent> Events { get; } = new();

        public bool Unavailable { get; set; }

        public Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
        {
            if (Unavailable)
            {
                throw new AuditUnavailableException("test: the audit log is down");
            }

            Events.Enqueue(auditEvent);
            return Task.CompletedTask;
        }
    }
}
