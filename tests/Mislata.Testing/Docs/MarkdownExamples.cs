namespace Mislata.Testing.Docs;

/// <summary>A fenced code block of a documentation page that carries a marker: <c>```lang marker:name</c>.</summary>
public sealed record MarkdownExample(string Name, string Language, string Body, int Line);

/// <summary>
/// Reads the marked examples out of a markdown page so that tests can run them: the documentation and the code cannot
/// drift apart without a test failing. Shared by source link with test projects that do not reference this one.
/// </summary>
public static class MarkdownExamples
{
    /// <summary>Every block whose info string is <c>{language} {marker}:{name}</c>, in page order; names must be unique.</summary>
    public static IReadOnlyList<MarkdownExample> Read(string markdown, string marker)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        var lines = markdown.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var examples = new List<MarkdownExample>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (!line.StartsWith("```", StringComparison.Ordinal))
            {
                continue;
            }

            var info = line[3..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var start = i;
            var body = new List<string>();
            for (i++; i < lines.Length && !lines[i].StartsWith("```", StringComparison.Ordinal); i++)
            {
                body.Add(lines[i]);
            }

            if (i == lines.Length)
            {
                throw new InvalidOperationException($"line {start + 1}: the code block is not closed");
            }

            var tag = info.FirstOrDefault(t => t.StartsWith(marker + ":", StringComparison.Ordinal));
            if (tag is null)
            {
                continue;
            }

            var name = tag[(marker.Length + 1)..];
            if (name.Length == 0 || examples.Any(e => e.Name == name))
            {
                throw new InvalidOperationException($"line {start + 1}: the example name '{name}' is empty or repeated");
            }

            examples.Add(new MarkdownExample(name, info.Length > 1 ? info[0] : string.Empty, string.Join('\n', body), start + 1));
        }

        return examples;
    }
}
