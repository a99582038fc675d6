using Microsoft.EntityFrameworkCore;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Usage;

namespace Mislata.Infrastructure.Usage;

/// <summary>Where a month's operation count starts when Redis has no counter for it: the last roll-up.</summary>
public interface IUsageBaseline
{
    /// <summary>The tenant's operations of the month starting <paramref name="periodStart"/> as last rolled up (0: none).</summary>
    Task<long> OperationsAsync(Guid tenantId, DateOnly periodStart, CancellationToken cancellationToken);
}

/// <summary><see cref="IUsageBaseline"/> from <c>mislata.usage_periods</c>, which the worker's roll-up writes.</summary>
public sealed class PostgresUsageBaseline(IDbContextFactory<MislataDbContext> contexts) : IUsageBaseline
{
    public async Task<long> OperationsAsync(Guid tenantId, DateOnly periodStart, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Set<UsagePeriodRecord>().AsNoTracking()
            .Where(p => p.TenantId == tenantId && p.PeriodStart == periodStart)
            .Select(p => p.Operations)
            .FirstOrDefaultAsync(cancellationToken);
    }
}
