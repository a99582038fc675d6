using Microsoft.Extensions.DependencyInjection;
using Mislata.Core.Audit;
using Mislata.Core.Encryption;
using Mislata.Core.Tenants;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Infrastructure.Persistence.Tenants;
using Mislata.Worker.Features.Keys;

namespace Mislata.Worker.Tests.Keys;

/// <summary>The worker's destruction of keys past their deletion window, as the worker's own database role.</summary>
public sealed class KeyDestructionJobTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new(DatabaseGrants.WorkerService);

    public Task InitializeAsync() => _db.InitializeAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Keys_past_their_window_are_destroyed_with_their_material_erased_and_the_others_are_left_alone()
    {
        var tenant = Guid.NewGuid();
        await _db.ExecuteAsync($"INSERT INTO mislata.tenants (id, name, plan_id, status, created_at, updated_at) VALUES ('{tenant}', 'acme', '{Plan.CommunityId}', 'Active', now(), now())");
        var (due, notYet, enabled) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        foreach (var (id, state, deletion) in new[] { (due, "PendingDeletion", "now() - interval '1 minute'"), (notYet, "PendingDeletion", "now() + interval '1 day'"), (enabled, "Enabled", "NULL") })
        {
            await _db.ExecuteAsync($"""
                INSERT INTO mislata.keys (id, tenant_id, name, algorithm, type, origin, state, current_version, min_decryption_version, is_default, tags, created_by, created_at, updated_at, deletion_date)
                VALUES ('{id}', '{tenant}', 'k-{id:N}', 'Ed25519', 'Signing', 'Generated', '{state}', 2, 1, false, ARRAY[]::text[], 'test', now(), now(), {deletion});
                INSERT INTO mislata.key_versions (key_id, version, tenant_id, state, sealed_material, dek_version, created_at, invocation_count)
                VALUES ('{id}', 1, '{tenant}', 'Deprecated', '\x01020304'::bytea, 1, now(), 0), ('{id}', 2, '{tenant}', 'Active', '\x05060708'::bytea, 1, now(), 0);
                """);
        }

        using var masterKeys = MasterKeyRing.FromBase64(TestEnvironment.NewMasterKey(), null);
        using var platformKey = PlatformKey.Generate();
        using var chainKeys = new AuditChainKeys(platformKey);
        await using var log = new PostgresAuditLog(_db.DataSource, chainKeys, TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());
        var changes = new RecordingKeyChanges();
        await using var services = new ServiceCollection()
            .AddScoped(_ => _db.Contexts.CreateDbContext())
            .AddSingleton<ITenantKeyWrapper>(new AesGcmTenantKeyWrapper(masterKeys))
            .AddSingleton<IRandomSource>(OsRandomSource.Instance)
            .AddSingleton<IAuditLog>(log)
            .AddSingleton<IKeyChangeNotifier>(changes)
            .AddSingleton(TimeProvider.System)
            .AddScoped<KeyMaterialSealer>()
            .AddScoped<KeyAdministration>()
            .BuildServiceProvider();
        var job = new KeyDestructionJob(services.GetRequiredService<IServiceScopeFactory>(), MislataDatabase.Logger<KeyDestructionJob>());

        Assert.Equal(1, await job.RunAsync(CancellationToken.None));
        Assert.Equal(0, await job.RunAsync(CancellationToken.None));

        Assert.Equal("Destroyed", await _db.ScalarAsync<string>($"SELECT state FROM mislata.keys WHERE id = '{due}'"));
        Assert.Equal(2L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.key_versions WHERE key_id = '{due}' AND state = 'Destroyed' AND length(sealed_material) = 0 AND destroyed_at IS NOT NULL"));
        Assert.Equal("PendingDeletion", await _db.ScalarAsync<string>($"SELECT state FROM mislata.keys WHERE id = '{notYet}'"));
        Assert.Equal(4L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.key_versions WHERE key_id IN ('{notYet}', '{enabled}') AND length(sealed_material) = 4"));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE action = 'key.destroy' AND resource_id = '{due}'"));

        // Every api replica is told to drop the destroyed key's cached material, and only that key.
        Assert.Equal([(tenant, due)], changes.Changed);
    }
}
