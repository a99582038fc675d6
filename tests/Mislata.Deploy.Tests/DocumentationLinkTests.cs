using System.Text;
using System.Text.RegularExpressions;

namespace Mislata.Deploy.Tests;

/// <summary>
/// The documentation stands alone: nothing outside tests/ points at a <c>../shared</c> folder a user who clones the
/// repository does not have, every relative link of README.md and docs/ reaches an existing file (and its
/// <c>#anchor</c> an existing heading, with GitHub's slugs), and the indexes list every page.
/// </summary>
public sealed partial class DocumentationLinkTests
{
    /// <summary>Build output, tool state and the test projects (which may read the shared test data on purpose).</summary>
    private static readonly string[] SkippedFolders = ["bin", "obj", "node_modules", ".git", ".test-state", "tests", "TestResults", "StrykerOutput"];

    [Fact]
    public void No_file_outside_tests_refers_to_the_shared_folder()
    {
        var offenders = new List<string>();
        var checkedFiles = 0;
        foreach (var file in RepositoryTextFiles())
        {
            checkedFiles++;
            if (File.ReadAllText(file).Contains("../shared", StringComparison.Ordinal))
            {
                offenders.Add(Path.GetRelativePath(RepositoryFiles.Root, file));
            }
        }

        Assert.True(checkedFiles > 100, $"only {checkedFiles} files were searched: the walk no longer finds the repository");
        Assert.True(offenders.Count == 0, "refer to ../shared: " + string.Join(", ", offenders));
    }

    [Fact]
    public void Every_relative_link_of_the_readme_and_docs_reaches_a_file_and_heading()
    {
        var pages = new[] { RepositoryFiles.PathOf("README.md") }
            .Concat(Directory.EnumerateFiles(RepositoryFiles.PathOf("docs"), "*.md", SearchOption.AllDirectories))
            .ToList();
        var broken = new List<string>();
        var links = 0;
        foreach (var page in pages)
        {
            foreach (var (target, line) in Links(File.ReadAllText(page)))
            {
                if (IsExternal(target))
                {
                    continue;
                }

                links++;
                var problem = Check(page, target);
                if (problem is not null)
                {
                    broken.Add($"{Path.GetRelativePath(RepositoryFiles.Root, page)}:{line}: ({target}) {problem}");
                }
            }
        }

        Assert.True(links > 50, $"only {links} relative links found: the link reader no longer matches the pages");
        Assert.True(broken.Count == 0, $"{broken.Count} broken links:\n" + string.Join("\n", broken));
        Console.WriteLine($"markdown links: {links} relative links in {pages.Count} pages checked");
    }

