using Mislata.Core.Tenants;

namespace Mislata.Api.Features.Tenants;

/// <summary><c>planId</c> is a plan id or its code (<c>community</c>, …); default community.</summary>
public sealed record CreateTenantRequest(string? Name, string? PlanId, Guid? PartnerId, string? AdminEmail);

/// <summary>
/// Absent fields are left as they are; <c>removePartner: true</c> detaches the tenant from its partner;
/// <c>secretVersionsKept</c> 1..10000 bounds the versions kept per secret (the worker purges older ones), 0 keeps all.
/// </summary>
public sealed record UpdateTenantRequest(string? Name, string? PlanId, Guid? PartnerId, bool? RemovePartner, string? AdminEmail, int? SecretVersionsKept = null);

public sealed record TenantResponse(
    Guid Id, string Name, string Status, Guid PlanId, Guid? PartnerId, string? AdminEmail,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? SuspendedAt, int? SecretVersionsKept)
{
    public static TenantResponse From(Tenant t)
    {
        ArgumentNullException.ThrowIfNull(t);
        return new(t.Id, t.Name, t.Status == TenantStatus.Active ? "active" : "suspended", t.PlanId, t.PartnerId, t.AdminEmail,
            t.CreatedAt, t.UpdatedAt, t.SuspendedAt, t.SecretVersionsKept);
    }
}
