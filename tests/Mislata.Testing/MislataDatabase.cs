using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Mislata.Infrastructure.Persistence;
using Npgsql;

namespace Mislata.Testing;

/// <summary>
/// A fresh database in the run's real PostgreSQL with the mislata schema migrated by the migration role and the
/// services' grants applied, as at a service's start. <see cref="DataSource"/> and <see cref="Contexts"/> connect as
/// the run-time role of <c>service</c> (the api's unless told), so the code under test has exactly that role's
/// privileges; <see cref="ExecuteAsync"/> and <see cref="ScalarAsync{T}"/> run as the superuser (set-up, tampering).
/// </summary>
public sealed class MislataDatabase(string service = DatabaseGrants.ApiService) : IAsyncDisposable
{
    private PostgresInstance? _postgres;
    private NpgsqlDataSource? _admin;

    public DatabaseLogins Logins { get; private set; } = null!;

    public string ConnectionString => Logins.For(service);

    /// <summary>The superuser's connection string: what an attacker with database access alone holds (tampering tests).</summary>
    public string AdminConnectionString => Logins.Admin;

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public IDbContextFactory<MislataDbContext> Contexts { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _postgres = await PostgresInstance.SharedOrOwnAsync();
        Logins = await _postgres.CreateDatabaseWithRolesAsync("infra");
        _admin = NpgsqlDataSource.Create(Logins.Admin);

        await using (var owner = new NpgsqlConnection(Logins.Migrations))
        {
            await owner.OpenAsync();
            await using (var db = new MislataDbContext(Options(o => o.UseNpgsql(owner, History))))
            {
                await db.Database.MigrateAsync();
            }

            await DatabaseGrants.ApplyAsync(owner, NullLogger.Instance, CancellationToken.None);
        }

        DataSource = NpgsqlDataSource.Create(ConnectionString);
        Contexts = new Factory(Options(o => o.UseNpgsql(DataSource, History)));
    }

    public async Task<int> ExecuteAsync(string sql)
    {
        await using var command = _admin!.CreateCommand(sql);
        return await command.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var command = _admin!.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async ValueTask DisposeAsync()
    {
        if (DataSource is not null)
        {
            await DataSource.DisposeAsync();
        }

        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    public static NullLogger<T> Logger<T>() => NullLogger<T>.Instance;

    private static void History(Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.NpgsqlDbContextOptionsBuilder o) =>
        o.MigrationsHistoryTable("__EFMigrationsHistory", MislataDbContext.Schema);

    private static DbContextOptions<MislataDbContext> Options(Action<DbContextOptionsBuilder<MislataDbContext>> configure)
    {
        var builder = new DbContextOptionsBuilder<MislataDbContext>();
        configure(builder);
        return builder.Options;
    }

    private sealed class Factory(DbContextOptions<MislataDbContext> options) : IDbContextFactory<MislataDbContext>
    {
        public MislataDbContext CreateDbContext() => new(options);
    }
}