    [Fact]
    public void The_indexes_list_every_page()
    {
        var docsIndex = RepositoryFiles.ReadText("docs/README.md");
        var docs = Directory.EnumerateFiles(RepositoryFiles.PathOf("docs"), "*.md", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(RepositoryFiles.PathOf("docs"), f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(f => f != "README.md" && !f.StartsWith("operations/", StringComparison.Ordinal) || f == "operations/README.md")
            .ToList();
        Assert.All(docs, f => Assert.Contains($"({f})", docsIndex, StringComparison.Ordinal));

        var operationsIndex = RepositoryFiles.ReadText("docs/operations/README.md");
        Assert.All(Directory.GetFiles(RepositoryFiles.PathOf("docs/operations"), "*.md").Select(Path.GetFileName).Where(f => f != "README.md"),
            f => Assert.Contains($"({f})", operationsIndex, StringComparison.Ordinal));
        Assert.Contains("(docs/README.md)", RepositoryFiles.ReadText("README.md"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("The `encryptedPayload`", "the-encryptedpayload")]
    [InlineData("Signatures and MACs", "signatures-and-macs")]
    [InlineData("Master-key rotation and jobs", "master-key-rotation-and-jobs")]
    [InlineData("Audit, usage and the hot path", "audit-usage-and-the-hot-path")]
    [InlineData("Sign and verify, HMAC", "sign-and-verify-hmac")]
    [InlineData("Where does X go?", "where-does-x-go")]
    public void Slugs_are_those_of_github(string heading, string slug) => Assert.Equal(slug, Slug(heading));

    private static string? Check(string page, string target)
    {
        var hash = target.IndexOf('#', StringComparison.Ordinal);
        var path = Uri.UnescapeDataString(hash < 0 ? target : target[..hash]);
        var anchor = hash < 0 ? null : target[(hash + 1)..];
        var file = path.Length == 0 ? page : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, path));
        if (!file.StartsWith(RepositoryFiles.Root, StringComparison.Ordinal))
        {
            return "points outside the repository";
        }

        if (!File.Exists(file) && !Directory.Exists(file))
        {
            return "no such file";
        }

        if (anchor is null || !file.EndsWith(".md", StringComparison.Ordinal))
        {
            return null;
        }

        return Anchors(File.ReadAllText(file)).Contains(anchor) ? null : $"no heading with the anchor #{anchor}";
    }

    private static bool IsExternal(string target) =>
        target.StartsWith("http://", StringComparison.Ordinal) || target.StartsWith("https://", StringComparison.Ordinal) ||
        target.StartsWith("mailto:", StringComparison.Ordinal);

    /// <summary>Inline links and images <c>[text](target)</c> and reference definitions, outside code blocks and code spans.</summary>
    private static IEnumerable<(string Target, int Line)> Links(string markdown)
    {
        var inFence = false;
        var number = 0;
        foreach (var raw in markdown.Split('\n'))
        {
            number++;
            if (raw.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inFence = !inFence;
                continue;
            }

            if (inFence)
            {
                continue;
            }

            var line = CodeSpan().Replace(raw, string.Empty);
            foreach (Match m in InlineLink().Matches(line))
            {
                yield return (m.Groups["target"].Value, number);
            }

            var definition = ReferenceDefinition().Match(line);
            if (definition.Success)
            {
                yield return (definition.Groups["target"].Value, number);
            }
        }
    }

    /// <summary>The anchors GitHub gives a page's headings (a repeated heading gets -1, -2 …).</summary>
    private static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var inFence = false;
        foreach (var line in markdown.Split('\n'))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inFence = !inFence;
                continue;
            }

            var heading = Heading().Match(line);
            if (inFence || !heading.Success)
            {
                continue;
            }

            var slug = Slug(heading.Groups["text"].Value);
            var unique = slug;
            for (var n = 1; !anchors.Add(unique); n++)
            {
                unique = $"{slug}-{n}";
            }
        }

        return anchors;
    }

    /// <summary>GitHub: lower case; drop everything but letters, digits, spaces, hyphens and underscores; spaces → hyphens.</summary>
    private static string Slug(string heading)
    {
        var text = MarkdownLinkText().Replace(heading.Trim(), "${text}");
        var slug = new StringBuilder();
        foreach (var c in text.ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c) || c is '-' or '_')
            {
                slug.Append(c);
            }
            else if (c == ' ')
            {
                slug.Append('-');
            }
        }

        return slug.ToString();
    }

    private static IEnumerable<string> RepositoryTextFiles()
    {
        var pending = new Stack<string>([RepositoryFiles.Root]);
        while (pending.Count > 0)
        {
            var dir = pending.Pop();
            foreach (var sub in Directory.EnumerateDirectories(dir))
            {
                if (!SkippedFolders.Contains(Path.GetFileName(sub)))
                {
                    pending.Push(sub);
                }
            }

            foreach (var file in Directory.EnumerateFiles(dir))
            {
                // Stryker's mutation reports embed copies of the test sources they mutated; they are generated output.
                if (Path.GetFileName(file).StartsWith("mutation-report.", StringComparison.Ordinal) || IsBinary(file))
                {
                    continue;
                }

                yield return file;
            }
        }
    }

    private static bool IsBinary(string file)
    {
        using var stream = File.OpenRead(file);
        var buffer = new byte[Math.Min(8192, stream.Length)];
        var read = stream.Read(buffer);
        return buffer.AsSpan(0, read).Contains((byte)0);
    }

    [GeneratedRegex(@"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\((?<target>[^)\s]+)(?:\s+""[^""]*"")?\)", RegexOptions.CultureInvariant)]
    private static partial Regex InlineLink();

    [GeneratedRegex(@"^\s{0,3}\[[^\]]+\]:\s+(?<target>\S+)", RegexOptions.CultureInvariant)]
    private static partial Regex ReferenceDefinition();

    [GeneratedRegex(@"`[^`]*`", RegexOptions.CultureInvariant)]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"^\s{0,3}#{1,6}\s+(?<text>.+?)\s*#*\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex Heading();

    [GeneratedRegex(@"\[(?<text>[^\]]*)\]\([^)]*\)", RegexOptions.CultureInvariant)]
    private static partial Regex MarkdownLinkText();
}
