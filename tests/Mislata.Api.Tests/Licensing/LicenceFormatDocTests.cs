using Mislata.Core.Licensing;
using Mislata.Testing;
using Mislata.Testing.Docs;
using Mislata.Testing.Licensing;

namespace Mislata.Api.Tests.Licensing;

/// <summary>
/// The licence example of docs/formats.md is the golden test-vendor licence and verifies with the test vendor key: the
/// page cannot show a format the code no longer reads.
/// </summary>
public sealed class LicenceFormatDocTests
{
    [Fact]
    public void The_formats_page_licence_example_is_the_golden_licence_and_verifies()
    {
        var examples = MarkdownExamples.Read(File.ReadAllText(Path.Combine(TestEnvironment.RepositoryRoot, "docs", "formats.md")), "formats-example");
        var licences = examples.Where(e => e.Name.StartsWith("licence.", StringComparison.Ordinal)).ToList();
        var example = Assert.Single(licences);
        var golden = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Licensing", "Golden", example.Name["licence.".Length..] + ".lic"));
        Assert.Equal(golden.TrimEnd(), example.Body.TrimEnd());

        var check = LicenceDocument.Verify(example.Body, TestVendor.Anchors);
        Assert.True(check.IsAuthentic, check.Detail);
        Assert.Equal(TestVendor.KeyId, check.KeyId);

        // One changed character of the armoured text is no longer authentic.
        var lines = example.Body.Split('\n');
        var middle = lines[lines.Length / 2].ToCharArray();
        middle[10] = middle[10] == 'A' ? 'B' : 'A';
        lines[lines.Length / 2] = new string(middle);
        Assert.False(LicenceDocument.Verify(string.Join('\n', lines), TestVendor.Anchors).IsAuthentic);
    }
}
