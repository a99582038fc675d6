using System.Globalization;
using System.Net;
using System.Net.Mail;
using System.Net.Sockets;

namespace Mislata.Core.Certificates;

/// <summary>What an issued certificate is for (API.md <c>profile</c>).</summary>
public enum CertificateProfile
{
    Server,
    Client,
    CodeSigning,
}

/// <summary>Kinds of subjectAltName entries, written <c>dns:</c>, <c>ip:</c>, <c>email:</c>, <c>uri:</c> in requests.</summary>
public enum SanKind
{
    Dns,
    Ip,
    Email,
    Uri,
}

/// <summary>One validated subjectAltName entry in its normal form.</summary>
public sealed record SubjectAltName(SanKind Kind, string Value)
{
    public override string ToString() => Kind switch
    {
        SanKind.Dns => "dns:",
        SanKind.Ip => "ip:",
        SanKind.Email => "email:",
        _ => "uri:",
    } + Value;
}

/// <summary>Per-tenant limits of the certificate authorities (no plan field holds them: a documented cap).</summary>
public static class CertificateLimits
{
    public const int MaxCasPerTenant = 100;
    public const int MaxCertificatesPerTenant = 100_000;
    public const int MaxNameLength = 200;
    public const int MaxCaValidityDays = 36_500;
    public const int DefaultLeafMaxValidityDays = 397;
    public const int MaxLeafValidityDays = 3_650;
    public const int MaxPathLength = 10;
    public const int MaxSans = 100;
    public const int MaxSanLength = 512;
    public const int MaxAllowedDomains = 50;

    /// <summary>How long a CRL is valid (nextUpdate − thisUpdate); a cached CRL is re-signed once half of it has passed.</summary>
    public static readonly TimeSpan CrlValidity = TimeSpan.FromDays(7);

    /// <summary>notBefore is backdated this much, for relying parties whose clocks run a little behind.</summary>
    public static readonly TimeSpan Backdate = TimeSpan.FromMinutes(5);
}

