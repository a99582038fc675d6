using System.Diagnostics;
using System.Globalization;

namespace Mislata.EndToEnd.Tests.Ssh;

/// <summary>A temporary directory where ssh-keygen runs (keys without passphrase, removed afterwards).</summary>
internal sealed class SshDirectory : IDisposable
{
    private readonly string _path = Directory.CreateTempSubdirectory("mislata-ssh-e2e-").FullName;

    /// <summary>A new key pair <paramref name="name"/> / <paramref name="name"/>.pub; returns the public line.</summary>
    public string NewKey(string name, string type, string? bits)
    {
        var arguments = new List<string> { "-q", "-t", type, "-N", string.Empty, "-C", name + "@test", "-f", name };
        if (bits is not null)
        {
            arguments.AddRange(["-b", bits]);
        }

        Run("ssh-keygen", [.. arguments]);
        return File.ReadAllText(System.IO.Path.Combine(_path, name + ".pub")).Trim();
    }

    public string PathOf(string name) => System.IO.Path.Combine(_path, name);

    public void Write(string name, string text) => File.WriteAllText(System.IO.Path.Combine(_path, name), text);

    public string Run(string file, params string[] arguments) => Run(file, arguments, stdin: null);

    public string Run(string file, string[] arguments, string? stdin)
    {
        var (exit, output) = Execute(file, arguments, stdin);
        Assert.True(exit == 0, $"{file} {string.Join(' ', arguments)}: exit {exit}\n{output}");
        return output;
    }

    /// <summary><c>ssh-keygen -Y verify</c> of msg.sig against allowed_signers for <paramref name="principal"/> (at a given time).</summary>
    public (int ExitCode, string Output) Verify(string principal, DateTimeOffset? verifyTime = null)
    {
        var arguments = new List<string> { "-Y", "verify", "-f", "allowed_signers", "-I", principal, "-n", "file", "-s", "msg.sig" };
        if (verifyTime is { } t)
        {
            arguments.AddRange(["-O", "verify-time=" + t.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "Z"]);
        }

        return Execute("ssh-keygen", [.. arguments], "msg");
    }

    private (int ExitCode, string Output) Execute(string file, IReadOnlyList<string> arguments, string? stdin)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = _path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        if (stdin is not null)
        {
            process.StandardInput.Write(File.ReadAllText(System.IO.Path.Combine(_path, stdin)));
            process.StandardInput.Close();
        }

        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, output.Result + error.Result);
    }

    public void Dispose() => Directory.Delete(_path, recursive: true);
}
