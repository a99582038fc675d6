using System.Collections.Immutable;
using Mislata.Identity.Features.Accounts;

namespace Mislata.Identity.Features.Server;

/// <summary>
/// An application's multi-factor policy, kept in its OpenIddict settings: <c>mfaRequired</c> (default false) and the
/// second-factor methods that satisfy it (<c>mfaMethods</c>, default all of <see cref="SignInMethods.All"/>). The
/// authorization endpoint, the device verification page and the token endpoint hand out nothing to a session without
/// an allowed second factor (or a passkey first factor, when passkeys are allowed).
/// </summary>
internal sealed record MfaPolicy(bool Required, IReadOnlyList<string> Methods)
{
    public const string RequiredSetting = "mislata:mfa_required";

    public const string MethodsSetting = "mislata:mfa_methods";

    public static MfaPolicy Of(ImmutableDictionary<string, string> settings)
    {
        var required = settings.TryGetValue(RequiredSetting, out var value) && value == "true";
        var methods = settings.TryGetValue(MethodsSetting, out var list)
            ? SignInMethods.All.Where(m => list.Split(' ').Contains(m, StringComparer.Ordinal)).ToList()
            : [.. SignInMethods.All];
        return new MfaPolicy(required, methods);
    }

    /// <summary>Whether a session (or a code's principal) signed in with <paramref name="amr"/> may get a code or token.</summary>
    public bool IsSatisfiedBy(IReadOnlyCollection<string> amr) => !Required || SignInMethods.HasSecondFactor(amr, Methods);

    public void WriteTo(Dictionary<string, string> settings)
    {
        settings[RequiredSetting] = Required ? "true" : "false";
        settings[MethodsSetting] = string.Join(' ', Methods);
    }

    /// <summary>The validation message for <c>mfaMethods</c>, or null when the list is valid.</summary>
    public static string? Check(IReadOnlyList<string>? methods) => methods switch
    {
        null => null,
        { Count: 0 } => $"mfaMethods names at least one of {string.Join(", ", SignInMethods.All)}.",
        _ when methods.FirstOrDefault(m => !SignInMethods.All.Contains(m, StringComparer.Ordinal)) is { } unknown =>
            $"Unknown method '{unknown}': mfaMethods are {string.Join(", ", SignInMethods.All)}.",
        _ => null,
    };

    /// <summary>The methods in the canonical order, each once.</summary>
    public static IReadOnlyList<string> Normalise(IReadOnlyList<string> methods) => [.. SignInMethods.All.Where(methods.Contains)];
}
