using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Infrastructure.Persistence.PlatformKeys;

namespace Mislata.Testing;

/// <summary>
/// What a service registers for its storage start-up (<see cref="DatabaseMigrator"/>: both schemas' migrations, the
/// platform key, the audit chain's upgrade, the grants), on one database in a single-role install (the one connection
/// string migrates, no QAPI_POSTGRES_MIGRATIONS).
/// </summary>
public static class StorageStartup
{
    public static ServiceProvider Services(string connectionString, MasterKeyRing masterKeys)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(masterKeys);
        services.AddSingleton<PlatformKeyStore>();
        services.AddSingleton(sp => sp.GetRequiredService<PlatformKeyStore>().Current);
        services.AddSingleton<AuditChainKeys>();
        services.AddDbContextFactory<MislataDbContext>(o => o.UseNpgsql(connectionString, n => n.MigrationsHistoryTable("__EFMigrationsHistory", MislataDbContext.Schema)));
        services.AddDbContext<IdentityStoreDbContext>(o =>
        {
            o.UseNpgsql(connectionString, n => n.MigrationsHistoryTable("__EFMigrationsHistory", IdentityStoreDbContext.Schema));
            o.UseOpenIddict<Guid>();
        });
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(new DataStoreOptions { Postgres = connectionString }));
        services.AddSingleton<DatabaseMigrator>();
        return services.BuildServiceProvider();
    }
}
