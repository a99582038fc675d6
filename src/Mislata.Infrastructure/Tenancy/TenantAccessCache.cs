using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Persistence;

namespace Mislata.Infrastructure.Tenancy;

/// <summary>
/// Tenant status and plan limits for the hot path, from memory: entries live a few seconds and are dropped at once on
/// every replica when a tenant is suspended, reactivated, deleted or moved to another plan, or a plan changes.
/// Also the <see cref="ITenantDirectory"/> that identity uses.
/// </summary>
public sealed class TenantAccessCache : ITenantPlanProvider, ITenantDirectory
{
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<Guid, (TenantAccess? Access, string Name, long ExpiresAt)> _cache = new();
    private readonly IServiceScopeFactory _scopes;
    private readonly TimeProvider _time;
    private long _generation;

    public TenantAccessCache(IServiceScopeFactory scopes, AccessInvalidation invalidation, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(invalidation);
        _scopes = scopes;
        _time = time;
        invalidation.Invalidated += OnInvalidated;
    }

    public async Task<TenantAccess?> GetAsync(Guid tenantId, CancellationToken cancellationToken) =>
        (await LoadAsync(tenantId, cancellationToken)).Access;

    public async Task<TenantSummary?> FindAsync(Guid tenantId, CancellationToken cancellationToken)
    {
        var (access, name) = await LoadAsync(tenantId, cancellationToken);
        return access is null ? null : new TenantSummary(access.TenantId, name, access.Status, access.PartnerId);
    }

    private async Task<(TenantAccess? Access, string Name)> LoadAsync(Guid tenantId, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        if (_cache.TryGetValue(tenantId, out var entry) && entry.ExpiresAt > now)
        {
            return (entry.Access, entry.Name);
        }

        var generation = Interlocked.Read(ref _generation);
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MislataDbContext>();
        var row = await (from t in db.Set<Tenant>().AsNoTracking()
                         join p in db.Set<Plan>().AsNoTracking() on t.PlanId equals p.Id
                         where t.Id == tenantId
                         select new { Tenant = t, Plan = p }).SingleOrDefaultAsync(cancellationToken);
        var access = row is null
            ? null
            : new TenantAccess(row.Tenant.Id, row.Tenant.Status, row.Tenant.PartnerId, row.Plan.Id, row.Plan.Code, row.Plan.Limits);
        var name = row?.Tenant.Name ?? string.Empty;
        if (Interlocked.Read(ref _generation) == generation)
        {
            if (_cache.Count > 100_000)
            {
                _cache.Clear();
            }

            _cache[tenantId] = (access, name, now + (long)(Ttl.TotalSeconds * _time.TimestampFrequency));
        }

        return (access, name);
    }

    private void OnInvalidated(string message)
    {
        Interlocked.Increment(ref _generation);
        if (message is AccessInvalidation.All or AccessInvalidation.Plans)
        {
            _cache.Clear();
        }
        else if (message.StartsWith("tenant:", StringComparison.Ordinal) && Guid.TryParseExact(message[7..], "N", out var tenantId))
        {
            _cache.TryRemove(tenantId, out _);
        }
    }
}
