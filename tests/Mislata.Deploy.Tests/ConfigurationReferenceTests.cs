using System.Text.RegularExpressions;

namespace Mislata.Deploy.Tests;

/// <summary>
/// docs/operations/configuration.md lists every environment variable that is read, and only those. Read means: a
/// `QAPI_*`/`MISLATA_*` string literal, an `Environment.GetEnvironmentVariable("…")` or a `Configuration["…"]` key in
/// src/ (C#); the `_FILE` twin of every secret in SecretFileVariables; a `MISLATA_*` name in run.sh, test.sh, scripts/
/// and deploy/ (shell and the roles script); an input of the gateway entry point (`: "${NAME:=…}"`); a variable the
/// compose file interpolates or a `MISLATA_*` key it hands a container. Documented means: the first cell of a table row
/// of configuration.md is that name in backticks.
/// </summary>
public sealed partial class ConfigurationReferenceTests
{
    private const string Reference = "docs/operations/configuration.md";

    [Fact]
    public void Every_variable_that_is_read_is_documented()
    {
        var documented = Documented();
        var missing = Read().Where(r => !documented.Contains(r.Key)).Select(r => $"{r.Key} (read by {string.Join(", ", r.Value)})").ToList();
        Assert.True(missing.Count == 0, $"{Reference} lacks: {string.Join("; ", missing)}");
    }

    [Fact]
    public void Every_documented_variable_is_read_by_something()
    {
        var read = Read();
        var unread = Documented().Where(d => !read.ContainsKey(d)).Order(StringComparer.Ordinal).ToList();
        Assert.True(unread.Count == 0, $"{Reference} lists variables nothing reads: {string.Join(", ", unread)}");
    }

    [Fact]
    public void The_collection_finds_each_kind_of_source()
    {
        // Guards the collector itself: one known variable of each kind of source.
        var read = Read();
        foreach (var name in new[]
                 {
                     "QAPI_MASTER_KEY", "QAPI_MASTER_KEY_FILE", "QAPI_JWKS_URL", "ASPNETCORE_HTTP_PORTS", "MISLATA_URL",
                     "MISLATA_STATE_DIR", "MISLATA_TEST_PROJECTS", "MISLATA_PG_FSYNC", "GATEWAY_OCSP_STAPLING",
                     "MISLATA_INTERNAL_SUBNET", "MISLATA_PG_OWNER_PASSWORD_FILE",
                 })
        {
            Assert.True(read.ContainsKey(name), $"the collector no longer finds {name}");
        }

        Assert.DoesNotContain(read.Keys, k => k.EndsWith('_'));
        Assert.True(Documented().Count >= 100);
    }

    /// <summary>Variable → where it is read.</summary>
    private static SortedDictionary<string, SortedSet<string>> Read()
    {
        var read = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        void Add(string name, string source)
        {
            if (!read.TryGetValue(name, out var sources))
            {
                read[name] = sources = new SortedSet<string>(StringComparer.Ordinal);
            }

            sources.Add(source);
        }

        var root = RepositoryFiles.Root;
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories)
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                                 && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            var text = File.ReadAllText(file);
            var source = Path.GetRelativePath(root, file);
            foreach (var regex in new[] { CSharpLiteral(), GetEnvironmentVariable(), ConfigurationKey() })
            {
                foreach (Match match in regex.Matches(text))
                {
                    Add(match.Groups["name"].Value, source);
                }
            }
        }

        var secretFiles = RepositoryFiles.ReadText("src/Mislata.ServiceDefaults/SecretFileVariables.cs");
        var start = secretFiles.IndexOf("Variables { get; } =", StringComparison.Ordinal);
        Assert.True(start > 0, "SecretFileVariables.Variables not found");
        var list = secretFiles[start..secretFiles.IndexOf("];", start, StringComparison.Ordinal)];
        foreach (Match match in Regex.Matches(list, "\"(?<name>[A-Z0-9_]+)\""))
        {
            Add(match.Groups["name"].Value + "_FILE", "SecretFileVariables");
        }

        var scripts = new[] { "run.sh", "test.sh", "deploy/postgres/roles.sql" }
            .Select(RepositoryFiles.PathOf)
            .Concat(Directory.EnumerateFiles(Path.Combine(root, "scripts"), "*.sh"))
            .Concat(Directory.EnumerateFiles(Path.Combine(root, "deploy"), "*.sh", SearchOption.AllDirectories))
            .Where(f => !f.Contains("node_modules", StringComparison.Ordinal));
        foreach (var file in scripts)
        {
            foreach (Match match in ScriptVariable().Matches(File.ReadAllText(file)))
            {
                Add(match.Value, Path.GetRelativePath(root, file));
            }
        }

        foreach (Match match in EntrypointInput().Matches(RepositoryFiles.ReadText("deploy/docker/gateway-entrypoint.sh")))
        {
            Add(match.Groups["name"].Value, "gateway-entrypoint.sh");
        }

        var compose = RepositoryFiles.ReadText("deploy/compose/docker-compose.yml");
        foreach (Match match in ComposeInterpolation().Matches(compose))
        {
            Add(match.Groups["name"].Value, "docker-compose.yml");
        }

        foreach (Match match in ComposeMislataKey().Matches(compose))
        {
            Add(match.Groups["name"].Value, "docker-compose.yml");
        }

        return read;
    }

    private static HashSet<string> Documented()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match match in DocumentedRow().Matches(RepositoryFiles.ReadText(Reference)))
        {
            Assert.True(names.Add(match.Groups["name"].Value), $"{match.Groups["name"].Value} is listed twice");
        }

        return names;
    }

    [GeneratedRegex("\"(?<name>(?:QAPI|MISLATA)_[A-Z0-9_]*[A-Z0-9])\"", RegexOptions.CultureInvariant)]
    private static partial Regex CSharpLiteral();

    [GeneratedRegex("GetEnvironmentVariable\\(\"(?<name>[A-Z][A-Z0-9_]+)\"\\)", RegexOptions.CultureInvariant)]
    private static partial Regex GetEnvironmentVariable();

    [GeneratedRegex("[Cc]onfiguration\\[\"(?<name>[A-Z][A-Z0-9_]+)\"\\]", RegexOptions.CultureInvariant)]
    private static partial Regex ConfigurationKey();

    [GeneratedRegex(@"\bMISLATA_[A-Z0-9_]*[A-Z0-9]\b", RegexOptions.CultureInvariant)]
    private static partial Regex ScriptVariable();

    [GeneratedRegex(@": ""\$\{(?<name>[A-Z][A-Z0-9_]+):=", RegexOptions.CultureInvariant)]
    private static partial Regex EntrypointInput();

    [GeneratedRegex(@"(?<!\$)\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)", RegexOptions.CultureInvariant)]
    private static partial Regex ComposeInterpolation();

    [GeneratedRegex(@"(?m)^\s+(?<name>MISLATA_[A-Z0-9_]+):", RegexOptions.CultureInvariant)]
    private static partial Regex ComposeMislataKey();

    [GeneratedRegex(@"(?m)^\|\s*`(?<name>[A-Za-z_][A-Za-z0-9_]*)`\s*\|", RegexOptions.CultureInvariant)]
    private static partial Regex DocumentedRow();
}
