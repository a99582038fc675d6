using YamlDotNet.RepresentationModel;

namespace Mislata.Deploy.Tests;

/// <summary>Finds the repository (the folder holding Mislata.slnx) and reads its deployment files.</summary>
internal static class RepositoryFiles
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    public static string Root => RootPath.Value;

    public static string PathOf(string relativePath) =>
        Path.Combine(Root, relativePath.Replace('/', Path.DirectorySeparatorChar));

    public static string ReadText(string relativePath)
    {
        var path = PathOf(relativePath);
        Assert.True(File.Exists(path), $"{relativePath} is missing");
        return File.ReadAllText(path);
    }

    /// <summary>Every document of a (possibly multi-document) YAML file.</summary>
    public static IReadOnlyList<YamlDocument> ReadYamlDocuments(string relativePath)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(ReadText(relativePath));
        stream.Load(reader);
        return [.. stream.Documents];
    }

    public static YamlMappingNode ReadYamlMapping(string relativePath)
    {
        var documents = ReadYamlDocuments(relativePath);
        var document = Assert.Single(documents);
        return Assert.IsType<YamlMappingNode>(document.RootNode);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mislata.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Mislata.slnx above {AppContext.BaseDirectory}");
    }
}
