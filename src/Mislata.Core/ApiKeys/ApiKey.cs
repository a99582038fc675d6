namespace Mislata.Core.ApiKeys;

/// <summary>
/// A stored API key: bound to one tenant (or, for a partner admin's key, to one partner), a set of scopes, an
/// optional expiry, IP allowlist and rate limit. Only a keyed hash of the secret is stored.
/// </summary>
public sealed class ApiKey
{
    private ApiKey()
    {
        Name = string.Empty;
        Prefix = string.Empty;
        Hash = [];
        Scopes = [];
        IpAllowlist = [];
        CreatedBy = string.Empty;
    }

    public ApiKey(
        Guid id,
        Guid? tenantId,
        Guid? partnerId,
        string name,
        string prefix,
        byte[] hash,
        IEnumerable<string> scopes,
        DateTimeOffset? expiresAt,
        IEnumerable<string> ipAllowlist,
        int? rateLimitPerMinute,
        string createdBy,
        DateTimeOffset now)
    {
        if (tenantId is null == partnerId is null)
        {
            throw new ArgumentException("An API key belongs to exactly one tenant or one partner.", nameof(tenantId));
        }

        Id = id;
        TenantId = tenantId;
        PartnerId = partnerId;
        Name = name;
        Prefix = prefix;
        Hash = hash;
        Scopes = [.. scopes];
        ExpiresAt = expiresAt;
        IpAllowlist = [.. ipAllowlist];
        RateLimitPerMinute = rateLimitPerMinute;
        CreatedBy = createdBy;
        CreatedAt = now;
    }

    public Guid Id { get; private set; }

    public Guid? TenantId { get; private set; }

    public Guid? PartnerId { get; private set; }

    public string Name { get; private set; }

    /// <summary>The first characters of the key (<c>qapi_</c> + 8), to recognise it in lists; not secret.</summary>
    public string Prefix { get; private set; }

    /// <summary>HMAC-SHA-256 of the whole key under a master-key-derived key.</summary>
    public byte[] Hash { get; private set; }

    public List<string> Scopes { get; private set; }

    public DateTimeOffset? ExpiresAt { get; private set; }

    public List<string> IpAllowlist { get; private set; }

    public int? RateLimitPerMinute { get; private set; }

    public string CreatedBy { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public DateTimeOffset? RevokedAt { get; private set; }

    public bool IsRevoked => RevokedAt is not null;

    public void Revoke(DateTimeOffset now) => RevokedAt ??= now;
}
