using Microsoft.EntityFrameworkCore;
using Mislata.Core.Tenants;
using Mislata.Infrastructure.Identity;

namespace Mislata.Identity.Features.Server;

/// <summary>Who owns an application: a tenant (with its name) or the platform.</summary>
internal sealed record ApplicationOwnerView(Guid? TenantId, string Name)
{
    public const string PlatformName = "Mislata platform";

    public bool IsPlatform => TenantId is null;
}

/// <summary>Why identity refuses an application or a user (the code goes to the audit trail, the text to the client).</summary>
internal enum BoundaryRefusal
{
    None = 0,

    /// <summary>No owner row: never treated as a platform application.</summary>
    NoOwner = 1,

    /// <summary>The owning tenant no longer exists.</summary>
    OwnerGone = 2,

    /// <summary>The owning tenant is suspended.</summary>
    OwnerSuspended = 3,

    /// <summary>A tenant's application and a user of another tenant (or of none).</summary>
    OtherTenant = 4,

    /// <summary>The user's own tenant no longer exists.</summary>
    UserTenantGone = 5,

    /// <summary>The user's own tenant is suspended.</summary>
    UserTenantSuspended = 6,
}

internal readonly record struct BoundaryCheck(ApplicationOwnerView? Owner, BoundaryRefusal Refusal)
{
    public bool Allowed => Refusal == BoundaryRefusal.None;

    public string Code => Refusal switch
    {
        BoundaryRefusal.NoOwner => "application_without_owner",
        BoundaryRefusal.OwnerGone => "application_tenant_gone",
        BoundaryRefusal.OwnerSuspended => "application_tenant_suspended",
        BoundaryRefusal.OtherTenant => "other_tenant",
        BoundaryRefusal.UserTenantGone => "user_tenant_gone",
        BoundaryRefusal.UserTenantSuspended => "user_tenant_suspended",
        _ => "none",
    };

    public string Description => Refusal switch
    {
        BoundaryRefusal.NoOwner or BoundaryRefusal.OwnerGone => "The application is not registered with an owner.",
        BoundaryRefusal.OwnerSuspended => "The application's tenant is suspended.",
        BoundaryRefusal.OtherTenant => "The application signs in only users of its own tenant.",
        BoundaryRefusal.UserTenantGone => "The user's tenant no longer exists.",
        BoundaryRefusal.UserTenantSuspended => "The user's tenant is suspended.",
        _ => string.Empty,
    };
}

/// <summary>
/// The tenant boundary of the authorization server, checked at authorize, at the code exchange, at every refresh and
/// for client credentials: an application owned by a tenant serves only that tenant's users; a platform application
/// (owner row without a tenant) serves any user; an application without an owner row serves nobody. A suspended (or
/// deleted) tenant's applications and users are refused. Tenant status comes from the same cache as the api's
/// (<see cref="ITenantDirectory"/>, dropped on every replica over Redis pub/sub when a tenant changes).
/// </summary>
internal sealed class ApplicationBoundary(IdentityStoreDbContext db, ITenantDirectory tenants)
{
    /// <summary>Whether the application may take part in any grant now, and its owner.</summary>
    public async Task<BoundaryCheck> CheckApplicationAsync(string applicationId, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(applicationId, out var id))
        {
            return new(null, BoundaryRefusal.NoOwner);
        }

        var owner = await db.ApplicationOwners.AsNoTracking().FirstOrDefaultAsync(o => o.ApplicationId == id, cancellationToken);
        if (owner is null)
        {
            return new(null, BoundaryRefusal.NoOwner);
        }

        if (owner.TenantId is not { } tenantId)
        {
            return new(new ApplicationOwnerView(null, ApplicationOwnerView.PlatformName), BoundaryRefusal.None);
        }

        var tenant = await tenants.FindAsync(tenantId, cancellationToken);
        return tenant is null ? new(null, BoundaryRefusal.OwnerGone)
            : tenant.Status == TenantStatus.Suspended ? new(new ApplicationOwnerView(tenantId, tenant.Name), BoundaryRefusal.OwnerSuspended)
            : new(new ApplicationOwnerView(tenantId, tenant.Name), BoundaryRefusal.None);
    }

    /// <summary>Whether the application may sign <paramref name="userTenantId"/>'s user in now (the application first, then the user).</summary>
    public async Task<BoundaryCheck> CheckUserAsync(string applicationId, Guid? userTenantId, CancellationToken cancellationToken)
    {
        var check = await CheckApplicationAsync(applicationId, cancellationToken);
        return check.Allowed ? await CheckUserAsync(check.Owner!, userTenantId, cancellationToken) : check;
    }

    /// <summary>Whether an application of <paramref name="owner"/> (already checked) may sign <paramref name="userTenantId"/>'s user in.</summary>
    public async Task<BoundaryCheck> CheckUserAsync(ApplicationOwnerView owner, Guid? userTenantId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(owner);
        if (owner.TenantId is { } ownerTenant && ownerTenant != userTenantId)
        {
            return new(owner, BoundaryRefusal.OtherTenant);
        }

        if (userTenantId is not { } tenantId)
        {
            return new(owner, BoundaryRefusal.None);
        }

        var tenant = await tenants.FindAsync(tenantId, cancellationToken);
        return new(owner, tenant is null ? BoundaryRefusal.UserTenantGone
            : tenant.Status == TenantStatus.Suspended ? BoundaryRefusal.UserTenantSuspended
            : BoundaryRefusal.None);
    }
}
