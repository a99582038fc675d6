namespace Mislata.Core.Tenants;

/// <summary>A tenant: one customer's isolated space, with a plan, an optional partner and a status.</summary>
public sealed class Tenant
{
    private Tenant()
    {
        Name = string.Empty;
    }

    public Tenant(Guid id, string name, Guid planId, Guid? partnerId, string? adminEmail, DateTimeOffset now)
    {
        Id = id;
        Name = name;
        PlanId = planId;
        PartnerId = partnerId;
        AdminEmail = adminEmail;
        Status = TenantStatus.Active;
        CreatedAt = now;
        UpdatedAt = now;
    }

    public Guid Id { get; private set; }

    public string Name { get; private set; }

    public Guid PlanId { get; private set; }

    public Guid? PartnerId { get; private set; }

    public string? AdminEmail { get; private set; }

    public TenantStatus Status { get; private set; }

    public DateTimeOffset? SuspendedAt { get; private set; }

    /// <summary>How many versions of each secret the worker keeps (the newest ones); null keeps every version.</summary>
    public int? SecretVersionsKept { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public DateTimeOffset UpdatedAt { get; private set; }

    public void Rename(string name, DateTimeOffset now)
    {
        Name = name;
        UpdatedAt = now;
    }

    public void ChangePlan(Guid planId, DateTimeOffset now)
    {
        PlanId = planId;
        UpdatedAt = now;
    }

    public void ChangePartner(Guid? partnerId, DateTimeOffset now)
    {
        PartnerId = partnerId;
        UpdatedAt = now;
    }

    public void ChangeAdminEmail(string? adminEmail, DateTimeOffset now)
    {
        AdminEmail = adminEmail;
        UpdatedAt = now;
    }

    /// <summary>At most <paramref name="kept"/> versions per secret from the next purge on (null: keep all).</summary>
    public void KeepSecretVersions(int? kept, DateTimeOffset now)
    {
        if (kept is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(kept), kept, "At least one version is kept.");
        }

        SecretVersionsKept = kept;
        UpdatedAt = now;
    }

    /// <summary>Every operation of a suspended tenant is refused (403 forbidden); its data is kept.</summary>
    public void Suspend(DateTimeOffset now)
    {
        Status = TenantStatus.Suspended;
        SuspendedAt = now;
        UpdatedAt = now;
    }

    public void Reactivate(DateTimeOffset now)
    {
        Status = TenantStatus.Active;
        SuspendedAt = null;
        UpdatedAt = now;
    }
}
