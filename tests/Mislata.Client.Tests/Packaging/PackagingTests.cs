using System.Diagnostics;
using System.IO.Compression;
using Mislata.Testing;

namespace Mislata.Client.Tests.Packaging;

/// <summary>
/// `dotnet pack` produces the client package (with XML docs and README) and the tool; the tool installs from that
/// folder alone into a scratch tool path, and `mislata --help` lists every command group.
/// </summary>
public sealed class PackagingTests
{
    private static readonly string[] Groups =
        ["login", "profile", "keys", "encrypt", "decrypt", "rewrap", "sign", "verify", "hmac", "random", "envelope", "secrets", "cas", "certificates", "ssh", "api-keys", "audit", "billing", "admin", "partner", "license", "completion"];

    private static async Task<(int Exit, string Output)> RunAsync(string file, string arguments, string workingDirectory)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task Both_packages_pack_and_the_tool_installs_from_the_folder_and_lists_every_group()
    {
        var work = TestEnvironment.NewFolder("pack");
        var feed = Directory.CreateDirectory(Path.Combine(work, "feed")).FullName;
        foreach (var project in new[] { "src/Mislata.Client/Mislata.Client.csproj", "src/Mislata.Cli/Mislata.Cli.csproj" })
        {
            var (exit, output) = await RunAsync("dotnet", $"pack \"{Path.Combine(TestEnvironment.RepositoryRoot, project)}\" -c {TestEnvironment.Configuration} --no-build -o \"{feed}\" -nologo",
                TestEnvironment.RepositoryRoot);
            Assert.True(exit == 0, $"pack {project}: {output}");
        }

        var client = Path.Combine(feed, "Mislata.Client.1.0.0.nupkg");
        using (var zip = ZipFile.OpenRead(client))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
            Assert.Contains("lib/net10.0/Mislata.Client.dll", entries);
            Assert.Contains("lib/net10.0/Mislata.Client.xml", entries);
            Assert.Contains("README.md", entries);
        }

        Assert.True(File.Exists(Path.Combine(feed, "Mislata.Cli.1.0.0.nupkg")));
        var config = Path.Combine(work, "nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="local" value="{feed}" /></packageSources></configuration>
            """);
        var tools = Path.Combine(work, "tools");
        var install = await RunAsync("dotnet", $"tool install Mislata.Cli --tool-path \"{tools}\" --add-source \"{feed}\" --configfile \"{config}\"", work);
        Assert.True(install.Exit == 0, "tool install: " + install.Output);

        var help = await RunAsync(Path.Combine(tools, "mislata"), "--help", work);
        Assert.Equal(0, help.Exit);
        var commands = help.Output[help.Output.IndexOf("Commands:", StringComparison.Ordinal)..];
        foreach (var group in Groups)
        {
            Assert.Matches($@"(?m)^\s+{group}\b", commands);
        }

        var completion = await RunAsync(Path.Combine(tools, "mislata"), "\"[suggest:10]\" \"mislata ke\"", work);
        Assert.Equal(["api-keys", "keys"], completion.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order().ToArray());
    }
}
