using YamlDotNet.RepresentationModel;

namespace Mislata.Deploy.Tests;

/// <summary>Small, strict accessors over YamlDotNet's representation model.</summary>
internal static class YamlNodes
{
    public static YamlNode? Child(this YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    public static YamlMappingNode Mapping(this YamlMappingNode node, string key) =>
        node.Child(key) as YamlMappingNode ?? throw new Xunit.Sdk.XunitException($"'{key}' is not a mapping");

    public static YamlMappingNode? MappingOrNull(this YamlMappingNode node, string key) => node.Child(key) as YamlMappingNode;

    public static YamlSequenceNode? SequenceOrNull(this YamlMappingNode node, string key) => node.Child(key) as YamlSequenceNode;

    public static string? Scalar(this YamlMappingNode node, string key) => (node.Child(key) as YamlScalarNode)?.Value;

    /// <summary>Keys of a mapping, or the items of a sequence of scalars (compose accepts both forms in places).</summary>
    public static IReadOnlyList<string> NamesOf(YamlNode? node) => node switch
    {
        YamlMappingNode mapping => mapping.Children.Keys.Select(k => ((YamlScalarNode)k).Value ?? "").ToList(),
        YamlSequenceNode sequence => sequence.Children.Select(i => ((YamlScalarNode)i).Value ?? "").ToList(),
        _ => [],
    };

    /// <summary>Compose `environment` as a dictionary, from either the mapping or the `KEY=value` list form.</summary>
    public static IReadOnlyDictionary<string, string> Environment(this YamlMappingNode service)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (service.Child("environment"))
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    result[((YamlScalarNode)key).Value ?? ""] = (value as YamlScalarNode)?.Value ?? "";
                }

                break;
            case YamlSequenceNode sequence:
                foreach (var item in sequence.Children.Select(i => ((YamlScalarNode)i).Value ?? ""))
                {
                    var equals = item.IndexOf('=', StringComparison.Ordinal);
                    result[equals < 0 ? item : item[..equals]] = equals < 0 ? "" : item[(equals + 1)..];
                }

                break;
        }

        return result;
    }

    /// <summary>Every scalar under a node, depth first (to look for literals anywhere in a file).</summary>
    public static IEnumerable<YamlScalarNode> Scalars(YamlNode node)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                yield return scalar;
                break;
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    foreach (var s in Scalars(key).Concat(Scalars(value)))
                    {
                        yield return s;
                    }
                }

                break;
            case YamlSequenceNode sequence:
                foreach (var s in sequence.Children.SelectMany(Scalars))
                {
                    yield return s;
                }

                break;
        }
    }
}
