using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.ApiKeys;
using Mislata.Core.Audit;
using Mislata.Core.Partners;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Crypto.Entropy;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Tenants;

namespace Mislata.Infrastructure.ApiKeys;

public sealed record ApiKeyDraft(string Name, IReadOnlyList<string> Scopes, DateTimeOffset? ExpiresAt, IReadOnlyList<string> IpAllowlist, int? RateLimitPerMinute);

public enum ApiKeyError
{
    None = 0,
    OwnerNotFound = 1,
    QuotaExceeded = 2,
}

/// <summary>Issues and revokes API keys, audited before commit (fail-closed).</summary>
public sealed class ApiKeyIssuer(MislataDbContext db, ApiKeySecret secret, IAuditLog audit, AccessInvalidation invalidation, TimeProvider time, IRandomSource random)
{
    /// <summary>The advisory lock class of the <c>maxApiKeys</c> quota (with the tenant: one lock per tenant).</summary>
    private const int ApiKeyQuotaLock = 0x4D41_4B01;

    /// <summary>A new key of a tenant, within the plan's <c>maxApiKeys</c>. The plaintext key is returned once, never stored.</summary>
    public async Task<(ApiKey? Key, string? Secret, ApiKeyError Error)> IssueForTenantAsync(Guid tenantId, ApiKeyDraft draft, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentNullException.ThrowIfNull(actor);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

        // The plan's maxApiKeys and the active keys counted in one round trip, under locks held until the commit: with a
        // limit, concurrent creations of the tenant are serialised and cannot both slip under it; without one, they run
        // side by side (see LockTenantForQuotaAsync).
        var quota = await db.LockTenantForQuotaAsync(transaction, tenantId, ApiKeyQuotaLock, "max_api_keys",
            "mislata.api_keys WHERE tenant_id = $1 AND revoked_at IS NULL", cancellationToken);
        if (quota is not { } q)
        {
            return (null, null, ApiKeyError.OwnerNotFound);
        }

        if (!Quotas.AllowsOneMore(q.Limit, q.Count))
        {
            return (null, null, ApiKeyError.QuotaExceeded);
        }

        var (key, plaintext) = await AddAsync(tenantId, null, draft, actor, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (key, plaintext, ApiKeyError.None);
    }

    /// <summary>A partner admin's key (scope <c>partner:admin</c>), bound to the partner rather than a tenant.</summary>
    public async Task<(ApiKey? Key, string? Secret, ApiKeyError Error)> IssueForPartnerAsync(Guid partnerId, ApiKeyDraft draft, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(draft);
        if (!await db.Set<Partner>().AnyAsync(p => p.Id == partnerId, cancellationToken))
        {
            return (null, null, ApiKeyError.OwnerNotFound);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var (key, plaintext) = await AddAsync(null, partnerId, draft, actor, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (key, plaintext, ApiKeyError.None);
    }

    /// <summary>Revokes a tenant's key; every replica refuses it at once. False when the tenant has no such key.</summary>
    public Task<bool> RevokeAsync(Guid tenantId, Guid keyId, RequestActor actor, CancellationToken cancellationToken) =>
        RevokeAsync(tenantId, null, keyId, actor, cancellationToken);

    /// <summary>Revokes a partner admin's key; every replica refuses it at once. False when the partner has no such key.</summary>
    public Task<bool> RevokeForPartnerAsync(Guid partnerId, Guid keyId, RequestActor actor, CancellationToken cancellationToken) =>
        RevokeAsync(null, partnerId, keyId, actor, cancellationToken);

    private async Task<bool> RevokeAsync(Guid? tenantId, Guid? partnerId, Guid keyId, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actor);
        var key = tenantId is { } t
            ? await db.Set<ApiKey>().SingleOrDefaultAsync(k => k.TenantId == t && k.Id == keyId, cancellationToken)
            : await db.Set<ApiKey>().SingleOrDefaultAsync(k => k.PartnerId == partnerId && k.Id == keyId, cancellationToken);
        if (key is null)
        {
            return false;
        }

        if (!key.IsRevoked)
        {
            key.Revoke(time.GetUtcNow());
            await audit.RecordAsync(actor.Event(tenantId, "apikey.revoke", "apiKey", keyId.ToString(), details: partnerId is { } p
                ? new Dictionary<string, string> { ["partnerId"] = p.ToString() }
                : null), cancellationToken);
            await db.SaveChangesAsync(cancellationToken);
        }

        await invalidation.PublishAsync(AccessInvalidation.ApiKey(keyId));
        return true;
    }

    /// <summary>The key added and saved inside the caller's transaction, which the caller commits.</summary>
    private async Task<(ApiKey Key, string Plaintext)> AddAsync(Guid? tenantId, Guid? partnerId, ApiKeyDraft draft, RequestActor actor, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var plaintext = ApiKeySecret.Generate(random);
        var key = new ApiKey(Guid.CreateVersion7(now), tenantId, partnerId, draft.Name, ApiKeySecret.PrefixOf(plaintext), secret.Hash(plaintext),
            draft.Scopes, draft.ExpiresAt, draft.IpAllowlist, draft.RateLimitPerMinute, actor.ActorId, now);
        db.Add(key);

        // The audit's group commit and the INSERT run side by side (the audit log has connections of its own); the
        // caller's commit still comes only after both, so nothing is acknowledged before its audit event is durable, and a
        // refused event leaves the key uncommitted. Inside a tenant's quota lock this spares the lock one round trip.
        var audited = audit.RecordAsync(actor.Event(tenantId, "apikey.create", "apiKey", key.Id.ToString(), details: new Dictionary<string, string>
        {
            ["scopes"] = string.Join(' ', draft.Scopes),
            ["prefix"] = key.Prefix,
            ["partnerId"] = partnerId?.ToString() ?? string.Empty,
        }), cancellationToken);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch
        {
            await audited.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            throw;
        }

        await audited;
        return (key, plaintext);
    }
}
