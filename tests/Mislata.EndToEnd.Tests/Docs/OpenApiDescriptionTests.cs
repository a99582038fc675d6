using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Docs;

/// <summary>
/// The OpenAPI document the api serves through the gateway is the reference of docs/api.md: every operation in it has
/// a summary and a description, and every path it lists appears in the guide.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class OpenApiDescriptionTests(StackFixture fixture)
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];

    [Fact]
    public async Task Every_operation_has_a_summary_and_a_description_and_is_in_the_guide()
    {
        using var http = fixture.Stack.Gateway.CreateClient();
        using var document = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/v1/openapi.json", UriKind.Relative)));
        var guide = await File.ReadAllTextAsync(Path.Combine(TestEnvironment.RepositoryRoot, "docs", "api.md"));
        var problems = new List<string>();
        var operations = 0;
        foreach (var path in document.RootElement.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject().Where(o => Methods.Contains(o.Name)))
            {
                operations++;
                foreach (var member in new[] { "summary", "description" })
                {
                    if (!operation.Value.TryGetProperty(member, out var text) || string.IsNullOrWhiteSpace(text.GetString()))
                    {
                        problems.Add($"{operation.Name.ToUpperInvariant()} {path.Name}: no {member}");
                    }
                }
            }

            // The guide names paths relative to /api/v1 and with its own parameter names ({id}, {keyId}).
            var relative = path.Name.StartsWith("/api/v1", StringComparison.Ordinal) ? path.Name["/api/v1".Length..] : path.Name;
            var stem = relative.Split('{')[0].TrimEnd('/');
            if (stem.Length > 0 && !guide.Contains(stem, StringComparison.Ordinal))
            {
                problems.Add($"{path.Name}: not mentioned in docs/api.md");
            }
        }

        Assert.True(operations >= 60, $"only {operations} operations in openapi.json");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
