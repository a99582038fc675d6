using System.Text.RegularExpressions;

namespace Mislata.Deploy.Tests;

/// <summary>docs/operations: the monitoring page names every metric the services create, and the guide is linked.</summary>
public sealed partial class OperatorGuideTests
{
    [Fact]
    public void Monitoring_lists_every_metric_the_services_create()
    {
        var monitoring = RepositoryFiles.ReadText("docs/operations/monitoring.md");
        var metrics = Directory.EnumerateFiles(RepositoryFiles.PathOf("src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => Instrument().Matches(File.ReadAllText(f)).Select(m => m.Groups["name"].Value))
            .Concat(Directory.EnumerateFiles(RepositoryFiles.PathOf("src"), "*.cs", SearchOption.AllDirectories)
                .SelectMany(f => CounterNameConstant().Matches(File.ReadAllText(f)).Select(m => m.Groups["name"].Value)))
            .Distinct(StringComparer.Ordinal)
            .ToList();

        Assert.True(metrics.Count >= 10, $"found only {metrics.Count} metrics: the search no longer matches the code");
        var missing = metrics.Where(m => !monitoring.Contains($"`{m}`", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, $"monitoring.md lacks: {string.Join(", ", missing)}");
    }

    [Fact]
    public void The_guide_has_its_pages_and_the_readme_links_it()
    {
        Assert.True(File.Exists(RepositoryFiles.PathOf("docs/operations/README.md")), "docs/operations/README.md is missing");
        foreach (var page in new[] { "install", "configuration", "tls", "sizing", "licence", "monitoring", "troubleshooting" })
        {
            Assert.True(File.Exists(RepositoryFiles.PathOf($"docs/operations/{page}.md")), $"docs/operations/{page}.md is missing");
            Assert.Contains($"({page}.md)", RepositoryFiles.ReadText("docs/operations/README.md"), StringComparison.Ordinal);
        }

        Assert.Contains("(docs/operations/README.md)", RepositoryFiles.ReadText("README.md"), StringComparison.Ordinal);
        foreach (var page in Directory.GetFiles(RepositoryFiles.PathOf("docs/operations"), "*.md"))
        {
            Assert.DoesNotContain("../shared", File.ReadAllText(page), StringComparison.Ordinal);
        }
    }

    /// <summary>meter.CreateCounter&lt;long&gt;("name" …, CreateHistogram, CreateObservableGauge("name" …</summary>
    [GeneratedRegex(@"\.Create(?:Counter|Histogram|UpDownCounter|ObservableGauge|ObservableCounter|ObservableUpDownCounter|Gauge)(?:<[^>]+>)?\(\s*""(?<name>[a-z0-9_.]+)""", RegexOptions.CultureInvariant)]
    private static partial Regex Instrument();

    [GeneratedRegex(@"const string \w*CounterName = ""(?<name>[a-z0-9_.]+)""", RegexOptions.CultureInvariant)]
    private static partial Regex CounterNameConstant();
}
