using System.Diagnostics.CodeAnalysis;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Mislata.Infrastructure.Identity;
using Mislata.ServiceDefaults;
using Npgsql;

namespace Mislata.Infrastructure.Persistence;

/// <summary>
/// Applies both schemas' migrations, then the services' grants (<see cref="DatabaseGrants"/>), when a service starts.
/// It connects as the migration role (<c>QAPI_POSTGRES_MIGRATIONS</c>, the schemas' owner; <c>QAPI_POSTGRES</c> when
/// unset, for a single-role install) on a connection of its own that is closed once it is done, so the service runs
/// with its own role only. A PostgreSQL session-level advisory lock serialises replicas that start together: the
/// first applies, the others wait and then find nothing pending.
/// </summary>
public sealed partial class DatabaseMigrator(IServiceProvider services, IOptions<DataStoreOptions> options, ILogger<DatabaseMigrator> logger, TimeProvider time)
{
    /// <summary>Advisory lock key: ASCII "MISLMIGR".</summary>
    internal const long AdvisoryLockKey = 0x4D49534C4D494752;

    private static readonly TimeSpan StartupBudget = TimeSpan.FromSeconds(90);

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var attempt = 0;
        while (true)
        {
            attempt++;
            try
            {
                await MigrateOnceAsync(cancellationToken);
                return;
            }
            catch (NpgsqlException ex) when (ex.IsTransient && time.GetElapsedTime(started) < StartupBudget)
            {
                LogDatabaseUnavailable(logger, attempt);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)), time, cancellationToken);
            }
            catch (NpgsqlException ex)
            {
                var variable = options.Value.HasMigrationRole ? "QAPI_POSTGRES_MIGRATIONS" : "QAPI_POSTGRES";
                var hint = ex.SqlState == PostgresErrorCodes.InsufficientPrivilege
                    ? $"does {variable} name the role that owns the schemas?"
                    : $"is PostgreSQL reachable with {variable}?";
                var cause = ex.InnerException is { } inner ? $"{ex.GetType().Name}/{inner.GetType().Name}" : ex.GetType().Name;
                throw new StartupException($"database migrations failed after {attempt} attempt(s): {cause} ({ex.SqlState ?? "no SQLSTATE"}); {hint}", ex);
            }
        }
    }

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
            await ApplyAsync(app, MislataDbContext.Schema, cancellationToken);
            await ApplyAsync(identity, IdentityStoreDbContext.Schema, cancellationToken);
            await DatabaseGrants.ApplyAsync(connection, logger, cancellationToken);
        }
        finally
        {
            await ExecuteAsync(connection, "SELECT pg_advisory_unlock(@key)", CancellationToken.None);
        }
    }

    private async Task ApplyAsync(DbContext context, string schema, CancellationToken cancellationToken)
    {
        var pending = (await context.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count == 0)
        {
            LogUpToDate(logger, schema);
            return;
        }

        await context.Database.MigrateAsync(cancellationToken);
        LogApplied(logger, pending.Count, schema, string.Join(", ", pending));
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

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "PostgreSQL is not reachable yet (attempt {Attempt}); retrying")]
    private static partial void LogDatabaseUnavailable(ILogger logger, int attempt);
}
