namespace Mislata.Core.Keys;

/// <summary>The states of a key (API.md key object <c>state</c>).</summary>
public enum KeyState
{
    Enabled = 0,
    Disabled = 1,
    PendingDeletion = 2,
    Destroyed = 3,
}

/// <summary>The states of one key version: the current one is active, older ones deprecated (decrypt/verify only).</summary>
public enum KeyVersionState
{
    Active = 0,
    Deprecated = 1,
    Destroyed = 2,
}

/// <summary>Where a key's material came from.</summary>
public enum KeyOrigin
{
    Generated = 0,
    Imported = 1,
}

/// <summary>Expected failures of the key rules, mapped to problem details by the api in one place.</summary>
public enum KeyError
{
    None = 0,

    /// <summary>No such key in this tenant (another tenant's key is not found either).</summary>
    NotFound = 1,

    /// <summary>The tenant already has a key of this name: <c>409 conflict</c>.</summary>
    NameTaken = 2,

    /// <summary>The plan's <c>maxKeys</c> is reached: <c>429 quota_exceeded</c>.</summary>
    QuotaExceeded = 3,

    /// <summary>The key's state does not allow the change: <c>409 key_state_invalid</c>.</summary>
    StateInvalid = 4,

    /// <summary>A version number outside 1..currentVersion (minDecryptionVersion, public export): <c>400 validation_failed</c>.</summary>
    VersionOutOfRange = 5,

    /// <summary>Another key became the default of this type at the same moment: <c>409 conflict</c>.</summary>
    DefaultTaken = 6,

    /// <summary>A concurrent change of the same key won (e.g. two rotations at once): <c>409 conflict</c>, retry.</summary>
    Concurrent = 7,

    /// <summary>The tenant's plan does not include the feature (BYOK import needs <c>byok</c>): <c>403 forbidden</c>.</summary>
    FeatureNotInPlan = 8,

    /// <summary>
    /// Raising <c>minDecryptionVersion</c> would strand registered payload references under older versions:
    /// <c>409 conflict</c>, run rewrap-all first (or force it).
    /// </summary>
    PayloadsHeld = 9,
}

/// <summary>The bounds of a key's fields (API.md leaves them to the platform; docs/api.md states them).</summary>
public static class KeyLimits
{
    public const int MaxNameLength = 200;
    public const int MaxDescriptionLength = 1000;
    public const int MaxTags = 20;
    public const int MaxTagLength = 64;
    public const int MinRotationPeriodDays = 1;
    public const int MaxRotationPeriodDays = 3650;
    public const int MinPendingDays = 7;
    public const int MaxPendingDays = 30;
    public const int DefaultPendingDays = 30;

    /// <summary>The plan feature that allows importing keys (seeded on the business and enterprise plans).</summary>
    public const string ByokFeature = "byok";

    /// <summary>BYOK material (base64, PEM or JWK text) longer than this is refused before parsing.</summary>
    public const int MaxImportMaterialLength = 64 * 1024;

    /// <summary>
    /// Tags after trimming, without duplicates; null with the reason when one is empty, too long, has a control
    /// character, or there are too many.
    /// </summary>
    public static IReadOnlyList<string>? NormaliseTags(IReadOnlyList<string?> tags, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(tags);
        if (tags.Count > MaxTags)
        {
            reason = $"must have at most {MaxTags} entries.";
            return null;
        }

        var result = new List<string>(tags.Count);
        foreach (var tag in tags)
        {
            var trimmed = tag?.Trim();
            if (string.IsNullOrEmpty(trimmed) || trimmed.Length > MaxTagLength || trimmed.Any(char.IsControl))
            {
                reason = $"each tag must be 1 to {MaxTagLength} characters without control characters.";
                return null;
            }

            if (!result.Contains(trimmed, StringComparer.Ordinal))
            {
                result.Add(trimmed);
            }
        }

        reason = null;
        return result;
    }
}
