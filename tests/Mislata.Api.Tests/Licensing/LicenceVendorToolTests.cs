using Mislata.Core.Licensing;

namespace Mislata.Api.Tests.Licensing;

/// <summary>The vendor's tooling: keygen → files, issue from a spec, inspect.</summary>
public sealed class LicenceVendorToolTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mislata-licence-tool-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void Keygen_issue_and_inspect_work_together()
    {
        var (privatePath, publicPath) = LicenceVendorTool.KeyGen("acme-vendor-1", _dir);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(privatePath));
        }

        // Plain JSON files (no byte-order mark: other tools read them too).
        Assert.Equal((byte)'{', File.ReadAllBytes(privatePath)[0]);
        Assert.Equal((byte)'{', File.ReadAllBytes(publicPath)[0]);

        // The public file holds neither private key.
        using (var privateFile = System.Text.Json.JsonDocument.Parse(File.ReadAllText(privatePath)))
        {
            Assert.DoesNotContain(privateFile.RootElement.GetProperty("ml-dsa-65").GetString()!, File.ReadAllText(publicPath), StringComparison.Ordinal);
            Assert.DoesNotContain(privateFile.RootElement.GetProperty("ed25519").GetString()!, File.ReadAllText(publicPath), StringComparison.Ordinal);
        }

        const string spec = """{"licensee":"Acme Corp","edition":"enterprise","expiresAt":"2027-12-31T00:00:00Z","maxTenants":20,"features":["byok"]}""";
        var licence = LicenceVendorTool.Issue(spec, File.ReadAllText(privatePath), Now);
        var anchors = new LicenceTrustAnchors([VendorPublicKey.FromJson(File.ReadAllText(publicPath))]);
        var check = LicenceDocument.Verify(licence, anchors);

        Assert.True(check.IsAuthentic, check.Detail);
        Assert.Equal("Acme Corp", check.Licence!.Licensee);
        Assert.Equal(Now, check.Licence.IssuedAt);
        Assert.Equal(Now, check.Licence.NotBefore);
        Assert.Equal(30, check.Licence.GraceDays);
        Assert.Equal(new LicenceLimits(20, null, null), check.Licence.Limits);

        var report = LicenceVendorTool.Inspect(licence, anchors, Now);
        Assert.Contains("key id:    acme-vendor-1", report, StringComparison.Ordinal);
        Assert.Contains("\"licensee\":\"Acme Corp\"", report, StringComparison.Ordinal);
        Assert.Contains("both ML-DSA-65 and Ed25519 verify", report, StringComparison.Ordinal);
        Assert.Contains("state now: valid", report, StringComparison.Ordinal);

        var untrusted = LicenceVendorTool.Inspect(licence, new BuiltInLicenceTrustAnchors(), Now);
        Assert.Contains("UnknownKey", untrusted, StringComparison.Ordinal);
        Assert.Contains("state now: invalid", untrusted, StringComparison.Ordinal);
        Assert.StartsWith("not a readable licence", LicenceVendorTool.Inspect("garbage", anchors, Now), StringComparison.Ordinal);

        // Keygen never overwrites a key.
        Assert.Throws<IOException>(() => LicenceVendorTool.KeyGen("acme-vendor-1", _dir));
    }

    [Theory]
    [InlineData("""{"edition":"enterprise","expiresAt":"2027-12-31T00:00:00Z"}""")]
    [InlineData("""{"licensee":"Acme","edition":"enterprise"}""")]
    [InlineData("""{"licensee":"Acme","edition":"enterprise","expiresAt":"2020-01-01T00:00:00Z"}""")]
    [InlineData("""{"licensee":"Acme","edition":"enterprise","expiresAt":"2027-12-31T00:00:00Z","graceDays":1000}""")]
    [InlineData("not json")]
    [InlineData("""{"licensee":"Acme","edition":"enterprise","expiresAt":"2027-12-31T00:00:00Z","graceDays":"ten"}""")]
    [InlineData("""{"licensee":"Acme","edition":"enterprise","expiresAt":20271231}""")]
    [InlineData("""{"licensee":"Acme","edition":"enterprise","expiresAt":"2027-12-31T00:00:00Z","id":"not-a-guid"}""")]
    [InlineData("[1,2]")]
    public void A_spec_the_installation_would_refuse_is_refused_before_signing(string spec) =>
        Assert.ThrowsAny<FormatException>(() => LicenceVendorTool.PayloadFromSpec(spec, Now));
}
