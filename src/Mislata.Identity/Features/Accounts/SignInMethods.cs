using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Text.Json;

namespace Mislata.Identity.Features.Accounts;

/// <summary>
/// How a session was signed in, as the session's <c>amr</c> claims (RFC 8176 values) and as the second-factor methods
/// an application may require (<c>mfaMethods</c>): <c>totp</c> (an authenticator code, or a recovery code, both
/// one-time codes: <c>otp</c>) and <c>passkey</c> (proof of possession of a key, <c>pop</c>). A session with a second
/// factor also carries <c>mfa</c>; a passkey first factor does too, since the authenticator verified the user
/// (user verification is required) besides proving possession.
/// </summary>
internal static class SignInMethods
{
    public const string ClaimType = "amr";

    public const string Totp = "totp";

    public const string Passkey = "passkey";

    /// <summary>The second-factor methods, in the order the API lists them by default.</summary>
    public static readonly IReadOnlyList<string> All = [Totp, Passkey];

    public const string Password = "pwd";

    public const string OneTimeCode = "otp";

    public const string ProofOfPossession = "pop";

    public const string MultiFactor = "mfa";

    public static IReadOnlyList<string> ForPassword => [Password];

    public static IReadOnlyList<string> ForPasskey => [ProofOfPossession, MultiFactor];

    /// <summary>The amr of a second factor of <paramref name="method"/> added to what the first factor gave.</summary>
    public static IReadOnlyList<string> AfterSecondFactor(IEnumerable<string> first, string method) =>
        [.. first.Append(method == Passkey ? ProofOfPossession : OneTimeCode).Append(MultiFactor).Distinct(StringComparer.Ordinal)];

    /// <summary>The amr values of a principal: one claim per value, or one JSON array claim (as tokens carry them).</summary>
    public static IReadOnlyList<string> Of(ClaimsPrincipal? principal)
    {
        if (principal is null)
        {
            return [];
        }

        var values = new List<string>();
        foreach (var claim in principal.FindAll(ClaimType))
        {
            if (claim.Value.StartsWith('['))
            {
                try
                {
                    values.AddRange(JsonSerializer.Deserialize<string[]>(claim.Value) ?? []);
                }
                catch (JsonException)
                {
                    // Not an array after all: not an amr this server wrote.
                }
            }
            else
            {
                values.Add(claim.Value);
            }
        }

        return [.. values.Distinct(StringComparer.Ordinal)];
    }

    public static IEnumerable<Claim> Claims(IEnumerable<string> amr) => amr.Select(v => new Claim(ClaimType, v));

    /// <summary>Whether <paramref name="amr"/> shows a second factor of one of <paramref name="allowed"/>.</summary>
    public static bool HasSecondFactor(IReadOnlyCollection<string> amr, IEnumerable<string> allowed) =>
        amr.Contains(MultiFactor) && allowed.Any(m => amr.Contains(m == Passkey ? ProofOfPossession : OneTimeCode));
}

/// <summary>
/// The two lockout counters of a person's sign-in (section <c>Lockout</c>): wrong passwords, and failed second factors
/// (TOTP, recovery code, passkey at the second step). Each locks only itself, for its own window; a success of one never
/// resets the other.
/// </summary>
internal sealed class SignInLockoutOptions
{
    public const string Section = "Lockout";

    [Range(1, 1000)]
    public int PasswordMaxFailures { get; set; } = 10;

    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan PasswordWindow { get; set; } = TimeSpan.FromMinutes(15);

    [Range(1, 1000)]
    public int SecondFactorMaxFailures { get; set; } = 5;

    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan SecondFactorWindow { get; set; } = TimeSpan.FromMinutes(15);
}
