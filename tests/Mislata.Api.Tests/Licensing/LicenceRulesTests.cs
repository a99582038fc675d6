using Mislata.Core.Licensing;
using Mislata.Testing.Licensing;

namespace Mislata.Api.Tests.Licensing;

/// <summary>The states by the clock, revocation, and the limits in force.</summary>
public sealed class LicenceRulesTests
{
    private static readonly DateTimeOffset NotBefore = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Expiry = new(2027, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly LicenceCheck Authentic =
        LicenceDocument.Verify(TestVendor.Issue(NotBefore, Expiry, graceDays: 14, maxTenants: 3, maxUsers: 4, maxKeys: 5), TestVendor.Anchors);

    public static TheoryData<string, LicenceState> ByClock() => new()
    {
        { "2025-12-31T23:59:59Z", LicenceState.Invalid },
        { "2026-01-01T00:00:00Z", LicenceState.Valid },
        { "2026-12-31T23:59:59Z", LicenceState.Valid },
        { "2027-01-01T00:00:00Z", LicenceState.Grace },
        { "2027-01-14T23:59:59Z", LicenceState.Grace },
        { "2027-01-15T00:00:00Z", LicenceState.Restricted },
        { "2040-01-01T00:00:00Z", LicenceState.Restricted },
    };

    [Theory]
    [MemberData(nameof(ByClock))]
    public void The_state_follows_the_clock(string now, LicenceState expected)
    {
        var status = LicenceRules.Evaluate(Authentic, revoked: false, DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(expected, status.State);
        Assert.Equal(expected != LicenceState.Restricted, status.AllowsNewData);
        Assert.Equal(expected == LicenceState.Valid, status.Reason is null);
    }

    [Fact]
    public void The_licence_limits_apply_while_valid_in_grace_and_restricted_and_Community_limits_otherwise()
    {
        var licenceLimits = new LicenceLimits(3, 4, 5);
        Assert.Equal(licenceLimits, LicenceRules.Evaluate(Authentic, false, NotBefore.AddDays(1)).Limits);
        Assert.Equal(licenceLimits, LicenceRules.Evaluate(Authentic, false, Expiry.AddDays(1)).Limits);
        Assert.Equal(LicenceRules.CommunityLimits, LicenceRules.Evaluate(Authentic, false, NotBefore.AddDays(-1)).Limits);
        Assert.Equal(LicenceRules.CommunityLimits, LicenceRules.Evaluate(null, false, NotBefore).Limits);
    }

    [Fact]
    public void No_licence_is_Community_with_small_limits()
    {
        var status = LicenceRules.Evaluate(null, revoked: false, NotBefore);
        Assert.Equal(LicenceState.Community, status.State);
        Assert.Equal("community", status.StateName);
        Assert.True(status.AllowsNewData);
        Assert.Equal(new LicenceLimits(5, 25, 250), status.Limits);
    }

    [Fact]
    public void A_revoked_licence_is_invalid_and_runs_with_Community_limits()
    {
        var status = LicenceRules.Evaluate(Authentic, revoked: true, NotBefore.AddDays(1));
        Assert.Equal(LicenceState.Invalid, status.State);
        Assert.Equal(LicenceRules.CommunityLimits, status.Limits);
        Assert.True(status.AllowsNewData);
        Assert.Contains("revoked", status.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_licence_that_does_not_verify_is_invalid_whatever_its_dates()
    {
        using var stranger = VendorKeyPair.Generate("stranger-2");
        var check = LicenceDocument.Verify(LicenceDocument.Issue(TestVendor.Payload(NotBefore, Expiry), stranger), TestVendor.Anchors);
        var status = LicenceRules.Evaluate(check, false, NotBefore.AddDays(1));
        Assert.Equal(LicenceState.Invalid, status.State);
        Assert.Null(status.Licence);
        Assert.Equal("invalid", status.StateName);
    }

    [Theory]
    [InlineData(null, 1_000_000L, true)]
    [InlineData(5, 4L, true)]
    [InlineData(5, 5L, false)]
    [InlineData(5, 6L, false)]
    [InlineData(0, 0L, false)]
    public void A_limit_allows_one_more_below_it_and_none_at_or_above_it(int? limit, long used, bool allowed) =>
        Assert.Equal(allowed, LicenceRules.AllowsOneMore(limit, used));
}
