using System.Net;

namespace Mislata.Core.ApiKeys;

/// <summary>
/// The limits an API key carries besides its scopes: expiry, IP allowlist (empty = any address) and its own rate limit
/// (null = the platform's default per credential).
/// </summary>
public sealed record ApiKeyLimits(DateTimeOffset? ExpiresAt, IReadOnlyList<string> IpAllowlist, int? RateLimitPerMinute)
{
    public static ApiKeyLimits Of(ApiKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new(key.ExpiresAt, key.IpAllowlist, key.RateLimitPerMinute);
    }

    /// <summary>
    /// The limits of a key minted by a key with these limits: no later expiry, no wider allowlist, no higher rate limit.
    /// What the request leaves out is the parent's. A violation is refused, never silently narrowed, and named.
    /// </summary>
    /// <param name="requested">What the request asked for (null fields = not given).</param>
    /// <param name="defaultRateLimitPerMinute">The limit of a key without one of its own.</param>
    public ApiKeyInheritance Inherit(ApiKeyLimits requested, int defaultRateLimitPerMinute)
    {
        ArgumentNullException.ThrowIfNull(requested);
        var violations = new List<string>(3);

        var expiresAt = requested.ExpiresAt ?? ExpiresAt;
        if (ExpiresAt is { } parentExpiry && expiresAt > parentExpiry)
        {
            violations.Add($"expiresAt: a key cannot outlive the key that creates it (at most {parentExpiry.UtcDateTime:O}).");
        }

        var allowlist = requested.IpAllowlist.Count == 0 ? IpAllowlist : requested.IpAllowlist;
        var outside = IpAllowlist.Count == 0 ? [] : allowlist.Where(n => !IsInside(n, IpAllowlist)).ToList();
        if (outside.Count > 0)
        {
            violations.Add($"ipAllowlist: every network must lie inside the creating key's allowlist ({string.Join(", ", IpAllowlist)}); outside: {string.Join(", ", outside)}.");
        }

        var parentRate = RateLimitPerMinute ?? defaultRateLimitPerMinute;
        var rateLimit = requested.RateLimitPerMinute ?? RateLimitPerMinute;
        if (requested.RateLimitPerMinute is { } asked && asked > parentRate)
        {
            violations.Add($"rateLimitPerMinute: at most the creating key's {parentRate} requests per minute.");
        }

        return violations.Count == 0
            ? new ApiKeyInheritance(new ApiKeyLimits(expiresAt, allowlist, rateLimit), null)
            : new ApiKeyInheritance(null, string.Join(' ', violations));
    }

    /// <summary>Whether the CIDR <paramref name="network"/> lies entirely inside one of <paramref name="allowed"/> (same address family).</summary>
    public static bool IsInside(string network, IReadOnlyList<string> allowed)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        if (!IPNetwork.TryParse(network, out var inner))
        {
            return false;
        }

        foreach (var entry in allowed)
        {
            if (IPNetwork.TryParse(entry, out var outer)
                && outer.BaseAddress.AddressFamily == inner.BaseAddress.AddressFamily
                && inner.PrefixLength >= outer.PrefixLength
                && outer.Contains(inner.BaseAddress))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>The limits a minted key gets, or the reason (naming each limit exceeded) it is refused.</summary>
public sealed record ApiKeyInheritance(ApiKeyLimits? Limits, string? Violation);
