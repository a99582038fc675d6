using System.Diagnostics.CodeAnalysis;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Infrastructure.Persistence.PlatformKeys;
using Mislata.ServiceDefaults;
using Npgsql;

namespace Mislata.Infrastructure.Persistence;

/// <summary>
/// Applies both schemas' migrations, creates or loads the platform key (<see cref="PlatformKeyStore"/>), then the services' grants (<see cref="DatabaseGrants"/>), when a service starts.
/// It connects as the migration role (<c>QAPI_POSTGRES_MIGRATIONS</c>, the schemas' owner; <c>QAPI_POSTGRES</c> when
/// unset, for a single-role install) on a connection of its own that is closed once it is done, so the service runs
/// with its own role only. A PostgreSQL session-level advisory lock serialises replicas that start together: the
/// first applies, the others wait and then find nothing pending.
/// </summary>
public sealed partial class DatabaseMigrator(IServiceProvider services, IOptions<DataStoreOptions> options, ILogger<DatabaseMigrator> logger, TimeProvider time)
{
    /// <summary>Advisory lock key: ASCII "MISLMIGR".</summary>
    internal const long AdvisoryLockKey = 0x4D49534C4D494752;

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var attempt = 0;
        while (true)
        {
            attempt++;
            try
            {
                await MigrateOnceAsync(cancellationToken);
                return;
            }
            catch (Exception ex) when (Npgsql(ex) is { IsTransient: true })
            {
                // No deadline: the service waits for its database (answering 503 meanwhile: StartingResponder) instead
                // of exiting, and says so at the first attempt and then once a minute.
                if (attempt == 1 || attempt % 12 == 0)
                {
                    LogDatabaseUnavailable(logger, attempt);
                }

                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)), time, cancellationToken);
            }
            catch (Exception ex) when (Npgsql(ex) is { } npgsql)
            {
                var variable = options.Value.HasMigrationRole ? "QAPI_POSTGRES_MIGRATIONS" : "QAPI_POSTGRES";
                var hint = npgsql.SqlState == PostgresErrorCodes.InsufficientPrivilege
                    ? $"does {variable} name the role that owns the schemas?"
                    : $"is PostgreSQL reachable with {variable}?";
                var cause = npgsql.InnerException is { } inner ? $"{npgsql.GetType().Name}/{inner.GetType().Name}" : npgsql.GetType().Name;
                throw new StartupException($"database migrations failed after {attempt} attempt(s): {cause} ({npgsql.SqlState ?? "no SQLSTATE"}); {hint}", ex);
            }
        }
    }

    /// <summary>
    /// The PostgreSQL error behind a failure: EF Core's execution strategy wraps a transient one (a refused or timed-out
    /// connection) in an <see cref="InvalidOperationException"/>, which must be retried all the same.
    /// </summary>
    private static NpgsqlException? Npgsql(Exception ex) => ex as NpgsqlException ?? ex.InnerException as NpgsqlException;

    private async Task MigrateOnceAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var app = scope.ServiceProvider.GetRequiredService<MislataDbContext>();
        var identity = scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>();

        // Both contexts share one unpooled connection of the migration role, so the advisory lock (session-scoped)
        // covers both migrations and the grants, and closing it leaves no connection of that role behind.
        var builder = new NpgsqlConnectionStringBuilder(options.Value.MigrationConnectionString)
        {
            ApplicationName = "mislata-migrations",
            Pooling = false,
        };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        app.Database.SetDbConnection(connection);
        identity.Database.SetDbConnection(connection);
        await connection.OpenAsync(cancellationToken);
        await ExecuteAsync(connection, "SELECT pg_advisory_lock(@key)", cancellationToken);
        try
        {
            var applied = await ApplyAsync(app, MislataDbContext.Schema, cancellationToken);

            // The platform key, before anything that derives from it (the audit chain's upgrade below, then the service).
            await services.GetRequiredService<PlatformKeyStore>().EnsureLoadedAsync(connection, cancellationToken);
            if (applied.Any(m => m.EndsWith(AuditChainUpgrade.MigrationName, StringComparison.Ordinal)))
            {
                // Once, in the start-up that introduces the keyed audit chain, still under the lock.
                var sealedHeads = await AuditChainUpgrade.SealLegacyHeadsAsync(connection, services.GetRequiredService<AuditChainKeys>(), cancellationToken);
                LogAuditChainsSealed(logger, sealedHeads);
            }

            await ApplyAsync(identity, IdentityStoreDbContext.Schema, cancellationToken);
            await DatabaseGrants.ApplyAsync(connection, logger, cancellationToken);
        }
        finally
        {
            await ExecuteAsync(connection, "SELECT pg_advisory_unlock(@key)", CancellationToken.None);
        }
    }

    /// <summary>Applies the pending migrations of one schema; returns their ids.</summary>
    private async Task<IReadOnlyList<string>> ApplyAsync(DbContext context, string schema, CancellationToken cancellationToken)
    {
        var pending = (await context.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count == 0)
        {
            LogUpToDate(logger, schema);
            return pending;
        }

        await context.Database.MigrateAsync(cancellationToken);
        LogApplied(logger, pending.Count, schema, string.Join(", ", pending));
        return pending;
    }

    [SuppressMessage("Security", "CA2100", Justification = "Constant SQL with a parameter.")]
    private static async Task ExecuteAsync(System.Data.Common.DbConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = 300;
        var parameter = command.CreateParameter();
        parameter.ParameterName = "key";
        parameter.Value = AdvisoryLockKey;
        command.Parameters.Add(parameter);
        await command.ExecuteScalarAsync(cancellationToken);
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Applied {Count} migration(s) to schema {Schema}: {Migrations}")]
    private static partial void LogApplied(ILogger logger, int count, string schema, string migrations);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Schema {Schema} is up to date")]
    private static partial void LogUpToDate(ILogger logger, string schema);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Audit chains written before the keyed chain: {Count} head(s) sealed under the current master key")]
    private static partial void LogAuditChainsSealed(ILogger logger, int count);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "PostgreSQL is not reachable yet (attempt {Attempt}); retrying")]
    private static partial void LogDatabaseUnavailable(ILogger logger, int attempt);
}