/// <summary>
/// The pure rules of the X.509 CAs: profiles, subjectAltNames (and the CA's allowed domains), validity, path length and
/// revocation reasons. Failures are (field, reason) values the api turns into <c>400 validation_failed</c>.
/// </summary>
public static class CertificateRules
{
    /// <summary>RFC 5280 §5.3.1 CRLReason names a revocation may give (certificateHold and removeFromCRL are not offered: no un-revoke).</summary>
    public static readonly IReadOnlyDictionary<string, int> RevocationReasons = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["unspecified"] = 0,
        ["keyCompromise"] = 1,
        ["cACompromise"] = 2,
        ["affiliationChanged"] = 3,
        ["superseded"] = 4,
        ["cessationOfOperation"] = 5,
        ["privilegeWithdrawn"] = 9,
        ["aACompromise"] = 10,
    };

    public static bool TryParseProfile(string? text, out CertificateProfile profile)
    {
        (var ok, profile) = text switch
        {
            "server" => (true, CertificateProfile.Server),
            "client" => (true, CertificateProfile.Client),
            "codeSigning" => (true, CertificateProfile.CodeSigning),
            _ => (false, CertificateProfile.Server),
        };
        return ok;
    }

    public static string ProfileName(CertificateProfile profile) => profile switch
    {
        CertificateProfile.Server => "server",
        CertificateProfile.Client => "client",
        _ => "codeSigning",
    };

    /// <summary>Which SAN kinds a profile may carry: IP addresses only in server certificates, DNS names not in code signing.</summary>
    public static bool Allows(CertificateProfile profile, SanKind kind) => profile switch
    {
        CertificateProfile.Server => kind is SanKind.Dns or SanKind.Ip or SanKind.Uri,
        CertificateProfile.Client => kind is SanKind.Dns or SanKind.Email or SanKind.Uri,
        _ => kind is SanKind.Email or SanKind.Uri,
    };

    /// <summary>
    /// Parses and checks the <c>sans</c> of a request against the profile and the CA's allowed domains. A server
    /// certificate needs at least one DNS name or IP address (TLS clients match those, not the CN).
    /// </summary>
    public static string? CheckSans(IReadOnlyList<string?>? sans, CertificateProfile profile, IReadOnlyList<string> allowedDomains, out List<SubjectAltName> parsed)
    {
        parsed = [];
        if (sans is null || sans.Count == 0)
        {
            return profile == CertificateProfile.Server ? "must hold at least one dns: or ip: entry for a server certificate." : null;
        }

        if (sans.Count > CertificateLimits.MaxSans)
        {
            return $"must have at most {CertificateLimits.MaxSans} entries.";
        }

        foreach (var raw in sans)
        {
            if (raw is null || raw.Length > CertificateLimits.MaxSanLength)
            {
                return $"entries must be strings of at most {CertificateLimits.MaxSanLength} characters.";
            }

            var colon = raw.IndexOf(':', StringComparison.Ordinal);
            var prefix = colon > 0 ? raw[..colon] : string.Empty;
            var value = colon > 0 ? raw[(colon + 1)..] : string.Empty;
            SanKind? kind = prefix switch
            {
                "dns" => SanKind.Dns,
                "ip" => SanKind.Ip,
                "email" => SanKind.Email,
                "uri" => SanKind.Uri,
                _ => null,
            };
            if (kind is null)
            {
                return $"'{Clip(raw)}' must start with dns:, ip:, email: or uri:.";
            }

            if (!Allows(profile, kind.Value))
            {
                return $"'{Clip(raw)}': a {ProfileName(profile)} certificate cannot carry {prefix}: names.";
            }

            string? why = null;
            var normal = kind switch
            {
                SanKind.Dns => NormaliseDns(value, out why),
                SanKind.Ip => NormaliseIp(value),
                SanKind.Email => MailAddress.TryCreate(value, out var address) && address.Address == value && address.DisplayName.Length == 0 && value.All(char.IsAscii) &&
                                 NormaliseDns(address.Host, out _) is { } host && !host.StartsWith('*')
                    ? address.User + "@" + host
                    : null,
                _ => Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "spiffe" or "urn" && value.All(c => c is > ' ' and < (char)127)
                    ? value
                    : null,
            };
            if (normal is null && why is not null)
            {
                return $"'{Clip(raw)}' {why}";
            }

            if (normal is null)
            {
                return $"'{Clip(raw)}' is not a valid {prefix}: name" + (kind == SanKind.Uri ? " (an absolute https:, spiffe: or urn: URI)." : ".");
            }

            if (allowedDomains.Count > 0 && kind is SanKind.Dns or SanKind.Email)
            {
                var domain = kind == SanKind.Email ? normal[(normal.IndexOf('@', StringComparison.Ordinal) + 1)..] : normal.TrimStart('*', '.');
                if (!allowedDomains.Any(d => domain == d || domain.EndsWith("." + d, StringComparison.Ordinal)))
                {
                    return $"'{Clip(raw)}' is outside the CA's allowed domains.";
                }
            }

            var entry = new SubjectAltName(kind.Value, normal);
            if (!parsed.Contains(entry))
            {
                parsed.Add(entry);
            }
        }

        return profile == CertificateProfile.Server && !parsed.Any(s => s.Kind is SanKind.Dns or SanKind.Ip)
            ? "must hold at least one dns: or ip: entry for a server certificate."
            : null;
    }

    /// <summary>
    /// A DNS name in lower case (A-labels only: IDNs must be sent punycoded), LDH labels of 1..63, at most 253 in all, at
    /// least two labels; a wildcard only as the whole left-most label of a name with at least two more labels.
    /// </summary>
    public static string? NormaliseDns(string value, out string? reason)
    {
        reason = null;
        var name = value.ToLowerInvariant().TrimEnd('.');
        if (name.Length is 0 or > 253)
        {
            reason = "is not a DNS name of 1 to 253 characters.";
            return null;
        }

        var labels = name.Split('.');
        for (var i = 0; i < labels.Length; i++)
        {
            var label = labels[i];
            if (label.Contains('*', StringComparison.Ordinal))
            {
                if (i != 0 || label != "*")
                {
                    reason = "has a wildcard that is not the whole left-most label.";
                    return null;
                }

                if (labels.Length < 3)
                {
                    reason = "has a wildcard directly under a top-level domain.";
                    return null;
                }

                continue;
            }

            if (label.Length is 0 or > 63 || label.StartsWith('-') || label.EndsWith('-') || !label.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            {
                reason = "is not a DNS name (letters, digits and hyphens; IDNs in their xn-- form).";
                return null;
            }
        }

        if (labels.Length < 2)
        {
            reason = "must have at least two labels.";
            return null;
        }

        return name;
    }

    /// <summary>An IPv4 address in dotted-quad form (no legacy short forms) or an IPv6 address without a zone, normalised.</summary>
    public static string? NormaliseIp(string value)
    {
        if (!IPAddress.TryParse(value, out var ip))
        {
            return null;
        }

        return ip.AddressFamily switch
        {
            AddressFamily.InterNetwork when ip.ToString() == value => value,
            AddressFamily.InterNetworkV6 when value.Contains(':', StringComparison.Ordinal) && !value.Contains('%', StringComparison.Ordinal) && !ip.IsIPv4MappedToIPv6 => ip.ToString(),
            _ => null,
        };
    }

    /// <summary>Normalises a CA's allowed domains (plain DNS names, no wildcards); null with a reason when one is invalid.</summary>
    public static List<string>? NormaliseAllowedDomains(IReadOnlyList<string?>? domains, out string? reason)
    {
        reason = null;
        if (domains is null)
        {
            return [];
        }

        if (domains.Count > CertificateLimits.MaxAllowedDomains)
        {
            reason = $"must have at most {CertificateLimits.MaxAllowedDomains} entries.";
            return null;
        }

        var result = new List<string>();
        foreach (var domain in domains)
        {
            var normal = domain is null || domain.Contains('*', StringComparison.Ordinal) ? null : NormaliseDns(domain, out _);
            if (normal is null)
            {
                reason = $"'{Clip(domain ?? "null")}' is not a DNS domain (no wildcards).";
                return null;
            }

            if (!result.Contains(normal))
            {
                result.Add(normal);
            }
        }

        return result;
    }

    /// <summary>The leaf's notAfter, or a reason: at most the CA's <c>maxValidityDays</c> and never past the CA's own notAfter.</summary>
    public static string? CheckLeafValidity(int? validityDays, int maxValidityDays, DateTimeOffset now, DateTimeOffset caNotAfter, out DateTimeOffset notAfter)
    {
        notAfter = default;
        if (validityDays is not { } days || days < 1)
        {
            return "is required: 1 or more days.";
        }

        if (days > maxValidityDays)
        {
            return $"is longer than this CA issues: at most {maxValidityDays} days.";
        }

        notAfter = now.AddDays(days);
        return notAfter > caNotAfter
            ? $"would outlive the CA, whose certificate ends {caNotAfter.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)}."
            : null;
    }

    /// <summary>
    /// A CA's path length under its parent: a parent with pathLength 0 (or that is itself limited) cannot have a CA child,
    /// and a child's pathLength must be below its parent's.
    /// </summary>
    public static string? CheckPathLength(int? requested, int? parentPathLength, bool hasParent, out int? effective)
    {
        effective = requested;
        if (requested is < 0 or > CertificateLimits.MaxPathLength)
        {
            return $"must be between 0 and {CertificateLimits.MaxPathLength}.";
        }

        if (!hasParent || parentPathLength is null)
        {
            return null;
        }

        if (parentPathLength == 0)
        {
            return "the parent CA has pathLength 0: it cannot sign another CA.";
        }

        effective = requested ?? parentPathLength - 1;
        return effective >= parentPathLength ? $"must be below the parent's pathLength ({parentPathLength})." : null;
    }

    private static string Clip(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
