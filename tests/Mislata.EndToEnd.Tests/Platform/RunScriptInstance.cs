using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// An installation made by <c>./run.sh</c> itself (not by the test harness): its own state folder under the run's
/// state, a block of free ports, the services of this build (MISLATA_SKIP_BUILD: the test run built them), and the
/// replica counts asked for. Stopped with <c>./run.sh stop</c>.
/// </summary>
public sealed class RunScriptInstance : IAsyncDisposable
{
    private const int PortBlock = 16;
    private X509Certificate2? _certificate;

    private RunScriptInstance(string state, int firstPort, int apiReplicas, int identityReplicas)
    {
        State = state;
        HttpPort = firstPort;
        HttpsPort = firstPort + 1;
        PostgresPort = firstPort + 2;
        RedisPort = firstPort + 3;
        WorkerPort = firstPort + 4;
        IdentityPort = firstPort + 5;
        ApiPort = firstPort + 5 + identityReplicas;
        ApiReplicas = apiReplicas;
        IdentityReplicas = identityReplicas;
    }

    public string State { get; }

    public int HttpPort { get; }

    public int HttpsPort { get; }

    public int PostgresPort { get; }

    public int RedisPort { get; }

    public int WorkerPort { get; }

    public int IdentityPort { get; }

    public int ApiPort { get; }

    public int ApiReplicas { get; }

    public int IdentityReplicas { get; }

    public Uri BaseAddress => new($"https://localhost:{HttpsPort}/");

    public X509Certificate2 Certificate => _certificate ??= X509CertificateLoader.LoadCertificateFromFile(Path.Combine(State, "tls", "cert.pem"));

    /// <summary>A fresh state folder with free ports; nothing runs yet.</summary>
    public static RunScriptInstance Create(int apiReplicas = 1, int identityReplicas = 1)
    {
        Assert.True(5 + identityReplicas + apiReplicas <= PortBlock, "too many replicas for the port block");
        return new RunScriptInstance(TestEnvironment.NewFolder("runsh"), FreePortBlock(PortBlock), apiReplicas, identityReplicas);
    }

    /// <summary>Runs <c>./run.sh ARGS</c> with this installation's environment; throws with its output when it fails.</summary>
    public Task<string> RunAsync(params string[] args) =>
        Processes.RunAsync("bash", [Path.Combine(TestEnvironment.RepositoryRoot, "run.sh"), .. args], Environment(), TimeSpan.FromMinutes(8));

