namespace Mislata.Core.Secrets;

/// <summary>One version's value as the storage holds it: sealed under the tenant's data key (never in clear here).</summary>
public sealed record SealedSecretValue(byte[] Sealed, int DataKeyVersion);

/// <summary>
/// A tenant's named secret with numbered, immutable versions: every write adds version <see cref="NextVersion"/>,
/// optionally only when the caller's expected version is still the current one (check-and-set). Metadata
/// (description, labels, content type, expiry) is not versioned. State: live → deleted (restorable until
/// <see cref="PurgeAt"/>) → purged (the rows are removed). Versions are not loaded with the secret: a write returns
/// the new <see cref="SecretVersion"/> for the caller to store, so a secret with many versions costs the same to write.
/// Every rule answers a <see cref="SecretError"/> value; exceptions are for bugs only.
/// </summary>
public sealed class Secret
{
    private Secret()
    {
        Name = string.Empty;
        Labels = [];
        CreatedBy = string.Empty;
    }

    private Secret(Guid id, Guid tenantId, string name, string createdBy, DateTimeOffset now)
    {
        Id = id;
        TenantId = tenantId;
        Name = name;
        Labels = [];
        State = SecretState.Live;
        CreatedBy = createdBy;
        CreatedAt = now;
        UpdatedAt = now;
    }

    public Guid Id { get; private set; }

    public Guid TenantId { get; private set; }

    /// <summary>Unique among the tenant's live secrets (<see cref="SecretLimits.IsValidName"/>).</summary>
    public string Name { get; private set; }

    public string? Description { get; private set; }

    public List<string> Labels { get; private set; }

    /// <summary>What the value is (<c>text/plain</c>, <c>application/x-pem-file</c>…): informative, never interpreted.</summary>
    public string? ContentType { get; private set; }

    /// <summary>From this instant the secret reads as not found unless expired secrets are asked for.</summary>
    public DateTimeOffset? ExpiresAt { get; private set; }

    public int CurrentVersion { get; private set; }

    public SecretState State { get; private set; }

    public DateTimeOffset? DeletedAt { get; private set; }

    /// <summary>When a deleted secret is purged (deletion + <see cref="SecretLimits.RestoreWindowDays"/> days).</summary>
    public DateTimeOffset? PurgeAt { get; private set; }

    public string CreatedBy { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public DateTimeOffset UpdatedAt { get; private set; }

    /// <summary>The number the next version gets (what its sealed value's associated data must name before it is sealed).</summary>
    public int NextVersion => CurrentVersion + 1;

    /// <summary>A new live secret and its version 1 (<paramref name="firstValue"/> sealed for this id and version 1).</summary>
    public static (Secret Secret, SecretVersion Version) Create(
        Guid id, Guid tenantId, string name, SealedSecretValue firstValue, string createdBy, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(firstValue);
        if (!SecretLimits.IsValidName(name, out var reason))
        {
            throw new ArgumentException("The name " + reason, nameof(name));
        }

        var secret = new Secret(id, tenantId, name, createdBy, now);
        var version = secret.AddVersion(firstValue, createdBy, now);
        return (secret, version);
    }

    public bool IsExpired(DateTimeOffset now) => ExpiresAt <= now;

    /// <summary>
    /// Version <see cref="NextVersion"/> becomes current, when <paramref name="expectedVersion"/> (if given) is the
    /// current version; otherwise <see cref="SecretError.VersionMismatch"/>. Live secrets only. Call under the row lock.
    /// </summary>
    public SecretError Write(SealedSecretValue value, int? expectedVersion, string createdBy, DateTimeOffset now, out SecretVersion? version)
    {
        ArgumentNullException.ThrowIfNull(value);
        version = null;
        if (State != SecretState.Live)
        {
            return SecretError.StateInvalid;
        }

        if (expectedVersion is { } expected && expected != CurrentVersion)
        {
            return SecretError.VersionMismatch;
        }

        version = AddVersion(value, createdBy, now);
        return SecretError.None;
    }

    /// <summary>
    /// Description (<c>""</c> clears it), labels, content type (<c>""</c> clears it) and expiry: null arguments leave a
    /// field as it is; <paramref name="clearExpiry"/> removes the expiry. Live secrets only.
    /// </summary>
    public SecretError Describe(
        string? description, IReadOnlyList<string>? labels, string? contentType, DateTimeOffset? expiresAt, bool clearExpiry, DateTimeOffset now)
    {
        if (State != SecretState.Live)
        {
            return SecretError.StateInvalid;
        }

        if (description is not null)
        {
            Description = description.Length == 0 ? null : description;
        }

        if (labels is not null)
        {
            Labels = [.. labels];
        }

        if (contentType is not null)
        {
            ContentType = contentType.Length == 0 ? null : contentType;
        }

        if (clearExpiry)
        {
            ExpiresAt = null;
        }
        else if (expiresAt is { } at)
        {
            ExpiresAt = at;
        }

        UpdatedAt = now;
        return SecretError.None;
    }

    /// <summary>Soft delete: the secret disappears from reads and lists and can be restored for 30 days.</summary>
    public SecretError Delete(DateTimeOffset now)
    {
        if (State != SecretState.Live)
        {
            return SecretError.StateInvalid;
        }

        State = SecretState.Deleted;
        DeletedAt = now;
        PurgeAt = now.AddDays(SecretLimits.RestoreWindowDays);
        UpdatedAt = now;
        return SecretError.None;
    }

    /// <summary>Undoes a deletion before its purge date. The caller maps a live secret of the same name to <see cref="SecretError.NameTaken"/>.</summary>
    public SecretError Restore(DateTimeOffset now)
    {
        if (State != SecretState.Deleted || PurgeAt <= now)
        {
            return SecretError.StateInvalid;
        }

        State = SecretState.Live;
        DeletedAt = null;
        PurgeAt = null;
        UpdatedAt = now;
        return SecretError.None;
    }

    /// <summary>Whether the worker may purge this deleted secret for good.</summary>
    public bool IsDueForPurge(DateTimeOffset now) => State == SecretState.Deleted && PurgeAt <= now;

    private SecretVersion AddVersion(SealedSecretValue value, string createdBy, DateTimeOffset now)
    {
        CurrentVersion++;
        UpdatedAt = now;
        return new SecretVersion(Id, TenantId, CurrentVersion, value, createdBy, now);
    }
}

/// <summary>One immutable version of a secret. The value is sealed (AES-256-GCM under the tenant's data key, bound to tenant, secret and version).</summary>
public sealed class SecretVersion
{
    private SecretVersion()
    {
        SealedValue = [];
        CreatedBy = string.Empty;
    }

    internal SecretVersion(Guid secretId, Guid tenantId, int version, SealedSecretValue value, string createdBy, DateTimeOffset now)
    {
        SecretId = secretId;
        TenantId = tenantId;
        Version = version;
        SealedValue = value.Sealed;
        DataKeyVersion = value.DataKeyVersion;
        CreatedBy = createdBy;
        CreatedAt = now;
    }

    public Guid SecretId { get; private set; }

    public Guid TenantId { get; private set; }

    public int Version { get; private set; }

    public byte[] SealedValue { get; private set; }

    /// <summary>Which of the tenant's data keys sealed <see cref="SealedValue"/>.</summary>
    public int DataKeyVersion { get; private set; }

    /// <summary>The actor (API key, user or application id) that wrote this version.</summary>
    public string CreatedBy { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }
}
