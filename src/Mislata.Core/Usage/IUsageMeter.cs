using Mislata.Core.Tenants;

namespace Mislata.Core.Usage;

/// <summary>Result of consuming metered operations against the plan's monthly allowance.</summary>
public readonly record struct OperationsConsumption(bool Allowed, long Used, long? Limit, DateTimeOffset PeriodEnd);

/// <summary>
/// Monthly operation counters shared by every replica (Redis). Metered operations are the writes and cryptographic
/// operations of a tenant; reads are never metered nor refused, so a tenant over quota can still read its data.
/// </summary>
public interface IUsageMeter
{
    /// <summary>Counts <paramref name="count"/> operations unless that would exceed <paramref name="limit"/>.</summary>
    Task<OperationsConsumption> TryConsumeOperationsAsync(Guid tenantId, long? limit, int count, CancellationToken cancellationToken);

    Task<long> OperationsThisPeriodAsync(Guid tenantId, CancellationToken cancellationToken);

    (DateTimeOffset Start, DateTimeOffset End) CurrentPeriod();
}

/// <summary>
/// One countable resource of a tenant (API keys, keys, secrets, users…). Each feature registers its own, so the
/// quota checks and <c>/billing/usage</c> see every count without knowing the feature's tables.
/// </summary>
public interface ITenantResourceCounter
{
    /// <summary><c>apiKeys</c>, <c>keys</c>, <c>secrets</c>, <c>users</c>.</summary>
    string Resource { get; }

    Task<long> CountAsync(Guid tenantId, CancellationToken cancellationToken);
}

/// <summary>The plan limits of a tenant, answered from memory (invalidated across replicas when a plan or tenant changes).</summary>
public interface ITenantPlanProvider
{
    /// <summary>Null when the tenant does not exist.</summary>
    Task<TenantAccess?> GetAsync(Guid tenantId, CancellationToken cancellationToken);
}

/// <summary>What the hot path needs to know about a tenant.</summary>
public sealed record TenantAccess(Guid TenantId, TenantStatus Status, Guid? PartnerId, Guid PlanId, string PlanCode, PlanLimits Limits);

/// <summary>Checks a count quota before creating one more resource.</summary>
public static class Quotas
{
    public static bool AllowsOneMore(int? limit, long current) => limit is null || current < limit.Value;
}