    /// <summary>Like <see cref="RunAsync"/>, but returns the exit code and the output whatever they are.</summary>
    public async Task<(int ExitCode, string Output)> TryRunAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(TestEnvironment.RepositoryRoot, "run.sh"));
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in Environment())
        {
            psi.Environment[name] = value;
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    public Task<string> StartAsync() => RunAsync("start");

    /// <summary>
    /// A new installation started by <c>./run.sh start</c>. The ports were free when they were picked, but another
    /// process on this shared machine may take one before run.sh binds it: then the installation is stopped and a
    /// new one, with a new state folder and ports, is started instead (three attempts).
    /// </summary>
    public static async Task<RunScriptInstance> StartNewAsync(int apiReplicas = 1, int identityReplicas = 1)
    {
        for (var attempt = 1; ; attempt++)
        {
            var instance = Create(apiReplicas, identityReplicas);
            try
            {
                await instance.StartAsync();
                return instance;
            }
            catch (InvalidOperationException ex) when (attempt < 3 && instance.LostAPort(ex.Message))
            {
                await instance.DisposeAsync();
            }
        }
    }

    /// <summary>Whether run.sh's output or a log of the installation says a port was taken.</summary>
    private bool LostAPort(string output)
    {
        static bool InUse(string text) => text.Contains("address already in use", StringComparison.OrdinalIgnoreCase);
        return InUse(output) || Directory.EnumerateFiles(State, "*.log", SearchOption.AllDirectories).Any(f => InUse(File.ReadAllText(f)));
    }

    /// <summary>The admin.env values run.sh wrote (bootstrap client, admin account).</summary>
    public IReadOnlyDictionary<string, string> AdminEnvironment()
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadAllLines(Path.Combine(State, "admin.env")))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (line.StartsWith('#') || eq < 0)
            {
                continue;
            }

            // env_line writes NAME='value' with ' as '\''; the generated values hold none.
            values[line[..eq]] = line[(eq + 1)..].Trim('\'');
        }

        return values;
    }

    public HttpClient CreateClient()
    {
        var expected = Certificate.GetCertHashString();
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.FromSeconds(30),
            SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == expected },
        };
        return new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async Task<string> OperatorTokenAsync()
    {
        var admin = AdminEnvironment();
        using var client = CreateClient();
        using var response = await client.PostAsync(new Uri("/connect/token", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = admin["QAPI_BOOTSTRAP_CLIENT_ID"],
            ["client_secret"] = admin["QAPI_BOOTSTRAP_CLIENT_SECRET"],
        }));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"token: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString()!;
    }

    public HttpClient Operator(string token)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public HttpClient WithApiKey(string key)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Add("X-Api-Key", key);
        return client;
    }

    /// <summary>POSTs JSON and returns the parsed body; fails the test unless the status is <paramref name="expected"/>.</summary>
    public static async Task<JsonElement> PostAsync(HttpClient client, string path, object body, HttpStatusCode expected)
    {
        using var response = await client.PostAsJsonAsync(new Uri(path, UriKind.Relative), body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"POST {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>The pid in run/NAME.pid (the replica's process), or null.</summary>
    public int? ReplicaPid(string name) =>
        File.Exists(Path.Combine(State, "run", name + ".pid")) && int.TryParse(File.ReadAllText(Path.Combine(State, "run", name + ".pid")).Trim(), out var pid) ? pid : null;

    /// <summary>Every pid run.sh recorded for its replicas and their supervisors.</summary>
    public IReadOnlyList<int> RecordedPids() =>
        [.. Directory.GetFiles(Path.Combine(State, "run"), "*.pid")
            .Select(f => int.TryParse(File.ReadAllText(f).Trim(), out var pid) ? pid : 0)
            .Where(p => p > 0)];

    public static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private Dictionary<string, string> Environment() => new()
    {
        ["MISLATA_STATE_DIR"] = State,
        ["MISLATA_HTTP_PORT"] = Str(HttpPort),
        ["MISLATA_HTTPS_PORT"] = Str(HttpsPort),
        ["MISLATA_PG_PORT"] = Str(PostgresPort),
        ["MISLATA_REDIS_PORT"] = Str(RedisPort),
        ["MISLATA_WORKER_PORT"] = Str(WorkerPort),
        ["MISLATA_IDENTITY_PORT"] = Str(IdentityPort),
        ["MISLATA_API_PORT"] = Str(ApiPort),
        ["MISLATA_API_REPLICAS"] = Str(ApiReplicas),
        ["MISLATA_IDENTITY_REPLICAS"] = Str(IdentityReplicas),
        ["MISLATA_CONFIGURATION"] = TestEnvironment.Configuration,
        ["MISLATA_SKIP_BUILD"] = "1",
        ["MISLATA_START_TIMEOUT"] = "400",
        // A loaded test machine: no fsync for this throw-away cluster.
        ["MISLATA_PG_FSYNC"] = "off",
    };

    private static string Str(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The first port of <paramref name="count"/> consecutive ports that are free on 127.0.0.1 right now.</summary>
    private static int FreePortBlock(int count)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var first = Random.Shared.Next(20000, 60000 - count);
            var listeners = new List<TcpListener>();
            try
            {
                for (var port = first; port < first + count; port++)
                {
                    var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    listeners.Add(listener);
                }

                return first;
            }
            catch (SocketException)
            {
                // one of them is taken: another block
            }
            finally
            {
                foreach (var listener in listeners)
                {
                    listener.Stop();
                }
            }
        }

        throw new InvalidOperationException("no block of free ports found");
    }

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(State, "secrets", "stack.env")))
        {
            await TryRunAsync("stop");
        }

        _certificate?.Dispose();
    }
}
