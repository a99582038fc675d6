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

    /// <summary>The server's log (stack.sh pg-start), for a cluster of this test's own.</summary>
    public string LogFile => _folder is null
        ? throw new InvalidOperationException("the shared cluster's log is not this test's")
        : Path.Combine(_folder, "postgres.log");

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
        // The password reaches stack.sh through its environment, never its command line (CommandLineTests).
        await Processes.RunAsync("bash", [TestEnvironment.StackScript, "pg-init", folder, port.ToString(CultureInfo.InvariantCulture)],
            new Dictionary<string, string>
            {
                ["MISLATA_PG_SUPERUSER_PASSWORD"] = password,
                ["MISLATA_PG_FSYNC"] = "off",
                ["MISLATA_PG_SYNC_COMMIT"] = "off",
            });
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

    /// <summary>The cluster superuser's connection string (tests' set-up and assertions; never a service's).</summary>
    public string ConnectionString(string database, int maxPoolSize = 50) => ConnectionString(database, "mislata", Password, maxPoolSize);

    public string ConnectionString(string database, string username, string password, int maxPoolSize = 50) =>
        $"Host=127.0.0.1;Port={Port};Database={database};Username={username};Password={password};Maximum Pool Size={maxPoolSize};Timeout=5";

    /// <summary>Creates an empty database and returns the superuser's connection string to it.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix = "t")
    {
        var name = NewDatabaseName(prefix);
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    /// <summary>
    /// Creates a database with its roles as <c>./run.sh</c> does (<c>stack.sh pg-roles</c>, deploy/postgres/roles.sql):
    /// the migration role <c>&lt;db&gt;_owner</c> and one login role per service, named after the database so that
    /// stacks sharing the cluster stay apart. Passwords go to the script through its environment.
    /// </summary>
    public async Task<DatabaseLogins> CreateDatabaseWithRolesAsync(string prefix = "t", int maxPoolSize = 50)
    {
        var name = NewDatabaseName(prefix);
        var passwords = new[] { "owner", "identity", "api", "worker" }.ToDictionary(r => r, _ => TestEnvironment.RandomToken(), StringComparer.Ordinal);
        await Processes.RunAsync("bash", [TestEnvironment.StackScript, "pg-roles", Port.ToString(CultureInfo.InvariantCulture), name],
            new Dictionary<string, string>
            {
                ["MISLATA_PG_SUPERUSER_PASSWORD"] = Password,
                ["MISLATA_PG_OWNER_PASSWORD"] = passwords["owner"],
                ["MISLATA_PG_IDENTITY_PASSWORD"] = passwords["identity"],
                ["MISLATA_PG_API_PASSWORD"] = passwords["api"],
                ["MISLATA_PG_WORKER_PASSWORD"] = passwords["worker"],
            });
        return new DatabaseLogins(
            name,
            Admin: ConnectionString(name, maxPoolSize),
            Migrations: ConnectionString(name, name + "_owner", passwords["owner"], 5),
            Services: new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["identity"] = ConnectionString(name, name + "_identity", passwords["identity"], maxPoolSize),
                ["api"] = ConnectionString(name, name + "_api", passwords["api"], maxPoolSize),
                ["worker"] = ConnectionString(name, name + "_worker", passwords["worker"], maxPoolSize),
            });
    }

    private static string NewDatabaseName(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 17, 60)];

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

/// <summary>
/// The logins of one database: <see cref="Admin"/> (the cluster superuser, for tests only), <see cref="Migrations"/>
/// (the schemas' owner, QAPI_POSTGRES_MIGRATIONS) and each service's run-time role (QAPI_POSTGRES).
/// </summary>
public sealed record DatabaseLogins(string Database, string Admin, string Migrations, IReadOnlyDictionary<string, string> Services)
{
    public string For(string service) => Services.TryGetValue(service, out var connectionString)
        ? connectionString
        : throw new ArgumentOutOfRangeException(nameof(service), service, "not a service");

    /// <summary>The role name of a service (or "owner") in this database.</summary>
    public string RoleOf(string service) => Database + "_" + service;
}
