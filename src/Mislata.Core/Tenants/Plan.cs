namespace Mislata.Core.Tenants;

/// <summary>The quotas of a plan; null means unlimited.</summary>
public sealed record PlanLimits(
    int? MaxKeys,
    int? MaxSecrets,
    int? MaxApiKeys,
    int? MaxUsers,
    long? OperationsPerMonth,
    int? RequestsPerMinute);

/// <summary>A subscription plan (PRODUCT.md "Tenancy"): quotas and feature flags. Seeded and editable.</summary>
public sealed class Plan
{
    public static readonly Guid CommunityId = Guid.Parse("0195a1c0-0000-7000-8000-000000000001");
    public static readonly Guid BusinessId = Guid.Parse("0195a1c0-0000-7000-8000-000000000002");
    public static readonly Guid EnterpriseId = Guid.Parse("0195a1c0-0000-7000-8000-000000000003");

    private Plan()
    {
        Code = string.Empty;
        Name = string.Empty;
        Features = [];
    }

    public Plan(Guid id, string code, string name, PlanLimits limits, IEnumerable<string> features, DateTimeOffset now)
    {
        Id = id;
        Code = code;
        Name = name;
        Features = [.. features];
        SetLimits(limits);
        CreatedAt = now;
        UpdatedAt = now;
    }

    public Guid Id { get; private set; }

    /// <summary>Stable short name (<c>community</c>, <c>business</c>, <c>enterprise</c>…); unique.</summary>
    public string Code { get; private set; }

    public string Name { get; private set; }

    public int? MaxKeys { get; private set; }

    public int? MaxSecrets { get; private set; }

    public int? MaxApiKeys { get; private set; }

    public int? MaxUsers { get; private set; }

    public long? OperationsPerMonth { get; private set; }

    public int? RequestsPerMinute { get; private set; }

    public List<string> Features { get; private set; }

    /// <summary>Whether partners may create tenants on this plan (operators always may).</summary>
    public bool AvailableToPartners { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public DateTimeOffset UpdatedAt { get; private set; }

    public PlanLimits Limits => new(MaxKeys, MaxSecrets, MaxApiKeys, MaxUsers, OperationsPerMonth, RequestsPerMinute);

    public void Rename(string name, DateTimeOffset now)
    {
        Name = name;
        UpdatedAt = now;
    }

    public void SetLimits(PlanLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        MaxKeys = limits.MaxKeys;
        MaxSecrets = limits.MaxSecrets;
        MaxApiKeys = limits.MaxApiKeys;
        MaxUsers = limits.MaxUsers;
        OperationsPerMonth = limits.OperationsPerMonth;
        RequestsPerMinute = limits.RequestsPerMinute;
    }

    public void SetFeatures(IEnumerable<string> features, DateTimeOffset now)
    {
        Features = [.. features];
        UpdatedAt = now;
    }

    public void SetAvailableToPartners(bool available, DateTimeOffset now)
    {
        AvailableToPartners = available;
        UpdatedAt = now;
    }

    public void Touch(DateTimeOffset now) => UpdatedAt = now;
}
