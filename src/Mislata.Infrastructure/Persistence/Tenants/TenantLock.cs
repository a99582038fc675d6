using Microsoft.EntityFrameworkCore;
using Mislata.Core.Tenants;

namespace Mislata.Infrastructure.Persistence.Tenants;

/// <summary>The tenant row locked for the rest of the caller's transaction.</summary>
internal static class TenantLock
{
    /// <summary>
    /// Reads the tenant with <c>FOR UPDATE</c>: creations counted against a plan quota (keys, API keys) serialise on the
    /// tenant row, so two concurrent ones cannot both slip under the limit. Call inside a transaction. Null when the
    /// tenant does not exist.
    /// </summary>
    public static Task<Tenant?> LockTenantAsync(this MislataDbContext db, Guid tenantId, CancellationToken cancellationToken) =>
        db.Set<Tenant>()
            .FromSqlInterpolated($"SELECT * FROM mislata.tenants WHERE id = {tenantId} FOR UPDATE")
            .AsNoTracking()
            .SingleOrDefaultAsync(cancellationToken);
}
