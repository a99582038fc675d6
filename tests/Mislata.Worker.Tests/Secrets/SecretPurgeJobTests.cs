using Microsoft.Extensions.DependencyInjection;
using Mislata.Core.Audit;
using Mislata.Core.Tenants;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Infrastructure.Persistence.Tenants;
using Mislata.Infrastructure.Secrets;
using Mislata.Worker.Features.Secrets;

namespace Mislata.Worker.Tests.Secrets;

/// <summary>The worker's daily purge of deleted secrets and of versions beyond a tenant's maximum, as the worker's own database role.</summary>
public sealed class SecretPurgeJobTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new(DatabaseGrants.WorkerService);

    public Task InitializeAsync() => _db.InitializeAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private async Task<Guid> TenantAsync(int? versionsKept)
    {
        var tenant = Guid.NewGuid();
        await _db.ExecuteAsync($"""
            INSERT INTO mislata.tenants (id, name, plan_id, status, created_at, updated_at, secret_versions_kept)
            VALUES ('{tenant}', 't-{tenant:N}', '{Plan.CommunityId}', 'Active', now(), now(), {versionsKept?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "NULL"})
            """);
        return tenant;
    }

    /// <summary>A secret with <paramref name="versions"/> versions (dummy sealed bytes: the purge never opens a value).</summary>
    private async Task<Guid> SecretAsync(Guid tenant, int versions, string state = "Live", string? deletedAgo = null)
    {
        var id = Guid.NewGuid();
        var (deletedAt, purgeAt) = deletedAgo is null ? ("NULL", "NULL") : ($"now() - interval '{deletedAgo}'", $"now() - interval '{deletedAgo}' + interval '30 days'");
        await _db.ExecuteAsync($"""
            INSERT INTO mislata.secrets (id, tenant_id, name, labels, current_version, state, deleted_at, purge_at, created_by, created_at, updated_at)
            VALUES ('{id}', '{tenant}', 's-{id:N}', ARRAY[]::text[], {versions}, '{state}', {deletedAt}, {purgeAt}, 'test', now(), now());
            INSERT INTO mislata.secret_versions (secret_id, version, tenant_id, sealed_value, dek_version, created_by, created_at)
            SELECT '{id}', v, '{tenant}', '\x0102030405'::bytea, 1, 'test', now() FROM generate_series(1, {versions}) v;
            """);
        return id;
    }

    private Task<long> VersionsAsync(Guid secret) => _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.secret_versions WHERE secret_id = '{secret}'");

    [Fact]
    public async Task Secrets_deleted_over_thirty_days_ago_and_versions_beyond_the_tenants_maximum_are_purged_and_audited_as_the_system()
    {
        var keepAll = await TenantAsync(null);
        var keepThree = await TenantAsync(3);
        var overdue = await SecretAsync(keepAll, 2, "Deleted", "31 days");
        var recent = await SecretAsync(keepAll, 2, "Deleted", "29 days");
        var many = await SecretAsync(keepAll, 12);
        var pruned = await SecretAsync(keepThree, 5);
        var few = await SecretAsync(keepThree, 3);
        var deletedPruned = await SecretAsync(keepThree, 6, "Deleted", "1 day");

        using var masterKeys = MasterKeyRing.FromBase64(TestEnvironment.NewMasterKey(), null);
        using var platformKey = PlatformKey.Generate();
        using var chainKeys = new AuditChainKeys(platformKey);
        await using var log = new PostgresAuditLog(_db.DataSource, chainKeys, TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());
        await using var services = new ServiceCollection()
            .AddScoped(_ => _db.Contexts.CreateDbContext())
            .AddSingleton<ITenantKeyWrapper>(new AesGcmTenantKeyWrapper(masterKeys))
            .AddSingleton<IRandomSource>(OsRandomSource.Instance)
            .AddSingleton<IAuditLog>(log)
            .AddSingleton(TimeProvider.System)
            .AddScoped<SecretValueSealer>()
            .AddScoped<SecretAdministration>()
            .BuildServiceProvider();
        var job = new SecretPurgeJob(services.GetRequiredService<IServiceScopeFactory>(), MislataDatabase.Logger<SecretPurgeJob>());

        Assert.Equal(new SecretPurgeResult(1, 2 + 3), await job.RunAsync(CancellationToken.None));
        Assert.Equal(new SecretPurgeResult(0, 0), await job.RunAsync(CancellationToken.None));

        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.secrets WHERE id = '{overdue}'"));
        Assert.Equal(0L, await VersionsAsync(overdue));
        Assert.Equal(2L, await VersionsAsync(recent));
        Assert.Equal(12L, await VersionsAsync(many));
        Assert.Equal(3L, await VersionsAsync(few));
        Assert.Equal(3L, await VersionsAsync(deletedPruned));
        Assert.Equal("3,4,5", await _db.ScalarAsync<string>($"SELECT string_agg(version::text, ',' ORDER BY version) FROM mislata.secret_versions WHERE secret_id = '{pruned}'"));
        Assert.Equal(5, await _db.ScalarAsync<int>($"SELECT current_version FROM mislata.secrets WHERE id = '{pruned}'"));

        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE action = 'secret.purge' AND resource_id = '{overdue}' AND actor_type = 'system'"));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE action = 'secret.prune' AND resource_id = '{pruned}' AND actor_type = 'system'"));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE action = 'secret.prune' AND resource_id = '{deletedPruned}'"));
        Assert.Equal(3L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.audit_events WHERE action LIKE 'secret.%'"));
    }
}
