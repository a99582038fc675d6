using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mislata.Core.Audit;
using Mislata.Core.Keys;
using Mislata.Core.Tenants;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Infrastructure.Persistence.Tenants;
using Mislata.Worker.Features.Keys;

namespace Mislata.Worker.Tests.Keys;

/// <summary>
/// The worker's automatic rotation, as the worker's own database role (which reads the tenant's data key to seal the
/// new version, and may not change it): keys past their rotation period and AES-256-GCM keys near their encryption
/// limit get a new current version, once; the others are left alone.
/// </summary>
public sealed class KeyRotationJobTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new(DatabaseGrants.WorkerService);
    private readonly MasterKeyRing _masterKeys = MasterKeyRing.FromBase64(TestEnvironment.NewMasterKey(), null);
    private readonly PlatformKey _platformKey = PlatformKey.Generate();
    private readonly Guid _tenant = Guid.NewGuid();
    private readonly RecordingKeyChanges _changes = new();

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        await _db.ExecuteAsync($"INSERT INTO mislata.tenants (id, name, plan_id, status, created_at, updated_at) VALUES ('{_tenant}', 'acme', '{Plan.CommunityId}', 'Active', now(), now())");
        var dek = new AesGcmTenantKeyWrapper(_masterKeys).CreateDataKey(_tenant, 1);
        await _db.ExecuteAsync($"INSERT INTO mislata.tenant_data_keys (tenant_id, dek_version, wrapped_key, master_key_id, created_at) VALUES ('{_tenant}', 1, '\\x{Convert.ToHexString(dek.WrappedKey)}'::bytea, '{dek.MasterKeyId}', now())");
    }

    public async Task DisposeAsync()
    {
        _masterKeys.Dispose();
        _platformKey.Dispose();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task Keys_past_their_period_or_near_the_aes_gcm_limit_are_rotated_once_and_audited_with_the_reason()
    {
        await using var log = new PostgresAuditLog(_db.DataSource, new AuditChainKeys(_platformKey), TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());
        await using var services = Services(log);

        var scheduled = await InsertKeyAsync(services, AlgorithmNames.Ed25519, KeyType.Signing, "Enabled", "now() - interval '1 minute'", invocations: 0);
        var notYet = await InsertKeyAsync(services, AlgorithmNames.Ed25519, KeyType.Signing, "Enabled", "now() + interval '1 hour'", invocations: 0);
        var disabled = await InsertKeyAsync(services, AlgorithmNames.MlDsa65, KeyType.Signing, "Disabled", "now() - interval '1 day'", invocations: 0);
        var worn = await InsertKeyAsync(services, AlgorithmNames.Aes256Gcm, KeyType.Symmetric, "Enabled", "NULL", invocations: KeyRotation.UsageThreshold);
        var almost = await InsertKeyAsync(services, AlgorithmNames.Aes256Gcm, KeyType.Symmetric, "Enabled", "NULL", invocations: KeyRotation.UsageThreshold - 1);
        // An HMAC key is not limited by nonces: however often it was used, it is not rotated for usage.
        var hmac = await InsertKeyAsync(services, AlgorithmNames.HmacSha256, KeyType.Hmac, "Enabled", "NULL", invocations: KeyRotation.UsageThreshold * 2);

        var job = new KeyRotationJob(services.GetRequiredService<IServiceScopeFactory>(), MislataDatabase.Logger<KeyRotationJob>());
        Assert.Equal(2, await job.RunAsync(CancellationToken.None));
        Assert.Equal(0, await job.RunAsync(CancellationToken.None));

        foreach (var rotated in new[] { scheduled, worn })
        {
            Assert.Equal(2, await _db.ScalarAsync<int>($"SELECT current_version FROM mislata.keys WHERE id = '{rotated}'"));
            Assert.Equal("Deprecated", await _db.ScalarAsync<string>($"SELECT state FROM mislata.key_versions WHERE key_id = '{rotated}' AND version = 1"));
            Assert.Equal("Active", await _db.ScalarAsync<string>($"SELECT state FROM mislata.key_versions WHERE key_id = '{rotated}' AND version = 2"));
        }

        foreach (var untouched in new[] { notYet, disabled, almost, hmac })
        {
            Assert.Equal(1, await _db.ScalarAsync<int>($"SELECT current_version FROM mislata.keys WHERE id = '{untouched}'"));
        }

        // The new version is real material, sealed for its own number, and differs from the first one.
        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<MislataDbContext>();
            var sealer = scope.ServiceProvider.GetRequiredService<KeyMaterialSealer>();
            var key = await db.Set<Key>().FindAsync(scheduled);
            await db.Entry(key!).Collection(k => k.Versions).LoadAsync();
            using var first = await sealer.OpenAsync(key!, key!.Version(1)!, CancellationToken.None);
            using var second = await sealer.OpenAsync(key, key.Version(2)!, CancellationToken.None);
            Assert.False(first.PublicKey!.Raw.SequenceEqual(second.PublicKey!.Raw));
            Assert.Equal(second.PublicKey.Raw.ToArray(), key.Version(2)!.PublicKey);

            // The period starts again from the rotation.
            Assert.InRange(key.NextRotationAt!.Value, DateTimeOffset.UtcNow.AddDays(30).AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30).AddMinutes(5));
        }

        Assert.Equal("schedule", await _db.ScalarAsync<string>($"SELECT details->>'reason' FROM mislata.audit_events WHERE action = 'key.rotate' AND resource_id = '{scheduled}'"));
        Assert.Equal("usage", await _db.ScalarAsync<string>($"SELECT details->>'reason' FROM mislata.audit_events WHERE action = 'key.rotate' AND resource_id = '{worn}'"));
        Assert.Equal("system", await _db.ScalarAsync<string>($"SELECT actor_type FROM mislata.audit_events WHERE action = 'key.rotate' AND resource_id = '{worn}'"));
        Assert.Equal(2L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.audit_events WHERE action = 'key.rotate'"));

        // Every api replica is told to drop the rotated keys from its cache (new encryptions use the new version), and only those.
        Assert.Equal([(_tenant, scheduled), (_tenant, worn)], _changes.Changed.OrderBy(c => c.KeyId == worn).ToList());
    }

    [Fact]
    public async Task A_key_rotated_by_its_tenant_after_the_job_found_it_due_is_not_rotated_a_second_time()
    {
        await using var log = new PostgresAuditLog(_db.DataSource, new AuditChainKeys(_platformKey), TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());
        await using var services = Services(log);
        var key = await InsertKeyAsync(services, AlgorithmNames.Ed25519, KeyType.Signing, "Enabled", "now() - interval '1 minute'", invocations: 0);

        await using var scope = services.CreateAsyncScope();
        var administration = scope.ServiceProvider.GetRequiredService<KeyAdministration>();
        Assert.Equal(KeyError.None, (await administration.RotateAsync(_tenant, key, Mislata.Core.Access.RequestActor.System, CancellationToken.None)).Error);

        // The reason is checked again under the row lock: the period now starts from that rotation.
        var (_, error) = await administration.RotateAsync(_tenant, key, Mislata.Core.Access.RequestActor.System, KeyRotation.Reason, CancellationToken.None);
        Assert.Equal(KeyError.Concurrent, error);
        Assert.Equal(2, await _db.ScalarAsync<int>($"SELECT current_version FROM mislata.keys WHERE id = '{key}'"));
    }

    [Fact]
    public async Task A_key_whose_data_key_cannot_be_opened_is_reported_and_does_not_stop_the_others()
    {
        await using var log = new PostgresAuditLog(_db.DataSource, new AuditChainKeys(_platformKey), TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());
        await using var services = Services(log);
        var good = await InsertKeyAsync(services, AlgorithmNames.Ed25519, KeyType.Signing, "Enabled", "now() - interval '2 minutes'", invocations: 0);

        // A second tenant whose data key was wrapped under a master key this worker does not have.
        var orphanTenant = Guid.NewGuid();
        using var otherMaster = MasterKeyRing.FromBase64(TestEnvironment.NewMasterKey(), null);
        var foreignDek = new AesGcmTenantKeyWrapper(otherMaster).CreateDataKey(orphanTenant, 1);
        var orphan = Guid.NewGuid();
        await _db.ExecuteAsync($"""
            INSERT INTO mislata.tenants (id, name, plan_id, status, created_at, updated_at) VALUES ('{orphanTenant}', 'orphan', '{Plan.CommunityId}', 'Active', now(), now());
            INSERT INTO mislata.tenant_data_keys (tenant_id, dek_version, wrapped_key, master_key_id, created_at) VALUES ('{orphanTenant}', 1, '\x{Convert.ToHexString(foreignDek.WrappedKey)}'::bytea, '{foreignDek.MasterKeyId}', now());
            INSERT INTO mislata.keys (id, tenant_id, name, algorithm, type, origin, state, current_version, min_decryption_version, is_default, tags, created_by, created_at, updated_at, rotation_period_days, next_rotation_at)
            VALUES ('{orphan}', '{orphanTenant}', 'orphan', 'Ed25519', 'Signing', 'Generated', 'Enabled', 1, 1, false, ARRAY[]::text[], 'test', now(), now(), 30, now() - interval '3 minutes');
            INSERT INTO mislata.key_versions (key_id, version, tenant_id, state, sealed_material, dek_version, created_at, invocation_count)
            VALUES ('{orphan}', 1, '{orphanTenant}', 'Active', '\x01020304'::bytea, 1, now(), 0);
            """);

        var logger = new RecordingLogger();
        await using var scope = services.CreateAsyncScope();
        var rotation = new KeyRotation(
            scope.ServiceProvider.GetRequiredService<MislataDbContext>(), scope.ServiceProvider.GetRequiredService<KeyAdministration>(), TimeProvider.System, logger);
        var (rotated, due) = await rotation.RotateDueAsync(CancellationToken.None);

        Assert.Equal((1, 2), (rotated, due));
        Assert.Equal(2, await _db.ScalarAsync<int>($"SELECT current_version FROM mislata.keys WHERE id = '{good}'"));
        Assert.Equal(1, await _db.ScalarAsync<int>($"SELECT current_version FROM mislata.keys WHERE id = '{orphan}'"));
        var entry = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Contains(orphan.ToString(), entry.Message, StringComparison.Ordinal);
    }

    private ServiceProvider Services(IAuditLog log) => new ServiceCollection()
        .AddScoped(_ => _db.Contexts.CreateDbContext())
        .AddSingleton<ITenantKeyWrapper>(new AesGcmTenantKeyWrapper(_masterKeys))
        .AddSingleton<IRandomSource>(OsRandomSource.Instance)
        .AddSingleton<Mislata.Core.Encryption.IKeyChangeNotifier>(_changes)
        .AddSingleton(log)
        .AddSingleton(TimeProvider.System)
        .AddSingleton(typeof(ILogger<>), typeof(Microsoft.Extensions.Logging.Abstractions.NullLogger<>))
        .AddScoped<KeyMaterialSealer>()
        .AddScoped<KeyAdministration>()
        .AddScoped<KeyRotation>()
        .BuildServiceProvider();

    /// <summary>A key of this tenant with one version of real sealed material, inserted as the api would have stored it.</summary>
    private async Task<Guid> InsertKeyAsync(ServiceProvider services, string algorithm, KeyType type, string state, string nextRotation, long invocations)
    {
        var id = Guid.NewGuid();
        SealedVersionMaterial sealedMaterial;
        await using (var scope = services.CreateAsyncScope())
        {
            using var material = AlgorithmRegistry.Default.Generate(algorithm, type, OsRandomSource.Instance);
            sealedMaterial = await scope.ServiceProvider.GetRequiredService<KeyMaterialSealer>().SealAsync(_tenant, id, 1, material, CancellationToken.None);
        }

        var period = nextRotation == "NULL" ? "NULL" : "30";
        var publicKey = sealedMaterial.PublicKey is { } pk ? $"'\\x{Convert.ToHexString(pk)}'::bytea" : "NULL";
        await _db.ExecuteAsync($"""
            INSERT INTO mislata.keys (id, tenant_id, name, algorithm, type, origin, state, current_version, min_decryption_version, is_default, tags, created_by, created_at, updated_at, rotation_period_days, next_rotation_at)
            VALUES ('{id}', '{_tenant}', 'k-{id:N}', '{algorithm}', '{type}', 'Generated', '{state}', 1, 1, false, ARRAY[]::text[], 'test', now(), now(), {period}, {nextRotation});
            INSERT INTO mislata.key_versions (key_id, version, tenant_id, state, sealed_material, dek_version, public_key, created_at, invocation_count)
            VALUES ('{id}', 1, '{_tenant}', 'Active', '\x{Convert.ToHexString(sealedMaterial.Sealed)}'::bytea, {sealedMaterial.DataKeyVersion}, {publicKey}, now(), {invocations});
            """);
        return id;
    }

    private sealed class RecordingLogger : ILogger<KeyRotation>
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }
}
