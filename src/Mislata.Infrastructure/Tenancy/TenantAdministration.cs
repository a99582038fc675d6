using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.ApiKeys;
using Mislata.Core.Audit;
using Mislata.Core.Partners;
using Mislata.Core.Tenants;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Tenants;
using Npgsql;

namespace Mislata.Infrastructure.Tenancy;

public enum TenancyError
{
    None = 0,
    NotFound = 1,
    PlanNotFound = 2,
    PartnerNotFound = 3,
    NameTaken = 4,
    PartnerAllowanceExceeded = 5,
    PlanNotAvailableToPartners = 6,
}

public sealed record TenantDraft(string Name, string? Plan, Guid? PartnerId, string? AdminEmail);

/// <summary>A PATCH of a tenant; <see cref="SecretVersionsKept"/> 0 means keep every secret version.</summary>
public sealed record TenantChanges(string? Name, string? Plan, Guid? PartnerId, bool ClearPartner, string? AdminEmail, int? SecretVersionsKept = null);

/// <summary>
/// The tenant lifecycle. Every change is audited before it is committed: when the audit log is unavailable
/// (<see cref="AuditUnavailableException"/>) nothing is changed.
/// </summary>
public sealed class TenantAdministration(
    MislataDbContext db, ITenantKeyWrapper keyWrapper, IAuditLog audit, AccessInvalidation invalidation, TimeProvider time)
{
    public const int FirstDataKeyVersion = 1;

    public async Task<Plan?> FindPlanAsync(string? idOrCode, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(idOrCode))
        {
            return await db.Set<Plan>().SingleOrDefaultAsync(p => p.Id == Plan.CommunityId, cancellationToken)
                ?? await db.Set<Plan>().OrderBy(p => p.CreatedAt).FirstOrDefaultAsync(cancellationToken);
        }

        return Guid.TryParse(idOrCode, out var id)
            ? await db.Set<Plan>().SingleOrDefaultAsync(p => p.Id == id, cancellationToken)
            : await db.Set<Plan>().SingleOrDefaultAsync(p => p.Code == idOrCode, cancellationToken);
    }

    /// <summary>
    /// Creates a tenant with its first (wrapped) data key. A partner admin's creation counts against its allowance and
    /// may use only a plan marked <see cref="Plan.AvailableToPartners"/>.
    /// </summary>
    public async Task<(Tenant? Tenant, TenancyError Error)> CreateAsync(TenantDraft draft, RequestActor actor, bool byPartner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentNullException.ThrowIfNull(actor);
        var plan = await FindPlanAsync(draft.Plan, cancellationToken);
        if (plan is null)
        {
            return (null, TenancyError.PlanNotFound);
        }

        // A partner sells only the plans the operator opened to partners.
        if (byPartner && !plan.AvailableToPartners)
        {
            return (null, TenancyError.PlanNotAvailableToPartners);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (draft.PartnerId is { } partnerId)
        {
            // Row lock on the partner: concurrent creations cannot both slip under its allowance.
            var partner = await db.Set<Partner>()
                .FromSqlInterpolated($"SELECT * FROM mislata.partners WHERE id = {partnerId} FOR UPDATE")
                .SingleOrDefaultAsync(cancellationToken);
            if (partner is null)
            {
                return (null, TenancyError.PartnerNotFound);
            }

            if (byPartner && partner.MaxTenants is { } max &&
                await db.Set<Tenant>().CountAsync(t => t.PartnerId == partnerId, cancellationToken) >= max)
            {
                return (null, TenancyError.PartnerAllowanceExceeded);
            }
        }

        if (await db.Set<Tenant>().AnyAsync(t => t.Name == draft.Name, cancellationToken))
        {
            return (null, TenancyError.NameTaken);
        }

        var now = time.GetUtcNow();
        var tenant = new Tenant(Guid.CreateVersion7(now), draft.Name, plan.Id, draft.PartnerId, draft.AdminEmail, now);
        db.Add(tenant);
        db.Add(new TenantDataKeyRecord(tenant.Id, FirstDataKeyVersion, keyWrapper.CreateDataKey(tenant.Id, FirstDataKeyVersion), now));
        await audit.RecordAsync(actor.Event(null, "tenant.create", "tenant", tenant.Id.ToString(), details: new Dictionary<string, string>
        {
            ["plan"] = plan.Code,
            ["partnerId"] = draft.PartnerId?.ToString() ?? string.Empty,
        }), cancellationToken);
        if (!await TrySaveAsync(cancellationToken))
        {
            return (null, TenancyError.NameTaken);
        }

        await transaction.CommitAsync(cancellationToken);
        return (tenant, TenancyError.None);
    }

    public async Task<(Tenant? Tenant, TenancyError Error)> UpdateAsync(Guid tenantId, TenantChanges changes, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(actor);
        var tenant = await db.Set<Tenant>().SingleOrDefaultAsync(t => t.Id == tenantId, cancellationToken);
        if (tenant is null)
        {
            return (null, TenancyError.NotFound);
        }

        var now = time.GetUtcNow();
        if (changes.Plan is not null)
        {
            var plan = await FindPlanAsync(changes.Plan, cancellationToken);
            if (plan is null)
            {
                return (null, TenancyError.PlanNotFound);
            }

            tenant.ChangePlan(plan.Id, now);
        }

        if (changes.PartnerId is { } partnerId)
        {
            if (!await db.Set<Partner>().AnyAsync(p => p.Id == partnerId, cancellationToken))
            {
                return (null, TenancyError.PartnerNotFound);
            }

            tenant.ChangePartner(partnerId, now);
        }
        else if (changes.ClearPartner)
        {
            tenant.ChangePartner(null, now);
        }

        if (changes.Name is not null && changes.Name != tenant.Name)
        {
            if (await db.Set<Tenant>().AnyAsync(t => t.Name == changes.Name && t.Id != tenantId, cancellationToken))
            {
                return (null, TenancyError.NameTaken);
            }

            tenant.Rename(changes.Name, now);
        }

        if (changes.AdminEmail is not null)
        {
            tenant.ChangeAdminEmail(changes.AdminEmail, now);
        }

        if (changes.SecretVersionsKept is { } kept)
        {
            tenant.KeepSecretVersions(kept == 0 ? null : kept, now);
        }

        await audit.RecordAsync(actor.Event(null, "tenant.update", "tenant", tenantId.ToString()), cancellationToken);
        if (!await TrySaveAsync(cancellationToken))
        {
            return (null, TenancyError.NameTaken);
        }

        await invalidation.PublishAsync(AccessInvalidation.Tenant(tenantId));
        return (tenant, TenancyError.None);
    }

    public async Task<(Tenant? Tenant, TenancyError Error)> SetStatusAsync(Guid tenantId, TenantStatus status, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actor);
        var tenant = await db.Set<Tenant>().SingleOrDefaultAsync(t => t.Id == tenantId, cancellationToken);
        if (tenant is null)
        {
            return (null, TenancyError.NotFound);
        }

        var now = time.GetUtcNow();
        if (status == TenantStatus.Suspended)
        {
            tenant.Suspend(now);
        }
        else
        {
            tenant.Reactivate(now);
        }

        await audit.RecordAsync(actor.Event(null, status == TenantStatus.Suspended ? "tenant.suspend" : "tenant.reactivate", "tenant", tenantId.ToString()), cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await invalidation.PublishAsync(AccessInvalidation.Tenant(tenantId));
        return (tenant, TenancyError.None);
    }

    /// <summary>
    /// Crypto-shredding: the wrapped data keys go first, then the tenant's records, in one transaction. Without its
    /// DEK no ciphertext of the tenant can be decrypted again (backups taken before still hold it: see
    /// docs/operations/crypto-shredding.md).
    /// </summary>
    public async Task<TenancyError> DeleteAsync(Guid tenantId, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actor);
        if (!await db.Set<Tenant>().AnyAsync(t => t.Id == tenantId, cancellationToken))
        {
            return TenancyError.NotFound;
        }

        await audit.RecordAsync(actor.Event(null, "tenant.delete", "tenant", tenantId.ToString(),
            details: new Dictionary<string, string> { ["cryptoShredded"] = "true" }), cancellationToken);
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await db.Set<TenantDataKeyRecord>().Where(k => k.TenantId == tenantId).ExecuteDeleteAsync(cancellationToken);
            await db.Set<ApiKey>().Where(k => k.TenantId == tenantId).ExecuteDeleteAsync(cancellationToken);
            await db.Set<Tenant>().Where(t => t.Id == tenantId).ExecuteDeleteAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        await invalidation.PublishAsync(AccessInvalidation.Tenant(tenantId));
        return TenancyError.None;
    }

    private async Task<bool> TrySaveAsync(CancellationToken cancellationToken)
    {
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return true;
        }
        catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            return false;
        }
    }
}
