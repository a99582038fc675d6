using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Mislata.Testing;

public static class Processes
{
    /// <summary>Runs a command to completion; throws with its output when it fails.</summary>
    public static async Task<string> RunAsync(string file, IEnumerable<string> args, IDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (env is not null)
        {
            foreach (var (k, v) in env)
            {
                psi.Environment[k] = v;
            }
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} timed out");
        }

        var output = await stdout + await stderr;
        return process.ExitCode == 0
            ? output
            : throw new InvalidOperationException($"{file} {string.Join(' ', psi.ArgumentList)} exited {process.ExitCode}: {output}");
    }

    public static Task<string> StackAsync(params string[] args) => RunAsync("bash", [TestEnvironment.StackScript, .. args]);

    /// <summary>
    /// A port that was free a moment ago. Another process may take it before the one meant to bind it does: callers
    /// retry on <see cref="IsAddressInUse"/> (or let the server bind port 0 and read the port back).
    /// </summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Whether a failure's text says that a server could not bind its port (nginx, Redis, PostgreSQL, Kestrel).</summary>
    public static bool IsAddressInUse(string text) =>
        text.Contains("Address already in use", StringComparison.OrdinalIgnoreCase) || text.Contains("EADDRINUSE", StringComparison.Ordinal);

    /// <summary>Runs <paramref name="start"/> with fresh free ports until no bind conflict happens (at most five times).</summary>
    public static async Task<T> RetryOnAddressInUseAsync<T>(Func<Task<T>> start)
    {
        ArgumentNullException.ThrowIfNull(start);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await start();
            }
            catch (Exception e) when (attempt < 5 && e is InvalidOperationException or TimeoutException && IsAddressInUse(e.Message))
            {
            }
        }
    }
}

/// <summary>A .NET service process (identity, api or worker) with its output captured for assertions.</summary>
public sealed partial class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly string _pidFile;
    private readonly TaskCompletionSource<int> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServiceProcess(string name, int port, Process process, string pidFile)
    {
        Name = name;
        _process = process;
        _pidFile = pidFile;
        if (port != 0)
        {
            _listening.SetResult(port);
        }

        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    /// <summary>The port the service listens on: the one it was given, or the one it bound for port 0 (known once it is live).</summary>
    public int Port => _listening.Task.IsCompletedSuccessfully
        ? _listening.Task.Result
        : throw new InvalidOperationException($"{Name} has not reported its port yet (wait until it is live)");

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");

    /// <summary>The operating system's id of the process (a restarted service has another).</summary>
    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The service exited because its port was taken (the caller may start it again on another port).</summary>
    public bool FailedToBind
    {
        get
        {
            if (!_process.HasExited)
            {
                return false;
            }

            // The process has exited: this returns once its redirected output has been read to the end.
            _process.WaitForExit();
            return Processes.IsAddressInUse(Output);
        }
    }

    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts a service on <paramref name="port"/>; port 0 lets the service bind a free port itself, read back from its
    /// "Now listening on" log line (no other process can take it in between).
    /// </summary>
    public static ServiceProcess Start(string service, int port, IDictionary<string, string?> environment, bool trustTestVendor = false)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = TestEnvironment.RepositoryRoot,
        };
        if (trustTestVendor && service is "identity" or "api" or "worker")
        {
            // The same service with the licence trust anchors replaced by the TEST vendor key (TestEnvironment.LicensedHostDll).
            psi.ArgumentList.Add(TestEnvironment.LicensedHostDll);
            psi.ArgumentList.Add(service);
        }
        else
        {
            psi.ArgumentList.Add(TestEnvironment.ServiceDll(service));
        }
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("QAPI_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }

        psi.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        psi.Environment["DOTNET_ENVIRONMENT"] = "Production";
        psi.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (k, v) in environment)
        {
            if (v is null)
            {
                psi.Environment.Remove(k);
            }
            else
            {
                psi.Environment[k] = v;
            }
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + service);
        var pidFile = Path.Combine(TestEnvironment.StateDirectory, $"{service}-{process.Id.ToString(CultureInfo.InvariantCulture)}.pid");
        File.WriteAllText(pidFile, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return new ServiceProcess(service, port, process, pidFile);
    }

    /// <summary>Waits for /health/live; fails early with the process output if it exits.</summary>
    public async Task WaitLiveAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}:\n{Output}");
            }

            if (!_listening.Task.IsCompleted)
            {
                await Task.WhenAny(_listening.Task, Task.Delay(200));
                continue;
            }

            try
            {
                using var response = await client.GetAsync(new Uri(BaseAddress, "/health/live"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{Name} did not become live within {timeout}:\n{Output}");
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        File.Delete(_pidFile);
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (!_listening.Task.IsCompleted && ListeningOn().Match(line) is { Success: true } listening)
        {
            _listening.TrySetResult(int.Parse(listening.Groups[1].Value, CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Kestrel's start-up line (Microsoft.Hosting.Lifetime, in the JSON console log).</summary>
    [GeneratedRegex(@"Now listening on: http://127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningOn();
}
