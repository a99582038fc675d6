namespace Mislata.Core.Secrets;

/// <summary>A secret is live (readable, writable) or deleted (restorable until its purge date, then purged for good).</summary>
public enum SecretState
{
    Live = 0,
    Deleted = 1,
}

/// <summary>Expected failures of the secret rules, mapped to problem details by the api in one place.</summary>
public enum SecretError
{
    None = 0,

    /// <summary>No such secret in this tenant (another tenant's is not found either), or no such version: <c>404 not_found</c>.</summary>
    NotFound = 1,

    /// <summary>The tenant already has a live secret of this name: <c>409 conflict</c>.</summary>
    NameTaken = 2,

    /// <summary>The plan's <c>maxSecrets</c> is reached: <c>429 quota_exceeded</c>.</summary>
    QuotaExceeded = 3,

    /// <summary>The caller's <c>expectedVersion</c> is not the current version (a concurrent write won): <c>409 conflict</c>.</summary>
    VersionMismatch = 4,

    /// <summary>The secret is deleted (writes, patches) or not deleted (restore): <c>409 conflict</c>.</summary>
    StateInvalid = 5,

    /// <summary>The secret has expired and the caller did not ask for expired secrets: <c>404 not_found</c>.</summary>
    Expired = 6,

    /// <summary>The stored value does not open under its row's binding (altered in storage): <c>409 decryption_failed</c>, logged.</summary>
    Unreadable = 7,
}

/// <summary>The bounds of a secret's fields (API.md leaves them to the platform; docs/api.md states them).</summary>
public static class SecretLimits
{
    public const int MaxNameLength = 200;
    public const int MaxDescriptionLength = 1000;
    public const int MaxLabels = 20;
    public const int MaxLabelLength = 64;
    public const int MaxContentTypeLength = 127;

    /// <summary>A value is 0..65536 bytes once decoded (an empty value is allowed: a flag, a cleared credential).</summary>
    public const int MaxValueBytes = 64 * 1024;

    /// <summary>A deleted secret can be restored for this long; the worker purges it afterwards.</summary>
    public const int RestoreWindowDays = 30;

    /// <summary>The largest per-tenant number of versions kept (null = keep all).</summary>
    public const int MaxVersionsKept = 10_000;

    /// <summary>
    /// Whether <paramref name="name"/> is a secret name: 1..200 characters among ASCII letters, digits and
    /// <c>- _ . / @ +</c>, not starting or ending with <c>/</c>, without <c>//</c>, and not <c>.</c> or <c>..</c> as a
    /// path segment. Names may be paths (<c>prod/db/password</c>); they are compared exactly (case-sensitive).
    /// </summary>
    public static bool IsValidName(string? name, out string? reason)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength)
        {
            reason = $"must be 1 to {MaxNameLength} characters.";
            return false;
        }

        foreach (var c in name)
        {
            if (!IsNameCharacter(c))
            {
                reason = "may contain only ASCII letters, digits and - _ . / @ +.";
                return false;
            }
        }

        if (name[0] == '/' || name[^1] == '/' || name.Contains("//", StringComparison.Ordinal))
        {
            reason = "must not start or end with '/' nor contain '//'.";
            return false;
        }

        foreach (var segment in name.Split('/'))
        {
            if (segment is "." or "..")
            {
                reason = "must not have '.' or '..' as a path segment.";
                return false;
            }
        }

        reason = null;
        return true;
    }

    /// <summary>
    /// Labels after trimming, without duplicates (order kept); null with the reason when one is empty, too long, has a
    /// control character, or there are too many.
    /// </summary>
    public static IReadOnlyList<string>? NormaliseLabels(IReadOnlyList<string?> labels, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count > MaxLabels)
        {
            reason = $"must have at most {MaxLabels} entries.";
            return null;
        }

        var result = new List<string>(labels.Count);
        foreach (var label in labels)
        {
            var trimmed = label?.Trim();
            if (string.IsNullOrEmpty(trimmed) || trimmed.Length > MaxLabelLength || trimmed.Any(char.IsControl))
            {
                reason = $"each label must be 1 to {MaxLabelLength} characters without control characters.";
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

    private static bool IsNameCharacter(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '_' or '.' or '/' or '@' or '+';
}
