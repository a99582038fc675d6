using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Cli;

/// <summary>The built <c>mislata</c> tool run as a process with its own config folder: stdin bytes in, stdout bytes and stderr text out.</summary>
internal sealed class CliRunner
{
    public CliRunner()
    {
        ConfigFolder = Path.Combine(TestEnvironment.NewFolder("cli"), "config");
        WorkFolder = TestEnvironment.NewFolder("cli-work");
    }

    public string ConfigFolder { get; }

    public string WorkFolder { get; }

    public static string Dll
    {
        get
        {
            var dll = Path.Combine(TestEnvironment.RepositoryRoot, "src", "Mislata.Cli", "bin", TestEnvironment.Configuration, "net10.0", "mislata.dll");
            return System.IO.File.Exists(dll) ? dll : throw new FileNotFoundException("the CLI is not built", dll);
        }
    }

    public string File(string name) => Path.Combine(WorkFolder, name);

    public async Task<CliResult> RunAsync(IEnumerable<string> arguments, byte[]? stdin = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = WorkFolder };
        start.ArgumentList.Add(Dll);
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["MISLATA_CONFIG_DIR"] = ConfigFolder;
        start.Environment.Remove("MISLATA_URL");
        start.Environment.Remove("MISLATA_API_KEY");
        start.Environment.Remove("MISLATA_PROFILE");
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = new MemoryStream();
        var copyOut = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("mislata " + string.Join(' ', arguments) + " did not finish");
        }

        await copyOut;
        return new CliResult(process.ExitCode, stdout.ToArray(), await stderr, string.Join(' ', arguments));
    }

    public Task<CliResult> RunAsync(params string[] arguments) => RunAsync((IEnumerable<string>)arguments);
}

internal sealed record CliResult(int Exit, byte[] Stdout, string Stderr, string CommandLine)
{
    public string Text => Encoding.UTF8.GetString(Stdout);

    public JsonElement Json => JsonDocument.Parse(Stdout).RootElement.Clone();

    public CliResult Ok()
    {
        Assert.True(Exit == 0, $"mislata {CommandLine} → exit {Exit}\nstdout: {Text}\nstderr: {Stderr}");
        return this;
    }

    public CliResult Fails(int exit)
    {
        Assert.True(Exit == exit, $"mislata {CommandLine} → exit {Exit}, expected {exit}\nstdout: {Text}\nstderr: {Stderr}");
        return this;
    }
}
