namespace Mislata.Testing;

/// <summary>A real Redis server of the test's own, on a free port with a password; it can be stopped and started.</summary>
public sealed class RedisInstance : IAsyncDisposable
{
    private readonly string _folder;

    private RedisInstance(string folder, int port, string password)
    {
        _folder = folder;
        Port = port;
        Password = password;
    }

    public int Port { get; }

    public string Password { get; }

    public string Configuration => $"127.0.0.1:{Port},password={Password}";

    /// <summary>Starts a new server; when another process took its port first (a bind conflict), on another port.</summary>
    public static Task<RedisInstance> LaunchAsync() => Processes.RetryOnAddressInUseAsync(async () =>
    {
        var instance = new RedisInstance(TestEnvironment.NewFolder("redis"), Processes.FreePort(), TestEnvironment.RandomToken());
        await instance.StartAsync();
        return instance;
    });

    public Task StartAsync() => Processes.RunAsync(
        "bash",
        [TestEnvironment.StackScript, "redis-start", _folder, Port.ToString(System.Globalization.CultureInfo.InvariantCulture), Password],
        new Dictionary<string, string> { ["MISLATA_REDIS_AOF"] = "no" });

    public Task StopAsync() => Processes.StackAsync("redis-stop", _folder);

    public async ValueTask DisposeAsync() => await StopAsync();
}
