using Mislata.Core.Licensing;
using Mislata.Testing.Licensing;

namespace Mislata.Api.Tests.Licensing;

/// <summary>
/// Licences issued by earlier releases keep verifying: these files were signed once and are never re-signed. A change
/// to the envelope, the armour, the payload reader, the ML-DSA context or the signature schemes that breaks them breaks
/// every customer's licence.
/// </summary>
public sealed class GoldenLicenceTests
{
    private static string Golden(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Licensing", "Golden", name));

    [Fact]
    public void The_test_vendor_golden_licence_verifies_with_its_payload_unchanged()
    {
        var check = LicenceDocument.Verify(Golden("test-vendor-1-until-2099.lic"), TestVendor.Anchors);

        Assert.True(check.IsAuthentic, check.Detail);
        Assert.Equal("mislata-test-vendor-1", check.KeyId);
        var licence = check.Licence!;
        Assert.Equal(Guid.Parse("0b9a3c55-7f3e-4d7a-8a9e-2f6c1e4d5b60"), licence.Id);
        Assert.Equal("Golden Test Licensee", licence.Licensee);
        Assert.Equal("enterprise", licence.Edition);
        Assert.Equal(DateTimeOffset.Parse("2026-12-07T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture), licence.IssuedAt);
        Assert.Equal(DateTimeOffset.Parse("2026-12-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture), licence.NotBefore);
        Assert.Equal(DateTimeOffset.Parse("2099-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture), licence.ExpiresAt);
        Assert.Equal(30, licence.GraceDays);
        Assert.Equal(new LicenceLimits(50, 500, 5000), licence.Limits);
        Assert.Equal(["byok", "hsm"], licence.Features);
        Assert.Equal(LicenceState.Valid, LicenceRules.Evaluate(check, false, new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero)).State);
    }

    [Fact]
    public void The_golden_licence_of_the_built_in_vendor_key_verifies_and_is_restricted_by_its_dates()
    {
        // Signed with the real vendor key (its private half is kept outside the repository) and expired in 2021: it
        // proves the key built into this release and the format are the ones the vendor signs with.
        var check = LicenceDocument.Verify(Golden("vendor-2026-1-expired-2021.lic"), new BuiltInLicenceTrustAnchors());

        Assert.True(check.IsAuthentic, check.Detail);
        Assert.Equal("mislata-vendor-2026-1", check.KeyId);
        Assert.Equal(Guid.Parse("6d1f4b0e-2f0a-4c8e-9a57-0b3c5d7e9f21"), check.Licence!.Id);
        Assert.Equal("Golden Expired Licensee", check.Licence.Licensee);
        Assert.Equal(new LicenceLimits(10, 100, 1000), check.Licence.Limits);
        Assert.Equal(LicenceState.Restricted, LicenceRules.Evaluate(check, false, DateTimeOffset.UtcNow).State);
        Assert.Equal(LicenceState.Valid, LicenceRules.Evaluate(check, false, new DateTimeOffset(2020, 6, 1, 0, 0, 0, TimeSpan.Zero)).State);

        // And the test vendor does not trust it, nor the release the test vendor's.
        Assert.Equal(LicenceProblem.UnknownKey, LicenceDocument.Verify(Golden("vendor-2026-1-expired-2021.lic"), TestVendor.Anchors).Problem);
        Assert.Equal(LicenceProblem.UnknownKey, LicenceDocument.Verify(Golden("test-vendor-1-until-2099.lic"), new BuiltInLicenceTrustAnchors()).Problem);
    }
}
