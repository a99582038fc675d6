using Mislata.Crypto.Algorithms;

namespace Mislata.Core.Keys;

/// <summary>One version's material as the storage holds it: sealed under the tenant's data key, public part in clear.</summary>
public sealed record SealedVersionMaterial(byte[] Sealed, int DataKeyVersion, byte[]? PublicKey);

/// <summary>
/// A tenant's named key with numbered versions (the Vault transit model). The current version encrypts and signs;
/// older versions are deprecated (decrypt/verify only) down to <see cref="MinDecryptionVersion"/>. State machine:
/// enabled ⇄ disabled → pendingDeletion (7–30 days, restorable to disabled) → destroyed (final: material erased).
/// Every rule answers a <see cref="KeyError"/> value; exceptions are for bugs only.
/// </summary>
public sealed class Key
{
    private readonly List<KeyVersion> _versions = [];

    private Key()
    {
        Name = string.Empty;
        Algorithm = string.Empty;
        Tags = [];
        CreatedBy = string.Empty;
    }

    private Key(Guid id, Guid tenantId, string name, AlgorithmInfo info, KeyType type, KeyOrigin origin, string createdBy, DateTimeOffset now)
    {
        Id = id;
        TenantId = tenantId;
        Name = name;
        Algorithm = info.Name;
        Type = type;
        Origin = origin;
        State = KeyState.Enabled;
        Tags = [];
        CreatedBy = createdBy;
        CreatedAt = now;
        UpdatedAt = now;
    }

    public Guid Id { get; private set; }

    public Guid TenantId { get; private set; }

    public string Name { get; private set; }

    /// <summary>The exact API.md algorithm string.</summary>
    public string Algorithm { get; private set; }

    public KeyType Type { get; private set; }

    public KeyOrigin Origin { get; private set; }

    public KeyState State { get; private set; }

    public int CurrentVersion { get; private set; }

    /// <summary>Payloads and signatures of versions below this one are refused (<c>decryption_failed</c>).</summary>
    public int MinDecryptionVersion { get; private set; }

    /// <summary>The tenant's default key of its <see cref="Type"/> (at most one per tenant and type).</summary>
    public bool IsDefault { get; private set; }

    public List<string> Tags { get; private set; }

    public string? Description { get; private set; }

    public int? RotationPeriodDays { get; private set; }

    public DateTimeOffset? NextRotationAt { get; private set; }

    /// <summary>When a key pending deletion is destroyed.</summary>
    public DateTimeOffset? DeletionDate { get; private set; }

