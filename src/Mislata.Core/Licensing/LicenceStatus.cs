namespace Mislata.Core.Licensing;

public enum LicenceState
{
    /// <summary>No licence installed: <see cref="LicenceRules.CommunityLimits"/> apply.</summary>
    Community = 0,

    /// <summary>Authentic, between notBefore and expiresAt.</summary>
    Valid = 1,

    /// <summary>Expired, within graceDays: everything still works, the status warns.</summary>
    Grace = 2,

    /// <summary>Past the grace period: no new keys, secrets or encryptions; every read, decrypt and verify works.</summary>
    Restricted = 3,

    /// <summary>
    /// Installed but not usable: bad or missing signature, unknown vendor key, malformed, not yet valid, revoked. The
    /// installation runs as if it had no licence (Community limits): a licence problem never locks anyone out.
    /// </summary>
    Invalid = 4,
}

/// <summary>What the licence allows right now.</summary>
public sealed record LicenceStatus(LicenceState State, LicencePayload? Licence, string? Reason, LicenceLimits Limits)
{
    /// <summary>Creating keys, secrets and tenants, and new encryptions, are allowed (not <see cref="LicenceState.Restricted"/>).</summary>
    public bool AllowsNewData => State != LicenceState.Restricted;

    public string StateName => LicenceRules.Name(State);
}

/// <summary>The licence's states and limits as pure rules of (check, revocation, now).</summary>
public static class LicenceRules
{
    /// <summary>Without a (usable) licence: 5 tenants, 25 users, 250 keys (docs/licensing.md).</summary>
    public static LicenceLimits CommunityLimits { get; } = new(MaxTenants: 5, MaxUsers: 25, MaxKeys: 250);

    public static LicenceStatus Community { get; } = new(LicenceState.Community, null, null, CommunityLimits);

    /// <summary>
    /// The state of an installed licence at <paramref name="now"/>: null check = none installed. A revoked licence
    /// (the optional online check said so) is invalid.
    /// </summary>
    public static LicenceStatus Evaluate(LicenceCheck? check, bool revoked, DateTimeOffset now)
    {
        if (check is null)
        {
            return Community;
        }

        if (!check.IsAuthentic)
        {
            return new(LicenceState.Invalid, null, check.Detail ?? check.Problem.ToString(), CommunityLimits);
        }

        var licence = check.Licence!;
        if (revoked)
        {
            return new(LicenceState.Invalid, licence, "the licence was revoked by the vendor", CommunityLimits);
        }

        if (now < licence.NotBefore)
        {
            return new(LicenceState.Invalid, licence, "the licence is not valid yet", CommunityLimits);
        }

        if (now < licence.ExpiresAt)
        {
            return new(LicenceState.Valid, licence, null, licence.Limits);
        }

        return now < licence.GraceEndsAt
            ? new(LicenceState.Grace, licence, "the licence has expired; the grace period ends at " + licence.GraceEndsAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture), licence.Limits)
            : new(LicenceState.Restricted, licence, "the licence has expired and its grace period is over", licence.Limits);
    }

    /// <summary>Whether one more of a resource fits a limit (null = unlimited).</summary>
    public static bool AllowsOneMore(int? limit, long used) => limit is not { } max || used < max;

    public static string Name(LicenceState state) => state switch
    {
        LicenceState.Community => "community",
        LicenceState.Valid => "valid",
        LicenceState.Grace => "grace",
        LicenceState.Restricted => "restricted",
        _ => "invalid",
    };
}
