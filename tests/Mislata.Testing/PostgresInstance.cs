using System.Globalization;
using Npgsql;

namespace Mislata.Testing;

/// <summary>
/// A real PostgreSQL server: the run's shared cluster started by test.sh (MISLATA_TEST_PG_PORT/_PASSWORD), or a
/// cluster of the test's own that it may stop and start again.
/// </summary>
public sealed class PostgresInstance : IAsyncDisposable
{
    private readonly string? _folder;

    private PostgresInstance(int port, string password, string? folder)
    {
        Port = port;
        Password = password;
        _folder = folder;
    }

    public int Port { get; }

    public string Password { get; }

    public bool IsOwn => _folder is not null;

    /// <summary>The shared cluster when test.sh started one, otherwise a new cluster of this process's own.</summary>
    public static async Task<PostgresInstance> SharedOrOwnAsync()
    {
        if (Environment.GetEnvironmentVariable("MISLATA_TEST_PG_PORT") is { Length: > 0 } port &&
            Environment.GetEnvironmentVariable("MISLATA_TEST_PG_PASSWORD") is { Length: > 0 } password)
        {
            return new PostgresInstance(int.Parse(port, CultureInfo.InvariantCulture), password, folder: null);
        }

        return await StartOwnAsync();
    }

    /// <summary>A new cluster; when another process took its port before PostgreSQL bound it, it moves to another port.</summary>
    public static async Task<PostgresInstance> StartOwnAsync()
    {
        var folder = TestEnvironment.NewFolder("pg");
        var port = Processes.FreePort();
        var password = TestEnvironment.RandomToken();
        await Processes.RunAsync("bash", [TestEnvironment.StackScript, "pg-init", folder, port.ToString(CultureInfo.InvariantCulture), password],
            new Dictionary<string, string> { ["MISLATA_PG_FSYNC"] = "off", ["MISLATA_PG_SYNC_COMMIT"] = "off" });
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await Processes.StackAsync("pg-start", folder);
                return new PostgresInstance(port, password, folder);
            }
            catch (InvalidOperationException e) when (attempt < 5 && Processes.IsAddressInUse(e.Message))
            {
                port = Processes.FreePort();
                var conf = Path.Combine(folder, "data", "postgresql.conf");
                var lines = (await File.ReadAllLinesAsync(conf))
                    .Select(l => l.StartsWith("port = ", StringComparison.Ordinal) ? "port = " + port.ToString(CultureInfo.InvariantCulture) : l);
                await File.WriteAllLinesAsync(conf, lines);
            }
        }
    }

    public string ConnectionString(string database, int maxPoolSize = 50) =>
        $"Host=127.0.0.1;Port={Port};Database={database};Username=mislata;Password={Password};Maximum Pool Size={maxPoolSize};Timeout=5";

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix = "t")
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 17, 60)];
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public Task StopAsync() => _folder is null
        ? throw new InvalidOperationException("the shared cluster is not this test's to stop")
        : Processes.StackAsync("pg-stop", _folder);

    public Task StartAsync() => _folder is null
        ? throw new InvalidOperationException("the shared cluster is not this test's to start")
        : Processes.StackAsync("pg-start", _folder);

    public async ValueTask DisposeAsync()
    {
        if (_folder is not null)
        {
            await Processes.StackAsync("pg-stop", _folder);
        }
    }
}