    public string CreatedBy { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public DateTimeOffset UpdatedAt { get; private set; }

    public IReadOnlyList<KeyVersion> Versions => _versions;

    public AlgorithmInfo Info => AlgorithmRegistry.Default.Get(Algorithm).Info;

    /// <summary>The number the next version gets (what its material's associated data must name before it is sealed).</summary>
    public int NextVersion => CurrentVersion + 1;

    /// <summary>A new enabled key whose version 1 is <paramref name="firstVersion"/> (sealed for this id and version 1).</summary>
    public static Key Create(
        Guid id, Guid tenantId, string name, AlgorithmInfo info, KeyType type, KeyOrigin origin, SealedVersionMaterial firstVersion,
        string createdBy, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(firstVersion);
        if (!info.Supports(type))
        {
            throw new ArgumentException($"{info.Name} cannot be a {type} key.", nameof(type));
        }

        var key = new Key(id, tenantId, name, info, type, origin, createdBy, now);
        key.AddVersion(firstVersion, now);
        key.MinDecryptionVersion = 1;
        return key;
    }

    /// <summary>Description, tags and rotation period: allowed while the key is enabled or disabled.</summary>
    public KeyError Describe(string? description, IReadOnlyList<string>? tags, int? rotationPeriodDays, bool clearRotationPeriod, DateTimeOffset now)
    {
        if (!IsManageable)
        {
            return KeyError.StateInvalid;
        }

        if (description is not null)
        {
            Description = description.Length == 0 ? null : description;
        }

        if (tags is not null)
        {
            Tags = [.. tags];
        }

        if (clearRotationPeriod)
        {
            RotationPeriodDays = null;
            NextRotationAt = null;
        }
        else if (rotationPeriodDays is { } days)
        {
            RotationPeriodDays = days;
            NextRotationAt = CurrentVersionCreatedAt.AddDays(days);
        }

        UpdatedAt = now;
        return KeyError.None;
    }

    /// <summary>Makes this key the default of its type, or not; the caller clears the tenant's previous default in the same transaction.</summary>
    public KeyError SetDefault(bool isDefault, DateTimeOffset now)
    {
        if (isDefault && State != KeyState.Enabled)
        {
            return KeyError.StateInvalid;
        }

        IsDefault = isDefault;
        UpdatedAt = now;
        return KeyError.None;
    }

    /// <summary>Refuses payloads of versions below <paramref name="version"/> (1..<see cref="CurrentVersion"/>).</summary>
    public KeyError SetMinDecryptionVersion(int version, DateTimeOffset now)
    {
        if (!IsManageable)
        {
            return KeyError.StateInvalid;
        }

        if (version < 1 || version > CurrentVersion)
        {
            return KeyError.VersionOutOfRange;
        }

        MinDecryptionVersion = version;
        UpdatedAt = now;
        return KeyError.None;
    }

    /// <summary>A new current version (sealed for <see cref="NextVersion"/>); the previous ones become deprecated. Enabled keys only.</summary>
    public KeyError Rotate(SealedVersionMaterial material, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(material);
        if (State != KeyState.Enabled)
        {
            return KeyError.StateInvalid;
        }

        AddVersion(material, now);
        if (RotationPeriodDays is { } days)
        {
            NextRotationAt = now.AddDays(days);
        }

        UpdatedAt = now;
        return KeyError.None;
    }

    public KeyError Disable(DateTimeOffset now)
    {
        if (State == KeyState.Disabled)
        {
            return KeyError.None;
        }

        if (State != KeyState.Enabled)
        {
            return KeyError.StateInvalid;
        }

        State = KeyState.Disabled;
        IsDefault = false;
        UpdatedAt = now;
        return KeyError.None;
    }

    public KeyError Enable(DateTimeOffset now)
    {
        if (State == KeyState.Enabled)
        {
            return KeyError.None;
        }

        if (State != KeyState.Disabled)
        {
            return KeyError.StateInvalid;
        }

        State = KeyState.Enabled;
        UpdatedAt = now;
        return KeyError.None;
    }

    /// <summary>Schedules destruction <paramref name="pendingDays"/> (7..30) days from now. The key refuses every operation meanwhile.</summary>
    public KeyError ScheduleDeletion(int pendingDays, DateTimeOffset now)
    {
        if (pendingDays is < KeyLimits.MinPendingDays or > KeyLimits.MaxPendingDays)
        {
            throw new ArgumentOutOfRangeException(nameof(pendingDays), pendingDays, "The deletion window is 7 to 30 days.");
        }

        if (!IsManageable)
        {
            return KeyError.StateInvalid;
        }

        State = KeyState.PendingDeletion;
        DeletionDate = now.AddDays(pendingDays);
        IsDefault = false;
        UpdatedAt = now;
        return KeyError.None;
    }

    /// <summary>Cancels a pending deletion before its date; the key comes back disabled, to be enabled on purpose.</summary>
    public KeyError Restore(DateTimeOffset now)
    {
        if (State != KeyState.PendingDeletion || DeletionDate <= now)
        {
            return KeyError.StateInvalid;
        }

        State = KeyState.Disabled;
        DeletionDate = null;
        UpdatedAt = now;
        return KeyError.None;
    }

    /// <summary>Whether the deletion window has passed (the purge may destroy the key).</summary>
    public bool IsDueForDestruction(DateTimeOffset now) => State == KeyState.PendingDeletion && DeletionDate <= now;

    /// <summary>Final: every version's material is erased. Only once the deletion window has passed.</summary>
    public KeyError Destroy(DateTimeOffset now)
    {
        if (!IsDueForDestruction(now))
        {
            return KeyError.StateInvalid;
        }

        State = KeyState.Destroyed;
        foreach (var version in _versions)
        {
            version.Destroy(now);
        }

        UpdatedAt = now;
        return KeyError.None;
    }

    /// <summary>The version, or null when the key has none of that number.</summary>
    public KeyVersion? Version(int version) => _versions.Find(v => v.Version == version);

    private bool IsManageable => State is KeyState.Enabled or KeyState.Disabled;

    private DateTimeOffset CurrentVersionCreatedAt => Version(CurrentVersion)?.CreatedAt ?? CreatedAt;

    private void AddVersion(SealedVersionMaterial material, DateTimeOffset now)
    {
        foreach (var older in _versions)
        {
            older.Deprecate();
        }

        CurrentVersion++;
        _versions.Add(new KeyVersion(Id, TenantId, CurrentVersion, material, now));
    }
}

/// <summary>One numbered version of a key. The material is sealed (never in clear here); the public part is in clear.</summary>
public sealed class KeyVersion
{
    private KeyVersion()
    {
        SealedMaterial = [];
    }

    internal KeyVersion(Guid keyId, Guid tenantId, int version, SealedVersionMaterial material, DateTimeOffset now)
    {
        KeyId = keyId;
        TenantId = tenantId;
        Version = version;
        State = KeyVersionState.Active;
        SealedMaterial = material.Sealed;
        DataKeyVersion = material.DataKeyVersion;
        PublicKey = material.PublicKey;
        CreatedAt = now;
    }

    public Guid KeyId { get; private set; }

    public Guid TenantId { get; private set; }

    public int Version { get; private set; }

    public KeyVersionState State { get; private set; }

    /// <summary>AES-256-GCM under the tenant's data key, bound to tenant, key, version and algorithm. Empty once destroyed.</summary>
    public byte[] SealedMaterial { get; private set; }

    /// <summary>Which of the tenant's data keys sealed <see cref="SealedMaterial"/>.</summary>
    public int DataKeyVersion { get; private set; }

    /// <summary>The raw public key (CRYPTO.md <c>format=raw</c>) of asymmetric keys; null for AES and HMAC.</summary>
    public byte[]? PublicKey { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    /// <summary>Coarse (flushed periodically, never a write per operation).</summary>
    public DateTimeOffset? LastUsedAt { get; private set; }

    /// <summary>AES-GCM encryptions under a symmetric version (rotated before 2^32); flushed periodically.</summary>
    public long InvocationCount { get; private set; }

    public DateTimeOffset? DestroyedAt { get; private set; }

    internal void Deprecate()
    {
        if (State == KeyVersionState.Active)
        {
            State = KeyVersionState.Deprecated;
        }
    }

    internal void Destroy(DateTimeOffset now)
    {
        if (State == KeyVersionState.Destroyed)
        {
            return;
        }

        State = KeyVersionState.Destroyed;
        SealedMaterial = [];
        DestroyedAt = now;
    }
}
