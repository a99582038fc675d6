using System.Net;
using Mislata.Crypto.Envelope;
using Npgsql;

namespace Mislata.Testing;

public sealed record StackOptions
{
    public int IdentityReplicas { get; init; } = 1;

    public int ApiReplicas { get; init; } = 1;

    public int WorkerReplicas { get; init; } = 1;

    /// <summary>A PostgreSQL cluster of the stack's own (so a test may stop it), rather than a database in the shared one.</summary>
    public bool OwnPostgres { get; init; }

    /// <summary>
    /// The services trust the TEST vendor key (tests/Mislata.Testing.LicensedHost) and start with
    /// <see cref="Licence"/> installed. Default true: the stacks create more tenants and keys than Community allows.
    /// </summary>
    public bool TrustTestVendor { get; init; } = true;

    /// <summary>The licence given as QAPI_LICENSE (with <see cref="TrustTestVendor"/>): by default an unlimited test licence valid for a year; null for none (Community).</summary>
    public string? Licence { get; init; } = DefaultLicence.Value;

    private static readonly Lazy<string> DefaultLicence = new(() =>
        Licensing.TestVendor.Issue(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), licensee: "End-to-end tests"));

    /// <summary>Extra environment for every service (null removes a variable).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    /// <summary>
    /// Every secret (master key, connection strings, admin password, bootstrap secret, licence) as a file named by its
    /// <c>_FILE</c> variable, as compose and Kubernetes give them, instead of in the environment.
    /// </summary>
    public bool SecretsAsFiles { get; init; }
}

/// <summary>
/// The whole platform as a user runs it: PostgreSQL, Redis, the identity, api and worker processes and the nginx
/// gateway in front. Tests talk to <see cref="Gateway"/> only.
/// </summary>
public sealed class MislataStack : IAsyncDisposable
{
    /// <summary>
    /// How long a service may take to come up (and a stack to turn healthy). Generous on purpose: on a loaded 2-core
    /// machine a .NET process can take more than a minute to start, and a slow start is not what these tests check.
    /// </summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(4);

    private readonly List<ServiceProcess> _services = [];

    private MislataStack(StackOptions options, PostgresInstance postgres, RedisInstance redis, GatewayInstance gateway, DatabaseLogins database)
    {
        Options = options;
        Postgres = postgres;
        Redis = redis;
        Gateway = gateway;
        Database = database;
    }

    public StackOptions Options { get; }

    public PostgresInstance Postgres { get; }

    public RedisInstance Redis { get; }

    public GatewayInstance Gateway { get; }

    /// <summary>The stack's database and its logins: the services run with their own roles, migrate with the owner.</summary>
    public DatabaseLogins Database { get; }

    /// <summary>The cluster superuser on the stack's database: for tests' set-up and assertions, never used by a service.</summary>
    public string PostgresConnectionString => Database.Admin;

    /// <summary>QAPI_MASTER_KEY of the services started (or restarted) from now on.</summary>
    public string MasterKey { get; private set; } = TestEnvironment.NewMasterKey();

    /// <summary>QAPI_MASTER_KEY_PREVIOUS of the services started (or restarted) from now on; null = not set.</summary>
    public string? PreviousMasterKey { get; private set; }

    /// <summary>Changes the master keys services start with (a master-key rotation); restart them for it to take effect.</summary>
    public void UseMasterKeys(string current, string? previous)
    {
        MasterKey = current;
        PreviousMasterKey = previous;
    }

    /// <summary>The stack's platform key, unwrapped from <c>mislata.platform_keys</c> with the configured master keys (tests inspecting sealed data).</summary>
    public async Task<PlatformKey> PlatformKeyAsync()
    {
        await using var connection = new NpgsqlConnection(PostgresConnectionString);
        await connection.OpenAsync();
        await using var select = new NpgsqlCommand("SELECT id, wrapped_key, master_key_id FROM mislata.platform_keys", connection);
        await using var reader = await select.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            throw new InvalidOperationException("the stack has no platform key");
        }

