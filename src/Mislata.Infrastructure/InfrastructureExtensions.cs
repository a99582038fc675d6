using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Mislata.Core.Audit;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Infrastructure.DataProtection;
using Mislata.Infrastructure.Health;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.Licensing;
using Mislata.Infrastructure.MasterKeys;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.PlatformKeys;
using Mislata.Infrastructure.Redis;
using Mislata.Infrastructure.Secrets;
using Mislata.Infrastructure.Tenancy;
using Mislata.ServiceDefaults;
using Mislata.ServiceDefaults.Health;
using Mislata.ServiceDefaults.Problems;
using Npgsql;
using StackExchange.Redis;

namespace Mislata.Infrastructure;

/// <summary>
/// Where the data lives: <c>QAPI_POSTGRES</c> (Npgsql connection string of the service's own role),
/// <c>QAPI_POSTGRES_MIGRATIONS</c> (optional: the schemas' owner, used only while the service starts) and <c>QAPI_REDIS</c>.
/// </summary>
public sealed class DataStoreOptions
{
    [Required(ErrorMessage = "QAPI_POSTGRES is not set (an Npgsql connection string).")]
    public string Postgres { get; set; } = string.Empty;

    /// <summary>The migration role's connection string; empty in a single-role install, where <see cref="Postgres"/> migrates.</summary>
    public string PostgresMigrations { get; set; } = string.Empty;

    public bool HasMigrationRole => PostgresMigrations.Length > 0;

    public string MigrationConnectionString => HasMigrationRole ? PostgresMigrations : Postgres;

    [Required(ErrorMessage = "QAPI_REDIS is not set (a Redis configuration string, e.g. localhost:6379).")]
    public string Redis { get; set; } = string.Empty;
}

public static class InfrastructureExtensions
{
    public const string DataProtectionRedisKey = "mislata:dataprotection:keys";
    public const string CacheInstanceName = "mislata:cache:";

    /// <summary>PostgreSQL (both schemas), Redis, the shared Data Protection key ring, the distributed cache and readiness checks.</summary>
    public static WebApplicationBuilder AddMislataInfrastructure(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new DataStoreOptions
        {
            Postgres = builder.Configuration["QAPI_POSTGRES"] ?? string.Empty,
            PostgresMigrations = builder.Configuration["QAPI_POSTGRES_MIGRATIONS"] ?? string.Empty,
            Redis = builder.Configuration["QAPI_REDIS"] ?? string.Empty,
        };
        var failures = new List<ValidationResult>();
        if (!Validator.TryValidateObject(options, new ValidationContext(options), failures, validateAllProperties: true))
        {
            throw new OptionsValidationException(nameof(DataStoreOptions), typeof(DataStoreOptions), failures.Select(f => f.ErrorMessage ?? "invalid"));
        }

        builder.Services.AddSingleton(Options.Create(options));

        NpgsqlDataSource dataSource;
        try
        {
            var csb = new NpgsqlConnectionStringBuilder(options.Postgres) { ApplicationName = "mislata" };
            dataSource = new NpgsqlDataSourceBuilder(csb.ConnectionString).Build();
        }
        catch (ArgumentException ex)
        {
            throw new StartupException("QAPI_POSTGRES is not a valid Npgsql connection string.", ex);
        }

        if (options.HasMigrationRole)
        {
            try
            {
                _ = new NpgsqlConnectionStringBuilder(options.PostgresMigrations);
            }
            catch (ArgumentException ex)
            {
                throw new StartupException("QAPI_POSTGRES_MIGRATIONS is not a valid Npgsql connection string.", ex);
            }
        }

        builder.Services.AddSingleton(dataSource);
        // Dependency outages: logged once each, counted, and PostgreSQL's circuit (PostgresCircuitInterceptor) closed
        // again by DependencyWatch's probe.
        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<DependencyOutages>();
        builder.Services.AddSingleton<PostgresCircuitInterceptor>();
        builder.Services.AddHostedService<DependencyWatch>();
        builder.Services.AddDbContext<IdentityStoreDbContext>((sp, o) =>
        {
            o.UseNpgsql(dataSource, npgsql => npgsql.MigrationsHistoryTable("__EFMigrationsHistory", IdentityStoreDbContext.Schema));
            o.UseOpenIddict<Guid>();
            o.AddInterceptors(sp.GetRequiredService<PostgresCircuitInterceptor>());
        });
        // The factory (for singletons and background writers) also registers MislataDbContext as scoped.
        builder.Services.AddDbContextFactory<MislataDbContext>((sp, o) => o.UseNpgsql(dataSource, npgsql =>
            npgsql.MigrationsHistoryTable("__EFMigrationsHistory", MislataDbContext.Schema))
            .AddInterceptors(sp.GetRequiredService<PostgresCircuitInterceptor>()));
        builder.Services.AddSingleton<DatabaseMigrator>();

        // The key hierarchy: the master key (MasterKeyRing) wraps the platform key, loaded by the migrator at start.
        builder.Services.AddSingleton<PlatformKeyStore>();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<PlatformKeyStore>().Current);

        // Audit log: group-committed, keyed chain (master-key derived MAC), fail-closed.
        builder.Services.AddSingleton<AuditChainKeys>();
        builder.Services.AddSingleton<PostgresAuditLog>();
        builder.Services.AddSingleton<IAuditLog>(sp => sp.GetRequiredService<PostgresAuditLog>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PostgresAuditLog>());
        builder.Services.AddSingleton<IAuditReader, PostgresAuditReader>();

        var redis = RedisConnection.Connect(options.Redis);
        builder.Services.AddSingleton(redis);
        builder.Services.AddStackExchangeRedisCache(o =>
        {
            o.ConnectionMultiplexerFactory = () => Task.FromResult(redis);
            o.InstanceName = CacheInstanceName;
        });

        builder.Services.AddDataProtection()
            .SetApplicationName("mislata")
            .PersistKeysToStackExchangeRedis(redis, DataProtectionRedisKey);
        builder.Services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp =>
            new ConfigureOptions<KeyManagementOptions>(o => o.XmlEncryptor = new MasterKeyXmlEncryptor(sp.GetRequiredService<PlatformKey>(), sp.GetService<Mislata.Crypto.Entropy.IRandomSource>())));

        builder.Services.AddMislataTenancy();
        builder.Services.AddMislataKeys();
        builder.Services.AddMislataSecrets();
        builder.Services.AddMislataLicensing();
        builder.Services.AddMislataMasterKeyRotation();

        builder.Services.AddHealthChecks()
            .AddCheck<PostgresHealthCheck>("postgres", tags: [HealthTags.Ready], timeout: TimeSpan.FromSeconds(4))
            .AddCheck<RedisHealthCheck>("redis", tags: [HealthTags.Ready], timeout: TimeSpan.FromSeconds(4));
        return builder;
    }

    /// <summary>
    /// Before the service listens: applies pending migrations of both schemas under the advisory lock, and loads (or
    /// creates) the shared Data Protection key ring so the first request does not pay for it.
    /// </summary>
    public static async Task InitializeMislataStorageAsync(this WebApplication app, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(app);
        await app.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
        try
        {
            app.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("mislata.startup").Protect([1]);
        }
        catch (RedisException ex)
        {
            // Redis may be down at start: the key ring is then created on first use, once Redis is back.
            app.Logger.LogWarning(ex, "The Data Protection key ring could not be loaded at start");
        }
    }
}
