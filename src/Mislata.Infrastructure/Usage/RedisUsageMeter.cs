using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.ApiKeys;
using Mislata.Core.Usage;
using Mislata.Infrastructure.Persistence;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Usage;

/// <summary>Monthly (UTC calendar month) operation counters in Redis, shared by every replica.</summary>
public sealed class RedisUsageMeter(IConnectionMultiplexer redis, TimeProvider time) : IUsageMeter
{
    private const string Script = """
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        local count = tonumber(ARGV[1])
        local limit = tonumber(ARGV[2])
        if limit >= 0 and current + count > limit then
          return {0, current}
        end
        local updated = redis.call('INCRBY', KEYS[1], count)
        if updated == count then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3])) end
        return {1, updated}
        """;

    public async Task<OperationsConsumption> TryConsumeOperationsAsync(Guid tenantId, long? limit, int count, CancellationToken cancellationToken)
    {
        var (start, end) = CurrentPeriod();
        var ttl = (long)(end - time.GetUtcNow()).TotalSeconds + (35L * 24 * 3600);
        var result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(
            Script, [Key(tenantId, start)], [count, limit ?? -1, ttl]))!;
        return new OperationsConsumption((int)result[0] == 1, (long)result[1], limit, end);
    }

    public async Task<long> OperationsThisPeriodAsync(Guid tenantId, CancellationToken cancellationToken)
    {
        var value = await redis.GetDatabase().StringGetAsync(Key(tenantId, CurrentPeriod().Start));
        return value.HasValue ? (long)value : 0;
    }

    public (DateTimeOffset Start, DateTimeOffset End) CurrentPeriod()
    {
        var now = time.GetUtcNow();
        var start = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return (start, start.AddMonths(1));
    }

    internal static RedisKey Key(Guid tenantId, DateTimeOffset periodStart) =>
        "mislata:usage:ops:" + tenantId.ToString("N") + ":" + periodStart.ToString("yyyyMM", CultureInfo.InvariantCulture);
}

/// <summary>Active (not revoked) API keys of a tenant, for the <c>maxApiKeys</c> quota.</summary>
public sealed class ApiKeyCounter(MislataDbContext db) : ITenantResourceCounter
{
    public string Resource => "apiKeys";

    public async Task<long> CountAsync(Guid tenantId, CancellationToken cancellationToken) =>
        await db.Set<ApiKey>().LongCountAsync(k => k.TenantId == tenantId && k.RevokedAt == null, cancellationToken);
}

/// <summary>A tenant's users (identity schema), for the plan's <c>maxUsers</c> and <c>/billing/usage</c>.</summary>
public sealed class IdentityUserCounter(Identity.IdentityStoreDbContext db) : ITenantResourceCounter
{
    public string Resource => "users";

    public async Task<long> CountAsync(Guid tenantId, CancellationToken cancellationToken) =>
        await db.Users.LongCountAsync(u => u.TenantId == tenantId, cancellationToken);
}
