using System.Collections.Immutable;
using System.Security.Claims;
using Mislata.Identity.Features.Accounts;
using Mislata.Identity.Features.Server;

namespace Mislata.Identity.Tests.Server;

/// <summary>An application's MFA policy read from its settings, validated, and checked against a session's amr.</summary>
public sealed class MfaPolicyTests
{
    private static ImmutableDictionary<string, string> Settings(params (string Key, string Value)[] entries) =>
        entries.ToImmutableDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);

    [Fact]
    public void An_application_without_settings_requires_nothing_and_allows_both_methods()
    {
        var policy = MfaPolicy.Of(Settings());
        Assert.False(policy.Required);
        Assert.Equal(["totp", "passkey"], policy.Methods);
        Assert.True(policy.IsSatisfiedBy([]));
        Assert.True(policy.IsSatisfiedBy(["pwd"]));
    }

    [Fact]
    public void The_settings_round_trip_in_the_canonical_order()
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        new MfaPolicy(true, MfaPolicy.Normalise(["passkey", "totp", "passkey"])).WriteTo(settings);
        Assert.Equal("true", settings[MfaPolicy.RequiredSetting]);
        Assert.Equal("totp passkey", settings[MfaPolicy.MethodsSetting]);
        var read = MfaPolicy.Of(settings.ToImmutableDictionary());
        Assert.True(read.Required);
        Assert.Equal(["totp", "passkey"], read.Methods);
    }

    public static TheoryData<string[], string[], bool> Sessions() => new()
    {
        // amr, allowed methods, satisfied
        { ["pwd"], ["totp", "passkey"], false },
        { ["pwd", "otp"], ["totp"], false }, // no "mfa": not a completed second step
        { ["pwd", "otp", "mfa"], ["totp"], true },
        { ["pwd", "otp", "mfa"], ["passkey"], false },
        { ["pwd", "pop", "mfa"], ["passkey"], true },
        { ["pwd", "pop", "mfa"], ["totp"], false },
        { ["pop", "mfa"], ["passkey"], true }, // a passkey first factor with user verification
        { ["pop", "mfa"], ["totp"], false },
        { ["mfa"], ["totp", "passkey"], false },
    };

    [Theory]
    [MemberData(nameof(Sessions))]
    public void A_required_policy_is_satisfied_only_by_an_allowed_second_factor(string[] amr, string[] methods, bool satisfied) =>
        Assert.Equal(satisfied, new MfaPolicy(true, methods).IsSatisfiedBy(amr));

    [Theory]
    [InlineData(new string[0], "at least one")]
    [InlineData(new[] { "totp", "sms" }, "Unknown method 'sms'")]
    [InlineData(new[] { "TOTP" }, "Unknown method 'TOTP'")]
    public void Empty_and_unknown_method_lists_are_refused(string[] methods, string message) =>
        Assert.Contains(message, MfaPolicy.Check(methods), StringComparison.Ordinal);

    [Fact]
    public void Known_lists_and_an_absent_list_pass() =>
        Assert.All(new IReadOnlyList<string>?[] { null, ["totp"], ["passkey"], ["passkey", "totp"] }, m => Assert.Null(MfaPolicy.Check(m)));

    [Fact]
    public void A_stored_unknown_method_is_ignored_rather_than_trusted()
    {
        var policy = MfaPolicy.Of(Settings((MfaPolicy.RequiredSetting, "true"), (MfaPolicy.MethodsSetting, "sms passkey")));
        Assert.Equal(["passkey"], policy.Methods);
        Assert.False(policy.IsSatisfiedBy(["pwd", "otp", "mfa"]));
    }

    [Fact]
    public void Amr_is_read_from_single_claims_and_from_a_json_array_claim()
    {
        var principal = new ClaimsPrincipal(new ClaimsIdentity(
        [
            new Claim("amr", "pwd"),
            new Claim("amr", "[\"otp\",\"mfa\",\"pwd\"]", "JSON_ARRAY"),
            new Claim("amr", "[not json"),
        ]));
        Assert.Equal(["pwd", "otp", "mfa"], SignInMethods.Of(principal));
        Assert.Empty(SignInMethods.Of(null));
    }

    [Fact]
    public void A_second_factor_adds_its_method_and_mfa_to_the_first()
    {
        Assert.Equal(["pwd", "otp", "mfa"], SignInMethods.AfterSecondFactor(["pwd"], SignInMethods.Totp));
        Assert.Equal(["pwd", "pop", "mfa"], SignInMethods.AfterSecondFactor(["pwd"], SignInMethods.Passkey));
        // A step-up of a passkey session with a code keeps what the session had.
        Assert.Equal(["pop", "mfa", "otp"], SignInMethods.AfterSecondFactor(["pop", "mfa"], SignInMethods.Totp));
    }
}