        using var ring = MasterKeyRing.FromBase64(MasterKey, PreviousMasterKey);
        var master = ring.Find(reader.GetString(2)) ?? throw new InvalidOperationException("the platform key is wrapped under a master key the stack does not have");
        return PlatformKey.Unwrap(reader.GetString(0), (byte[])reader[1], master);
    }

    public string AdminEmail { get; } = "admin@e2e.mislata.test";

    public string AdminPassword { get; } = "Adm1n-" + TestEnvironment.RandomToken(12) + "-x";

    public string BootstrapClientId { get; } = "e2e-operator";

    public string BootstrapClientSecret { get; } = TestEnvironment.RandomToken(32);

    public IReadOnlyList<ServiceProcess> Services => _services;

    public IEnumerable<ServiceProcess> Of(string name) => _services.Where(s => s.Name == name);

    public static async Task<MislataStack> StartAsync(StackOptions? options = null)
    {
        options ??= new StackOptions();
        var timing = new StartTiming();
        var postgres = options.OwnPostgres ? await PostgresInstance.StartOwnAsync() : await PostgresInstance.SharedOrOwnAsync();
        var database = await postgres.CreateDatabaseWithRolesAsync("e2e");
        timing.Mark("postgres");
        var redis = await RedisInstance.LaunchAsync();
        var gateway = await GatewayInstance.CreateAsync();
        timing.Mark("redis+gateway");
        var stack = new MislataStack(options, postgres, redis, gateway, database);
        try
        {
            await stack.StartServicesAsync();
            timing.Mark("services live");
            await gateway.StartAsync(stack.Of("identity").Select(s => s.Port), stack.Of("api").Select(s => s.Port), stack.Of("worker").Select(s => s.Port));
            await stack.WaitHealthyAsync(StartTimeout);
            timing.Mark("healthy");
            timing.Write(options);
            return stack;
        }
        catch
        {
            await stack.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The environment a service of this stack runs with: its own database role and Redis user, and the migration
    /// role for start-up, as <c>./run.sh</c> gives them.
    /// </summary>
    public Dictionary<string, string?> ServiceEnvironment(string service)
    {
        var env = new Dictionary<string, string?>
        {
            ["QAPI_MASTER_KEY"] = MasterKey,
            ["QAPI_MASTER_KEY_PREVIOUS"] = PreviousMasterKey,
            ["QAPI_POSTGRES"] = Database.For(service),
            ["QAPI_POSTGRES_MIGRATIONS"] = Database.Migrations,
            ["QAPI_REDIS"] = Redis.ConfigurationFor(service),
            ["QAPI_PUBLIC_URL"] = Gateway.BaseAddress.ToString().TrimEnd('/'),
            ["QAPI_ADMIN_EMAIL"] = AdminEmail,
            ["QAPI_ADMIN_PASSWORD"] = AdminPassword,
            ["QAPI_BOOTSTRAP_CLIENT_ID"] = BootstrapClientId,
            ["QAPI_BOOTSTRAP_CLIENT_SECRET"] = BootstrapClientSecret,
        };
        if (Options.TrustTestVendor && Options.Licence is not null && service == "api")
        {
            env["QAPI_LICENSE"] = Options.Licence;
        }

        if (_services.FirstOrDefault(s => s.Name == "identity") is { } identity)
        {
            env["QAPI_IDENTITY_URL"] = identity.BaseAddress.ToString().TrimEnd('/');
        }

        foreach (var (k, v) in Options.Environment)
        {
            env[k] = v;
        }

        if (Options.SecretsAsFiles)
        {
            foreach (var name in new[] { "QAPI_MASTER_KEY", "QAPI_POSTGRES", "QAPI_POSTGRES_MIGRATIONS", "QAPI_REDIS", "QAPI_ADMIN_PASSWORD", "QAPI_BOOTSTRAP_CLIENT_SECRET", "QAPI_LICENSE" })
            {
                if (env.GetValueOrDefault(name) is { } value)
                {
                    var path = Path.Combine(_secretFiles.Value, $"{service}-{name.ToLowerInvariant()}");
                    File.WriteAllText(path, value + "\n");
                    env[name] = null;
                    env[name + "_FILE"] = path;
                }
            }
        }

        return env;
    }

    private readonly Lazy<string> _secretFiles = new(() => TestEnvironment.NewFolder("secret-files"));

    /// <summary>
    /// Starts every replica and waits until each is live. identity gets a port picked here, because the others find
    /// its JWKS through QAPI_IDENTITY_URL; the api and worker bind port 0 and report the port they got. When a process
    /// lost its port to another one in between (a bind conflict), all of them start again on fresh ports.
    /// </summary>
    private async Task StartServicesAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            for (var i = 0; i < Options.IdentityReplicas; i++)
            {
                _services.Add(ServiceProcess.Start("identity", Processes.FreePort(), ServiceEnvironment("identity"), Options.TrustTestVendor));
            }

            for (var i = 0; i < Options.ApiReplicas; i++)
            {
                _services.Add(ServiceProcess.Start("api", 0, ServiceEnvironment("api"), Options.TrustTestVendor));
            }

            for (var i = 0; i < Options.WorkerReplicas; i++)
            {
                _services.Add(ServiceProcess.Start("worker", 0, ServiceEnvironment("worker"), Options.TrustTestVendor));
            }

            try
            {
                await Task.WhenAll(_services.Select(s => s.WaitLiveAsync(StartTimeout)));
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && _services.Any(s => s.FailedToBind))
            {
                foreach (var service in _services)
                {
                    await service.DisposeAsync();
                }

                _services.Clear();
            }
        }
    }

    /// <summary>
    /// Stops one service process and starts it again on the same port (so the gateway's upstream is unchanged),
    /// then waits until it is live.
    /// </summary>
    public async Task<ServiceProcess> RestartAsync(ServiceProcess service)
    {
        ArgumentNullException.ThrowIfNull(service);
        var index = _services.IndexOf(service);
        if (index < 0)
        {
            throw new ArgumentException("not a service of this stack", nameof(service));
        }

        var port = service.Port;
        await service.DisposeAsync();
        for (var attempt = 1; ; attempt++)
        {
            var restarted = ServiceProcess.Start(service.Name, port, ServiceEnvironment(service.Name), Options.TrustTestVendor);
            _services[index] = restarted;
            try
            {
                await restarted.WaitLiveAsync(StartTimeout);
                return restarted;
            }
            catch (InvalidOperationException) when (attempt < 3 && restarted.FailedToBind)
            {
                // The port is taken for a moment (e.g. by a connection's ephemeral port): try the same port again.
                await restarted.DisposeAsync();
            }
        }
    }

    /// <summary>Polls the gateway's aggregate /health until it is 200.</summary>
    public async Task WaitHealthyAsync(TimeSpan timeout) => await WaitHealthAsync(HttpStatusCode.OK, timeout);

    public async Task<(HttpStatusCode Status, string Body)> WaitHealthAsync(HttpStatusCode expected, TimeSpan timeout)
    {
        using var client = Gateway.CreateClient();
        var deadline = DateTime.UtcNow + timeout;
        (HttpStatusCode, string) last = (0, string.Empty);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await client.GetAsync(new Uri("/health", UriKind.Relative));
                last = (response.StatusCode, await response.Content.ReadAsStringAsync());
                if (response.StatusCode == expected)
                {
                    return last;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"/health was not {(int)expected} within {timeout}; last: {(int)last.Item1} {last.Item2}\n{string.Join("\n", _services.Select(s => $"--- {s.Name} (pid {s.ProcessId})\n{Tail(s.Output)}"))}");
    }

    /// <summary>
    /// How long each phase of a stack's start took, one line per stack in <c>stack-starts.log</c> of the run's state
    /// folder: where the suite's wall time goes (a measurement for the test runner's tuning; nothing is asserted on it).
    /// </summary>
    private sealed class StartTiming
    {
        private static readonly Lock LogLock = new();
        private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
        private readonly System.Diagnostics.Stopwatch _watch = System.Diagnostics.Stopwatch.StartNew();
        private readonly List<string> _phases = [];
        private TimeSpan _last;

        public void Mark(string phase)
        {
            var now = _watch.Elapsed;
            _phases.Add(FormattableString.Invariant($"{phase} {(now - _last).TotalSeconds:F1} s"));
            _last = now;
        }

        public void Write(StackOptions options)
        {
            var line = FormattableString.Invariant(
                $"{_started:HH:mm:ss} stack ({options.IdentityReplicas}/{options.ApiReplicas}/{options.WorkerReplicas} identity/api/worker{(options.OwnPostgres ? ", own PostgreSQL" : string.Empty)}) started in {_watch.Elapsed.TotalSeconds:F1} s: {string.Join(", ", _phases)}{Environment.NewLine}");
            lock (LogLock)
            {
                File.AppendAllText(Path.Combine(TestEnvironment.StateDirectory, "stack-starts.log"), line);
            }
        }
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];

    /// <summary>The end of the output of every service that exited, for a failure's message (empty when none did).</summary>
    public string ExitedServices() =>
        string.Join("\n", _services.Where(s => s.HasExited).Select(s => $"--- {s.Name} (pid {s.ProcessId}) exited:\n{Tail(s.Output)}"));

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        foreach (var s in _services)
        {
            await s.DisposeAsync();
        }

        await Redis.DisposeAsync();
        await Postgres.DisposeAsync();
    }
}
