using System.Net;
using System.Text.RegularExpressions;

namespace Mislata.Core.Ssh;

/// <summary>A CA's issuing policy: the longest validity per certificate type and the principals it may certify (glob patterns; empty: any).</summary>
public sealed record SshCaPolicy(long MaxUserValiditySeconds, long MaxHostValiditySeconds, IReadOnlyList<string> AllowedPrincipals)
{
    public long MaxValiditySeconds(SshCertificateType type) => type == SshCertificateType.User ? MaxUserValiditySeconds : MaxHostValiditySeconds;
}

/// <summary>An issuance request as it arrives (every field may be missing or wrong).</summary>
public sealed record SshCertificateDraft(
    string? PublicKey, string? Type, string? KeyId, IReadOnlyList<string?>? Principals, long? ValiditySeconds,
    IReadOnlyDictionary<string, string?>? CriticalOptions, IReadOnlyList<string?>? Extensions);

/// <summary>A checked issuance request: what the certificate will say, apart from its serial, nonce and validity window.</summary>
public sealed record SshCertificateOrder(
    SshCertificateType Type, SshPublicKey SubjectKey, string KeyId, IReadOnlyList<string> Principals, long ValiditySeconds,
    IReadOnlyList<KeyValuePair<string, string>> CriticalOptions, IReadOnlyList<string> Extensions);

/// <summary>
/// The rules of SSH certificate issuance: principals (1..256, host-name and user-name characters, within the CA's
/// allowed patterns), validity (positive, at most the CA's maximum for the type; valid from five minutes before
/// issuance for clock skew), the critical options OpenSSH defines (<c>force-command</c>, <c>source-address</c> with a
/// checked CIDR list, <c>verify-required</c>) — user certificates only —, and the extensions OpenSSH defines, by
/// default the set <c>ssh-keygen</c> gives a user certificate; host certificates carry none.
/// </summary>
public static partial class SshCertificateRules
{
    public const int MaxPrincipals = 256;
    public const int MaxPrincipalLength = 255;
    public const int MaxKeyIdLength = 256;
    public const int MaxForceCommandLength = 4096;
    public const int MaxSourceAddresses = 64;
    public const int MaxAllowedPrincipalPatterns = 64;
    public const long DefaultMaxUserValiditySeconds = 86_400;
    public const long DefaultMaxHostValiditySeconds = 30 * 86_400;

    /// <summary>The ceiling of a CA's maximum validity (about five years).</summary>
    public const long MaxPolicyValiditySeconds = 5 * 366 * 86_400L;

    public const int MaxCaNameLength = 64;

    /// <summary>How far before issuance a certificate is valid, so a host whose clock is a little behind accepts it.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    public const string ForceCommand = "force-command";
    public const string SourceAddress = "source-address";
    public const string VerifyRequired = "verify-required";

    public static readonly IReadOnlySet<string> CriticalOptionNames = new HashSet<string>(StringComparer.Ordinal) { ForceCommand, SourceAddress, VerifyRequired };

