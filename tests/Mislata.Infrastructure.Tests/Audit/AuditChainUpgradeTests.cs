using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Core.Audit;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Infrastructure.Persistence.PlatformKeys;
using Npgsql;

namespace Mislata.Infrastructure.Tests.Audit;

/// <summary>
/// The upgrade of a database whose audit chains were written under the unkeyed rule, through the service start-up's
/// migrator: the start-up that applies the keyed-chain migration seals the existing heads, once.
/// </summary>
public sealed class AuditChainUpgradeTests : IAsyncLifetime
{
    private const string LastUnkeyedMigration = "20261123205828_Tenancy";

    private readonly MasterKeyRing _masterKeys = MasterKeyRing.FromBase64(TestEnvironment.NewMasterKey(), null);
    private PostgresInstance? _postgres;
    private ServiceProvider _services = null!;
    private NpgsqlDataSource _dataSource = null!;
    private string _connectionString = string.Empty;

    public async Task InitializeAsync()
    {
        _postgres = await PostgresInstance.SharedOrOwnAsync();
        var connectionString = _connectionString = await _postgres.CreateDatabaseAsync("upgrade");
        _dataSource = NpgsqlDataSource.Create(connectionString);
        _services = StorageStartup.Services(connectionString, _masterKeys);
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _dataSource.DisposeAsync();
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        _masterKeys.Dispose();
    }

    private PostgresAuditReader Reader() => new(
        _services.GetRequiredService<IDbContextFactory<MislataDbContext>>(), _services.GetRequiredService<AuditChainKeys>(), TimeProvider.System);

    [Fact]
    public async Task The_start_up_that_introduces_the_keyed_chain_seals_unkeyed_chains_once_and_later_start_ups_do_not()
    {
        // A database as the unkeyed version left it: two chains of v1 rows, heads without a MAC.
        await using (var scope = _services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<MislataDbContext>().GetService<IMigrator>().MigrateAsync(LastUnkeyedMigration);
        }

        var (first, second) = (Guid.NewGuid(), Guid.NewGuid());
        await UnkeyedChains.InsertAsync(_connectionString, first, 3);
        await UnkeyedChains.InsertAsync(_connectionString, second, 2);

        await _services.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);
        // A database with audit events before the key hierarchy: its platform key is its master key (same id, same derivations).
        Assert.Equal(_masterKeys.Current.Id, _services.GetRequiredService<PlatformKey>().Id);
        Assert.Equal(new AuditVerification(true, 3, null) { VerifiedThrough = 3 }, await Reader().VerifyAllAsync(first, CancellationToken.None));
        Assert.Equal(new AuditVerification(true, 2, null) { VerifiedThrough = 2 }, await Reader().VerifyAllAsync(second, CancellationToken.None));

        // New events continue the chain under the key; the v1 rows stay untouched and anchored.
        await using (var log = new PostgresAuditLog(_dataSource, _services.GetRequiredService<AuditChainKeys>(), TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>()))
        {
            await log.RecordAsync(new AuditEvent { TenantId = first, ActorType = AuditActorType.System, ActorId = "system", Action = "key.rotate", Outcome = AuditOutcome.Success }, CancellationToken.None);
        }

        Assert.Equal(new AuditVerification(true, 4, null) { VerifiedThrough = 4 }, await Reader().VerifyAllAsync(first, CancellationToken.None));

        // A head whose MAC is cleared afterwards is not sealed again by a later start-up.
        await using (var clear = _dataSource.CreateCommand($"UPDATE mislata.audit_chain_heads SET mac = NULL, mac_key_id = NULL WHERE chain = '{second}'"))
        {
            await clear.ExecuteNonQueryAsync();
        }

        await _services.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);
        var cleared = await Reader().VerifyAsync(second, 100, CancellationToken.None);
        Assert.False(cleared.Valid);
        Assert.Equal(AuditVerification.HeadReason, cleared.Reason);
    }
}
