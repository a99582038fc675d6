namespace Mislata.Testing;

/// <summary>
/// A real Redis server of the test's own, on a free port; it can be stopped and started. Like <c>./run.sh</c>'s, it
/// has the operator (the default user, <see cref="Configuration"/>) and one ACL user per service
/// (<see cref="ConfigurationFor"/>, deploy/redis/users.conf.template).
/// </summary>
public sealed class RedisInstance : IAsyncDisposable
{
    private readonly string _folder;
    private readonly Dictionary<string, string> _servicePasswords = new(StringComparer.Ordinal)
    {
        ["identity"] = TestEnvironment.RandomToken(),
        ["api"] = TestEnvironment.RandomToken(),
        ["worker"] = TestEnvironment.RandomToken(),
    };

    private RedisInstance(string folder, int port, string password)
    {
        _folder = folder;
        Port = port;
        Password = password;
    }

    public int Port { get; }

    /// <summary>The operator's (default user's) password.</summary>
    public string Password { get; }

    /// <summary>The operator: every key and command (tests' set-up and assertions; never a service's).</summary>
    public string Configuration => $"127.0.0.1:{Port},password={Password}";

    /// <summary>A service's own user, limited to its key patterns and channels.</summary>
    public string ConfigurationFor(string service) => _servicePasswords.TryGetValue(service, out var password)
        ? $"127.0.0.1:{Port},user=mislata-{service},password={password}"
        : throw new ArgumentOutOfRangeException(nameof(service), service, "not a service");

    /// <summary>Starts a new server; when another process took its port first (a bind conflict), on another port.</summary>
    public static Task<RedisInstance> LaunchAsync() => Processes.RetryOnAddressInUseAsync(async () =>
    {
        var instance = new RedisInstance(TestEnvironment.NewFolder("redis"), Processes.FreePort(), TestEnvironment.RandomToken());
        await instance.StartAsync();
        return instance;
    });

    public Task StartAsync() => Processes.RunAsync(
        "bash",
        [TestEnvironment.StackScript, "redis-start", _folder, Port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
        new Dictionary<string, string>
        {
            ["MISLATA_REDIS_AOF"] = "no",
            ["MISLATA_REDIS_PASSWORD"] = Password,
            ["MISLATA_REDIS_IDENTITY_PASSWORD"] = _servicePasswords["identity"],
            ["MISLATA_REDIS_API_PASSWORD"] = _servicePasswords["api"],
            ["MISLATA_REDIS_WORKER_PASSWORD"] = _servicePasswords["worker"],
        });

    public Task StopAsync() => Processes.StackAsync("redis-stop", _folder);

    public async ValueTask DisposeAsync() => await StopAsync();
}
