namespace Mislata.Core.Tenants;

public enum TenantStatus
{
    Active = 0,
    Suspended = 1,
}

/// <summary>What other services need to know about a tenant (identity checks a user's tenant with it).</summary>
public sealed record TenantSummary(Guid Id, string Name, TenantStatus Status, Guid? PartnerId);

public interface ITenantDirectory
{
    /// <summary>The tenant, or null when it does not exist (or is deleted).</summary>
    Task<TenantSummary?> FindAsync(Guid tenantId, CancellationToken cancellationToken);
}
