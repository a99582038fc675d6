using System.Security.Cryptography;

namespace Mislata.Testing;

/// <summary>Where the repository, the shared spec data and this run's throw-away state live.</summary>
public static class TestEnvironment
{
    private static readonly Lazy<string> Root = new(FindRepositoryRoot);
    private static readonly Lazy<string> State = new(CreateStateFolder);

    public static string RepositoryRoot => Root.Value;

    /// <summary>../shared beside the repository (or MISLATA_SHARED_DIR).</summary>
    public static string SharedDirectory =>
        Environment.GetEnvironmentVariable("MISLATA_SHARED_DIR") is { Length: > 0 } dir
            ? dir
            : Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared"));

    /// <summary>This test run's state folder (set by test.sh as MISLATA_TEST_STATE; everything in it is killed on exit).</summary>
    public static string StateDirectory => State.Value;

    public static string StackScript => Path.Combine(RepositoryRoot, "scripts", "stack.sh");

    public static string Configuration =>
        Environment.GetEnvironmentVariable("MISLATA_TEST_CONFIGURATION") is { Length: > 0 } c ? c :
#if DEBUG
        "Debug";
#else
        "Release";
#endif

    public static string ServiceDll(string service)
    {
        var project = service switch
        {
            "identity" => "Mislata.Identity",
            "api" => "Mislata.Api",
            "worker" => "Mislata.Worker",
            _ => throw new ArgumentOutOfRangeException(nameof(service), service, "unknown service"),
        };
        var dll = Path.Combine(RepositoryRoot, "src", project, "bin", Configuration, "net10.0", project + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{project} is not built in {Configuration}: run ./test.sh (it builds first).", dll);
    }

    /// <summary>
    /// The test host of the services that trusts the TEST vendor key (tests/Mislata.Testing.LicensedHost):
    /// the services as shipped with that one registration replaced. Started as <c>dotnet &lt;dll&gt; identity|api|worker</c>.
    /// </summary>
    public static string LicensedHostDll
    {
        get
        {
            const string project = "Mislata.Testing.LicensedHost";
            var dll = Path.Combine(RepositoryRoot, "tests", project, "bin", Configuration, "net10.0", project + ".dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"{project} is not built in {Configuration}: run ./test.sh (it builds first).", dll);
        }
    }

    /// <summary>A fresh folder under the run's state folder.</summary>
    public static string NewFolder(string prefix)
    {
        var dir = Path.Combine(StateDirectory, $"{prefix}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static string RandomToken(int bytes = 24) =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string NewMasterKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mislata.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Mislata.slnx not found above " + AppContext.BaseDirectory);
    }

    private static string CreateStateFolder()
    {
        var dir = Environment.GetEnvironmentVariable("MISLATA_TEST_STATE") is { Length: > 0 } s
            ? s
            : Path.Combine(RepositoryRoot, ".test-state", "adhoc-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
