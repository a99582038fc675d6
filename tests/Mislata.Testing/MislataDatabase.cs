using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Mislata.Infrastructure.Persistence;
using Npgsql;

namespace Mislata.Testing;

/// <summary>A fresh database in the run's real PostgreSQL with the mislata schema migrated.</summary>
public sealed class MislataDatabase : IAsyncDisposable
{
    private PostgresInstance? _postgres;

    public string ConnectionString { get; private set; } = string.Empty;

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public IDbContextFactory<MislataDbContext> Contexts { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _postgres = await PostgresInstance.SharedOrOwnAsync();
        ConnectionString = await _postgres.CreateDatabaseAsync("infra");
        DataSource = NpgsqlDataSource.Create(ConnectionString);
        var options = new DbContextOptionsBuilder<MislataDbContext>()
            .UseNpgsql(DataSource, o => o.MigrationsHistoryTable("__EFMigrationsHistory", MislataDbContext.Schema))
            .Options;
        Contexts = new Factory(options);
        await using var db = Contexts.CreateDbContext();
        await db.Database.MigrateAsync();
    }

    public async Task<int> ExecuteAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        return await command.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    public static NullLogger<T> Logger<T>() => NullLogger<T>.Instance;

    private sealed class Factory(DbContextOptions<MislataDbContext> options) : IDbContextFactory<MislataDbContext>
    {
        public MislataDbContext CreateDbContext() => new(options);
    }
}
