using Microsoft.EntityFrameworkCore;
using Mislata.Core.Tenants;
using Mislata.Infrastructure.Persistence;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Usage;

/// <summary>
/// Copies the monthly operation counters of <see cref="RedisUsageMeter"/> into <c>mislata.usage_periods</c> for the
/// current and the previous month (so a month's final count lands after it ends). Tenants are read from PostgreSQL
/// and taken in batches and their counters read with one MGET per batch; each row keeps the larger of the stored and the counted
/// value, which makes a run idempotent and safe to repeat or to run twice at once.
/// </summary>
public sealed class UsageRollup(MislataDbContext db, IConnectionMultiplexer redis, TimeProvider time)
{
    public const int Batch = 500;

    /// <summary>Returns how many (tenant, month) rows were written.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var current = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var periods = new[] { current.AddMonths(-1), current };
        var written = 0;
        var all = await db.Set<Tenant>().AsNoTracking().Select(t => t.Id).OrderBy(id => id).ToListAsync(cancellationToken);
        foreach (var tenants in all.Chunk(Batch))
        {
            var keys = tenants.SelectMany(t => periods.Select(p => RedisUsageMeter.Key(t, p))).ToArray();
            var values = await redis.GetDatabase().StringGetAsync(keys);
            var rows = new List<(Guid Tenant, DateOnly Period, long Operations)>();
            for (var i = 0; i < keys.Length; i++)
            {
                if (values[i].TryParse(out long operations) && operations > 0)
                {
                    rows.Add((tenants[i / periods.Length], DateOnly.FromDateTime(periods[i % periods.Length].UtcDateTime), operations));
                }
            }

            foreach (var (tenant, period, operations) in rows)
            {
                // Idempotent upsert; a tenant deleted meanwhile (foreign key) is skipped by the WHERE EXISTS.
                written += await db.Database.ExecuteSqlInterpolatedAsync($"""
                    INSERT INTO mislata.usage_periods (tenant_id, period_start, operations, rolled_up_at)
                    SELECT {tenant}, {period}, {operations}, {now}
                    WHERE EXISTS (SELECT 1 FROM mislata.tenants WHERE id = {tenant})
                    ON CONFLICT (tenant_id, period_start) DO UPDATE
                    SET operations = GREATEST(usage_periods.operations, EXCLUDED.operations), rolled_up_at = EXCLUDED.rolled_up_at
                    """, cancellationToken);
            }
        }

        return written;
    }
}
