using System.Diagnostics.CodeAnalysis;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Mislata.Core.Tenants;
using Npgsql;

namespace Mislata.Infrastructure.Persistence.Tenants;

/// <summary>The tenant row locked for the rest of the caller's transaction.</summary>
internal static class TenantLock
{
    /// <summary>
    /// Reads the tenant with <c>FOR NO KEY UPDATE</c>: creations counted against a plan quota (keys, API keys, secrets)
    /// serialise on the tenant row, so two concurrent ones cannot both slip under the limit. The weakest lock that
    /// conflicts with itself: it leaves alone the <c>FOR KEY SHARE</c> that inserting any row referring to the tenant
    /// takes (usage periods, keys, payload references of other requests), which <c>FOR UPDATE</c> would hold up until the creation
    /// commits. Call inside a transaction. Null when the tenant does not exist.
    /// </summary>
    public static Task<Tenant?> LockTenantAsync(this MislataDbContext db, Guid tenantId, CancellationToken cancellationToken) =>
        db.Set<Tenant>()
            .FromSqlInterpolated($"SELECT * FROM mislata.tenants WHERE id = {tenantId} FOR NO KEY UPDATE")
            .AsNoTracking()
            .SingleOrDefaultAsync(cancellationToken);

    /// <summary>
    /// The limit of a plan quota (<paramref name="planLimitColumn"/> of the tenant's plan, null = unlimited) and, when
    /// there is one, how many the tenant has (rows of <paramref name="countFromWhere"/>, <c>table WHERE …</c> whose
    /// <c>$1</c> is the tenant; 0 when unlimited), in one round trip whose locks last until the caller's transaction ends:
    /// <list type="bullet">
    /// <item>the tenant <c>FOR KEY SHARE</c>, the lock the new row's foreign key takes anyway: the tenant cannot be deleted
    /// before the creation commits, and nothing else waits for it (a plan change or a suspension does not: a creation
    /// that read the plan before such a change commits is the creation made before it, as a change revokes nothing);</item>
    /// <item>with a limit only, read in the same statement, a transaction-level advisory lock of the tenant for this
    /// quota (<paramref name="quotaLockClass"/>): creations counted against a limit are serialised, so two concurrent
    /// ones cannot both slip under it. Creations of a tenant whose plan has no limit do not wait on one another;</item>
    /// <item>the count, a statement of its own after that lock: under READ COMMITTED it takes its snapshot once the lock is
    /// granted, so it sees what the previous holder committed (a count in the locking statement would not).</item>
    /// </list>
    /// Null when the tenant does not exist. Call inside the transaction begun on <paramref name="transaction"/>.
    /// </summary>
    [SuppressMessage("Security", "CA2100", Justification = "Constant SQL of the callers with parameters.")]
    public static async Task<(int? Limit, long Count)?> LockTenantForQuotaAsync(
        this MislataDbContext db, IDbContextTransaction transaction, Guid tenantId, int quotaLockClass, string planLimitColumn, string countFromWhere,
        CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch((NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction)transaction.GetDbTransaction());
        var locking = WithTenant($"""
            SELECT p.{planLimitColumn}, CASE WHEN p.{planLimitColumn} IS NOT NULL THEN pg_advisory_xact_lock($2, hashtext($1::text))::text END
            FROM mislata.tenants t JOIN mislata.plans p ON p.id = t.plan_id WHERE t.id = $1 FOR KEY SHARE OF t
            """, tenantId);
        locking.Parameters.Add(new NpgsqlParameter<int> { TypedValue = quotaLockClass });
        batch.BatchCommands.Add(locking);
        batch.BatchCommands.Add(WithTenant($"""
            SELECT count(*) FROM {countFromWhere}
                AND EXISTS (SELECT 1 FROM mislata.tenants t JOIN mislata.plans p ON p.id = t.plan_id WHERE t.id = $1 AND p.{planLimitColumn} IS NOT NULL)
            """, tenantId));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        int? limit = await reader.IsDBNullAsync(0, cancellationToken) ? null : reader.GetInt32(0);
        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (limit, reader.GetInt64(0));
    }

    private static NpgsqlBatchCommand WithTenant(string sql, Guid tenantId)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = tenantId });
        return command;
    }
}
