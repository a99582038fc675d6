using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Infrastructure.Persistence.PlatformKeys;
using Mislata.ServiceDefaults;
using Npgsql;

namespace Mislata.Infrastructure.Tests.PlatformKeys;

/// <summary>
/// The key hierarchy at a service's start (the migrator creates or loads the platform key), on real PostgreSQL: a fresh
/// installation gets a random key, one holding master-derived data keeps its master key as platform key, and a wrong
/// master key stops the start with a message naming the variable, never a value.
/// </summary>
public sealed class PlatformKeyStoreTests : IAsyncLifetime
{
    private const string MigrationBeforeHierarchy = "20261207120055_UsagePeriods";
    private readonly string _master = TestEnvironment.NewMasterKey();
    private readonly List<ServiceProvider> _replicas = [];
    private PostgresInstance? _postgres;
    private string _connectionString = string.Empty;

    public async Task InitializeAsync()
    {
        _postgres = await PostgresInstance.SharedOrOwnAsync();
        _connectionString = await _postgres.CreateDatabaseAsync("hierarchy");
    }

    public async Task DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    /// <summary>A service's storage start-up with these master keys; returns the platform key it loaded.</summary>
    private async Task<PlatformKey> StartAsync(string current, string? previous = null)
    {
        var provider = StorageStartup.Services(_connectionString, MasterKeyRing.FromBase64(current, previous));
        _replicas.Add(provider);
        await provider.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);
        return provider.GetRequiredService<PlatformKey>();
    }

    private async Task<T> ScalarAsync<T>(string sql)
    {
        await using var dataSource = NpgsqlDataSource.Create(_connectionString);
        await using var command = dataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static byte[] Derive(RootKey key, string purpose)
    {
        var derived = new byte[32];
        key.DeriveKey(purpose, derived);
        return derived;
    }

    [Fact]
    public async Task A_fresh_installation_gets_a_random_platform_key_that_every_replica_loads()
    {
        using var ring = MasterKeyRing.FromBase64(_master, null);

        var first = await StartAsync(_master);
        var second = await StartAsync(_master);

        Assert.Matches("^pk-[0-9a-f]{16}$", first.Id);
        Assert.Equal(first.Id, second.Id);
        Assert.Equal(Derive(first, "api-key-hash"), Derive(second, "api-key-hash"));
        Assert.NotEqual(Derive(ring.Current, "api-key-hash"), Derive(first, "api-key-hash"));
        Assert.False(await ScalarAsync<bool>("SELECT legacy FROM mislata.platform_key_origin"));
        Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM mislata.platform_keys"));
        Assert.Equal(ring.Current.Id, await ScalarAsync<string>("SELECT master_key_id FROM mislata.platform_keys"));
    }

    [Fact]
    public async Task An_installation_holding_master_derived_data_keeps_its_master_key_as_platform_key()
    {
        await using (var db = new MislataDbContext(new DbContextOptionsBuilder<MislataDbContext>()
            .UseNpgsql(_connectionString, n => n.MigrationsHistoryTable("__EFMigrationsHistory", MislataDbContext.Schema)).Options))
        {
            await db.GetService<IMigrator>().MigrateAsync(MigrationBeforeHierarchy);
            var tenant = Guid.NewGuid();
            await db.Database.ExecuteSqlAsync($"INSERT INTO mislata.tenants (id, name, plan_id, status, created_at, updated_at) VALUES ({tenant}, {"legacy-" + tenant.ToString("N")}, {Mislata.Core.Tenants.Plan.CommunityId}, 'Active', now(), now())");
        }

        // The first start after the upgrade takes the platform key over from the one key the installation ran with.
        var refused = await Assert.ThrowsAsync<StartupException>(() => StartAsync(TestEnvironment.NewMasterKey(), _master));
        Assert.Contains(MasterKeyRing.PreviousVariable, refused.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM mislata.platform_keys"));

        using var ring = MasterKeyRing.FromBase64(_master, null);
        var platformKey = await StartAsync(_master);

        Assert.True(await ScalarAsync<bool>("SELECT legacy FROM mislata.platform_key_origin"));
        Assert.Equal(ring.Current.Id, platformKey.Id);
        foreach (var purpose in new[] { "api-key-hash", "audit-chain-mac", "dataprotection-keyring", "identity-signing-keys", "identity-user-secrets", "idempotency-request" })
        {
            Assert.Equal(Derive(ring.Current, purpose), Derive(platformKey, purpose));
        }
    }

    [Fact]
    public async Task A_wrong_master_key_stops_the_start_naming_the_variable_never_a_value()
    {
        var created = await StartAsync(_master);
        var wrong = TestEnvironment.NewMasterKey();

        var ex = await Assert.ThrowsAsync<StartupException>(() => StartAsync(wrong));
        Assert.Contains(MasterKeyRing.CurrentVariable, ex.Message, StringComparison.Ordinal);
        Assert.Contains(MasterKeyRing.PreviousVariable, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_master, ex.Message, StringComparison.Ordinal);

        // During a rotation (the old key as previous) the same platform key loads.
        Assert.Equal(created.Id, (await StartAsync(wrong, _master)).Id);
    }

    [Fact]
    public async Task A_tampered_stored_platform_key_stops_the_start()
    {
        await StartAsync(_master);
        await using (var dataSource = NpgsqlDataSource.Create(_connectionString))
        await using (var tamper = dataSource.CreateCommand("UPDATE mislata.platform_keys SET wrapped_key = overlay(wrapped_key placing '\\xff'::bytea from 20 for 1)"))
        {
            await tamper.ExecuteNonQueryAsync();
        }

        var ex = await Assert.ThrowsAsync<StartupException>(() => StartAsync(_master));
        Assert.Contains("does not unwrap with " + MasterKeyRing.CurrentVariable, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_master, ex.Message, StringComparison.Ordinal);
    }
}