    public static readonly IReadOnlySet<string> ExtensionNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "no-touch-required", "permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc",
    };

    /// <summary>What <c>ssh-keygen -s</c> grants a user certificate by default.</summary>
    public static readonly IReadOnlyList<string> DefaultUserExtensions =
        ["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc"];

    /// <summary>A CA name: letters, digits, '.', '_' and '-' (it appears in the CA key's comment and in its key's name).</summary>
    public static bool IsValidCaName(string? name) => name is { Length: > 0 and <= MaxCaNameLength } && CaNamePattern().IsMatch(name);

    /// <summary>A user or host name as sshd compares it: letters, digits and <c>. _ - @ + :</c>, not starting with '-'.</summary>
    public static bool IsValidPrincipal(string? principal) =>
        principal is { Length: > 0 and <= MaxPrincipalLength } && PrincipalPattern().IsMatch(principal);

    /// <summary>An allowed-principals pattern: principal characters plus the wildcards '*' and '?'.</summary>
    public static bool IsValidPattern(string? pattern) => pattern is { Length: > 0 and <= MaxPrincipalLength } && PatternPattern().IsMatch(pattern);

    /// <summary>Whether the principal matches one of the glob patterns ('*' any run, '?' one character); no patterns: any principal.</summary>
    public static bool IsAllowed(string principal, IReadOnlyList<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        return patterns.Count == 0 || patterns.Any(p => Glob(p, principal));
    }

    /// <summary>The window of a certificate issued at <paramref name="now"/>: from <see cref="ClockSkew"/> before to now plus the validity.</summary>
    public static (DateTimeOffset After, DateTimeOffset Before) Window(DateTimeOffset now, long validitySeconds)
    {
        var whole = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        return (whole - ClockSkew, whole.AddSeconds(validitySeconds));
    }

    /// <summary>Checks a request against the rules and the CA's policy; null when any field is wrong (each reported to <paramref name="error"/>).</summary>
    public static SshCertificateOrder? Check(SshCertificateDraft draft, SshCaPolicy policy, Action<string, string> error)
    {
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(error);
        var failed = false;
        void Fail(string field, string message)
        {
            failed = true;
            error(field, message);
        }

        SshCertificateType? type = draft.Type switch
        {
            "user" => SshCertificateType.User,
            "host" => SshCertificateType.Host,
            _ => null,
        };
        if (type is null)
        {
            Fail("type", "must be user or host.");
        }

        if (!SshPublicKey.TryParse(draft.PublicKey, out var subject, out var reason))
        {
            Fail("publicKey", reason);
        }

        var keyId = draft.KeyId?.Trim();
        if (string.IsNullOrEmpty(keyId) || keyId.Length > MaxKeyIdLength || keyId.Any(char.IsControl))
        {
            Fail("keyId", $"is required: 1 to {MaxKeyIdLength} characters without control characters (sshd logs it).");
        }

        var principals = Principals(draft.Principals, policy, Fail);
        if (draft.ValiditySeconds is not { } validity || validity <= 0)
        {
            Fail("validitySeconds", "is required and must be more than 0.");
        }
        else if (type is { } t && validity > policy.MaxValiditySeconds(t))
        {
            Fail("validitySeconds", $"must be at most {policy.MaxValiditySeconds(t)} for a {draft.Type} certificate of this CA.");
        }

        var options = Options(draft.CriticalOptions, type, Fail);
        var extensions = Extensions(draft.Extensions, type, Fail);
        return failed
            ? null
            : new SshCertificateOrder(type!.Value, subject!, keyId!, principals, draft.ValiditySeconds!.Value, options, extensions);
    }

    private static List<string> Principals(IReadOnlyList<string?>? requested, SshCaPolicy policy, Action<string, string> fail)
    {
        // An empty list means "any user" (or any host) to OpenSSH: never issued here.
        if (requested is null || requested.Count == 0)
        {
            fail("principals", "must name at least one principal (an empty list would be valid for every user or host).");
            return [];
        }

        if (requested.Count > MaxPrincipals)
        {
            fail("principals", $"must have at most {MaxPrincipals} entries.");
            return [];
        }

        var result = new List<string>();
        foreach (var principal in requested)
        {
            if (!IsValidPrincipal(principal))
            {
                fail("principals", $"'{Shorten(principal)}' is not a principal: 1 to {MaxPrincipalLength} of letters, digits and . _ - @ + : (not starting with -).");
            }
            else if (!IsAllowed(principal!, policy.AllowedPrincipals))
            {
                fail("principals", $"'{principal}' is not allowed by this CA's allowedPrincipals.");
            }
            else if (!result.Contains(principal!, StringComparer.Ordinal))
            {
                result.Add(principal!);
            }
        }

        return result;
    }

    private static List<KeyValuePair<string, string>> Options(IReadOnlyDictionary<string, string?>? requested, SshCertificateType? type, Action<string, string> fail)
    {
        var result = new List<KeyValuePair<string, string>>();
        if (requested is null || requested.Count == 0)
        {
            return result;
        }

        if (type == SshCertificateType.Host)
        {
            fail("criticalOptions", "host certificates take no critical options.");
            return result;
        }

        foreach (var (name, value) in requested.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            switch (name)
            {
                case ForceCommand when value is { Length: > 0 and <= MaxForceCommandLength } && !value.Contains('\0', StringComparison.Ordinal):
                    result.Add(new(name, value));
                    break;
                case ForceCommand:
                    fail("criticalOptions", $"force-command must be a command of 1 to {MaxForceCommandLength} characters.");
                    break;
                case SourceAddress when SourceAddresses(value) is { } list:
                    result.Add(new(name, list));
                    break;
                case SourceAddress:
                    fail("criticalOptions", $"source-address must be a comma-separated list of 1 to {MaxSourceAddresses} addresses or CIDR networks (e.g. 10.0.0.0/8,192.0.2.7).");
                    break;
                case VerifyRequired when string.IsNullOrEmpty(value):
                    result.Add(new(name, string.Empty));
                    break;
                case VerifyRequired:
                    fail("criticalOptions", "verify-required is a flag: its value must be empty.");
                    break;
                default:
                    fail("criticalOptions", $"'{Shorten(name)}' is not a critical option: {string.Join(", ", CriticalOptionNames.Order(StringComparer.Ordinal))}.");
                    break;
            }
        }

        return result;
    }

    private static List<string> Extensions(IReadOnlyList<string?>? requested, SshCertificateType? type, Action<string, string> fail)
    {
        if (requested is null)
        {
            return type == SshCertificateType.User ? [.. DefaultUserExtensions] : [];
        }

        if (type == SshCertificateType.Host && requested.Count > 0)
        {
            fail("extensions", "host certificates take no extensions.");
            return [];
        }

        var result = new List<string>();
        foreach (var name in requested)
        {
            if (name is null || !ExtensionNames.Contains(name))
            {
                fail("extensions", $"'{Shorten(name)}' is not an extension: {string.Join(", ", ExtensionNames.Order(StringComparer.Ordinal))}.");
            }
            else if (!result.Contains(name, StringComparer.Ordinal))
            {
                result.Add(name);
            }
        }

        result.Sort(StringComparer.Ordinal);
        return result;
    }

    /// <summary>The normalised list (networks as sshd reads them), or null when any entry is not an address or CIDR network.</summary>
    public static string? SourceAddresses(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var entries = value.Split(',', StringSplitOptions.TrimEntries);
        if (entries.Length > MaxSourceAddresses)
        {
            return null;
        }

        var result = new List<string>();
        foreach (var entry in entries)
        {
            if (entry.Contains('/', StringComparison.Ordinal))
            {
                if (!IPNetwork.TryParse(entry, out var network))
                {
                    return null;
                }

                result.Add(network.ToString());
            }
            else if (IPAddress.TryParse(entry, out var address) && entry.All(c => char.IsAsciiHexDigit(c) || c is '.' or ':'))
            {
                result.Add(address.ToString());
            }
            else
            {
                return null;
            }
        }

        return string.Join(',', result.Distinct(StringComparer.Ordinal));
    }

    /// <summary>Glob match without backtracking blow-up: on a mismatch resume after the last '*' (linear in practice).</summary>
    private static bool Glob(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    private static string Shorten(string? value) => value is null ? "null" : value.Length <= 40 ? value : value[..40] + "…";

    [GeneratedRegex("^[A-Za-z0-9._-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex CaNamePattern();

    [GeneratedRegex("^[A-Za-z0-9._@+:][A-Za-z0-9._@+:-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex PrincipalPattern();

    [GeneratedRegex("^[A-Za-z0-9._@+:*?-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex PatternPattern();
}
