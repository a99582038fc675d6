using System.Globalization;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Secrets;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Tenants;
using Npgsql;

namespace Mislata.Infrastructure.Secrets;

/// <summary>What a new secret is: validated by the api before it gets here. The caller zeroes <see cref="Value"/> afterwards.</summary>
public sealed record SecretDraft(
    string Name, byte[] Value, string? Description, IReadOnlyList<string> Labels, string? ContentType, DateTimeOffset? ExpiresAt);

/// <summary>A PATCH: null fields stay as they are; <see cref="ClearExpiry"/> removes the expiry.</summary>
public sealed record SecretChanges(string? Description, IReadOnlyList<string>? Labels, string? ContentType, DateTimeOffset? ExpiresAt, bool ClearExpiry);

/// <summary>A version read with its value in clear: the caller zeroes <see cref="Value"/> once it is answered.</summary>
public sealed record SecretRead(Secret Secret, SecretVersion Version, byte[] Value);

/// <summary>
/// The secret lifecycle: loads, applies the rules of <see cref="Secret"/>, audits before commit (fail-closed: when the
/// audit log is unavailable nothing changes and nothing is read) and saves. Every query names the tenant: another
/// tenant's secret is not found. Writes take the secret's row lock (<c>SELECT … FOR UPDATE</c>), so concurrent writers
/// are serialised: none loses an update, no version number is used twice (the primary key (secret_id, version) would
/// refuse it anyway). Values are sealed before they are stored and never appear in an audit event.
/// </summary>
public sealed class SecretAdministration(MislataDbContext db, SecretValueSealer sealer, IAuditLog audit, TimeProvider time)
{
    /// <summary>How many secrets or versions one worker purge call removes at most (one transaction).</summary>
    public const int PurgeBatch = 500;

    public async Task<(Secret? Secret, SecretError Error)> CreateAsync(Guid tenantId, SecretDraft draft, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentNullException.ThrowIfNull(actor);
        var now = time.GetUtcNow();
        var id = Guid.CreateVersion7(now);
        SealedSecretValue sealedValue;
        using (var key = await sealer.SealingKeyAsync(tenantId, cancellationToken))
        {
            sealedValue = sealer.Seal(key, id, 1, draft.Value);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

        // Row lock on the tenant: concurrent creations cannot both slip under the quota.
        var tenant = await db.LockTenantAsync(tenantId, cancellationToken);
        if (tenant is null)
        {
            return (null, SecretError.NotFound);
        }

        var maxSecrets = await db.Set<Plan>().AsNoTracking().Where(p => p.Id == tenant.PlanId).Select(p => p.MaxSecrets).SingleAsync(cancellationToken);
        if (!Quotas.AllowsOneMore(maxSecrets, await CountAsync(db, tenantId, cancellationToken)))
        {
            return (null, SecretError.QuotaExceeded);
        }

        if (await db.Set<Secret>().AnyAsync(s => s.TenantId == tenantId && s.Name == draft.Name && s.State == SecretState.Live, cancellationToken))
        {
            return (null, SecretError.NameTaken);
        }

        var (secret, version) = Secret.Create(id, tenantId, draft.Name, sealedValue, actor.ActorId, now);
        secret.Describe(draft.Description, draft.Labels, draft.ContentType, draft.ExpiresAt, clearExpiry: false, now);
        db.Add(secret);
        db.Add(version);
        await audit.RecordAsync(actor.Event(tenantId, "secret.create", "secret", id.ToString(), details: Details(secret, version.Version)), cancellationToken);
        var error = await TrySaveAsync(cancellationToken);
        if (error != SecretError.None)
        {
            return (null, error);
        }

        await transaction.CommitAsync(cancellationToken);
        return (secret, SecretError.None);
    }

    /// <summary>
    /// The value of version <paramref name="version"/> (default: the current one) of a live secret: one indexed query
    /// reads the secret, the version and the data key that sealed it. An expired secret is
    /// <see cref="SecretError.Expired"/> unless <paramref name="includeExpired"/>. Audited (id and version) before the
    /// value is returned.
    /// </summary>
    public async Task<(SecretRead? Read, SecretError Error)> ReadAsync(
        Guid tenantId, Guid secretId, int? version, bool includeExpired, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actor);
        var secrets = db.Set<Secret>().AsNoTracking().Where(s => s.TenantId == tenantId && s.Id == secretId && s.State == SecretState.Live);
        var versions = db.Set<SecretVersion>().AsNoTracking().Where(v => v.TenantId == tenantId);
        var rows = version is { } wanted
            ? from s in secrets
              join v in versions.Where(v => v.Version == wanted) on s.Id equals v.SecretId
              join k in db.Set<TenantDataKeyRecord>().AsNoTracking() on new { v.TenantId, Version = v.DataKeyVersion } equals new { k.TenantId, k.Version }
              select new { s, v, k }
            : from s in secrets
              join v in versions on new { SecretId = s.Id, Version = s.CurrentVersion } equals new { v.SecretId, v.Version }
              join k in db.Set<TenantDataKeyRecord>().AsNoTracking() on new { v.TenantId, Version = v.DataKeyVersion } equals new { k.TenantId, k.Version }
              select new { s, v, k };
        var row = await rows.SingleOrDefaultAsync(cancellationToken);
        if (row is null)
        {
            return (null, SecretError.NotFound);
        }

        if (!includeExpired && row.s.IsExpired(time.GetUtcNow()))
        {
            return (null, SecretError.Expired);
        }

        byte[] value;
        try
        {
            value = sealer.Open(row.k, row.v);
        }
        catch (Mislata.Crypto.CryptoException)
        {
            await audit.RecordAsync(actor.Event(tenantId, "secret.read", "secret", secretId.ToString(), AuditOutcome.Failure, "decryption_failed",
                Details(row.s, row.v.Version)), cancellationToken);
            return (null, SecretError.Unreadable);
        }

        try
        {
            await audit.RecordAsync(actor.Event(tenantId, "secret.read", "secret", secretId.ToString(), details: Details(row.s, row.v.Version)), cancellationToken);
        }
        catch
        {
            CryptographicOperations.ZeroMemory(value);
            throw;
        }

        return (new SecretRead(row.s, row.v, value), SecretError.None);
    }

    /// <summary>
    /// A new current version holding <paramref name="value"/>; with <paramref name="expectedVersion"/>, only while it is
    /// still the current version (check-and-set under the row lock), otherwise <see cref="SecretError.VersionMismatch"/>.
    /// </summary>
    public async Task<(Secret? Secret, SecretError Error)> WriteAsync(
        Guid tenantId, Guid secretId, byte[] value, int? expectedVersion, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(value);
        using var key = await sealer.SealingKeyAsync(tenantId, cancellationToken);
        return await ChangeAsync(tenantId, secretId, "secret.update", actor, (secret, now) =>
        {
            if (secret.State != SecretState.Live)
            {
                return SecretError.StateInvalid;
            }

            if (expectedVersion is { } expected && expected != secret.CurrentVersion)
            {
                return SecretError.VersionMismatch;
            }

            var sealedValue = sealer.Seal(key, secret.Id, secret.NextVersion, value);
            var error = secret.Write(sealedValue, expectedVersion, actor.ActorId, now, out var version);
            if (version is not null)
            {
                db.Add(version);
            }

            return error;
        }, secret => Details(secret, secret.CurrentVersion, ("expectedVersion", expectedVersion?.ToString(CultureInfo.InvariantCulture) ?? "none")), cancellationToken);
    }

    public Task<(Secret? Secret, SecretError Error)> UpdateAsync(Guid tenantId, Guid secretId, SecretChanges changes, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        return ChangeAsync(tenantId, secretId, "secret.patch", actor,
            (secret, now) => secret.Describe(changes.Description, changes.Labels, changes.ContentType, changes.ExpiresAt, changes.ClearExpiry, now),
            secret => Details(secret, secret.CurrentVersion), cancellationToken);
    }

    /// <summary>Soft delete: restorable until <see cref="Secret.PurgeAt"/>.</summary>
    public Task<(Secret? Secret, SecretError Error)> DeleteAsync(Guid tenantId, Guid secretId, RequestActor actor, CancellationToken cancellationToken) =>
        ChangeAsync(tenantId, secretId, "secret.delete", actor, (secret, now) => secret.Delete(now),
            secret => Details(secret, secret.CurrentVersion, ("purgeAt", secret.PurgeAt?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) ?? string.Empty)), cancellationToken);

    /// <summary>Undoes a soft delete; a live secret of the same name meanwhile is <see cref="SecretError.NameTaken"/>.</summary>
    public Task<(Secret? Secret, SecretError Error)> RestoreAsync(Guid tenantId, Guid secretId, RequestActor actor, CancellationToken cancellationToken) =>
        ChangeAsync(tenantId, secretId, "secret.restore", actor, (secret, now) => secret.Restore(now), secret => Details(secret, secret.CurrentVersion), cancellationToken);

    /// <summary>Permanent deletion (<c>?permanent=true</c>), live or deleted: the secret and every version are removed.</summary>
    public async Task<SecretError> PurgeAsync(Guid tenantId, Guid secretId, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actor);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var secret = await LockAsync(tenantId, secretId, cancellationToken);
        if (secret is null)
        {
            return SecretError.NotFound;
        }

        await audit.RecordAsync(actor.Event(tenantId, "secret.purge", "secret", secretId.ToString(), details: Details(secret, secret.CurrentVersion)), cancellationToken);
        await RemoveAsync(secret.Id, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return SecretError.None;
    }

    /// <summary>
    /// The worker's purge of secrets deleted more than 30 days ago (every tenant), audited per secret as the system.
    /// Returns how many were purged (at most <see cref="PurgeBatch"/>).
    /// </summary>
    public async Task<int> PurgeDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var due = await db.Set<Secret>()
            .FromSqlInterpolated($"SELECT * FROM mislata.secrets WHERE state = 'Deleted' AND purge_at <= {now} ORDER BY purge_at LIMIT {PurgeBatch} FOR UPDATE SKIP LOCKED")
            .AsNoTracking()
            .ToListAsync(cancellationToken);
        foreach (var secret in due)
        {
            await audit.RecordAsync(RequestActor.System.Event(secret.TenantId, "secret.purge", "secret", secret.Id.ToString(),
                details: Details(secret, secret.CurrentVersion, ("reason", "deletionWindowPassed"))), cancellationToken);
            await RemoveAsync(secret.Id, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return due.Count;
    }

    /// <summary>
    /// The worker's pruning of old versions: for tenants that keep at most N versions per secret
    /// (<see cref="Tenant.SecretVersionsKept"/>), versions older than the newest N are removed, audited per secret as
    /// the system. Returns how many versions were removed (at most <see cref="PurgeBatch"/>).
    /// </summary>
    public async Task<int> PruneVersionsAsync(CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var pruned = await db.Database.SqlQuery<PrunedVersion>($"""
            DELETE FROM mislata.secret_versions v
            WHERE (v.secret_id, v.version) IN (
                SELECT sv.secret_id, sv.version
                FROM mislata.secret_versions sv
                JOIN mislata.secrets s ON s.id = sv.secret_id
                JOIN mislata.tenants t ON t.id = s.tenant_id
                WHERE t.secret_versions_kept IS NOT NULL AND sv.version <= s.current_version - t.secret_versions_kept
                ORDER BY sv.secret_id, sv.version
                LIMIT {PurgeBatch}
                FOR UPDATE OF sv SKIP LOCKED)
            RETURNING v.tenant_id AS "TenantId", v.secret_id AS "SecretId", v.version AS "Version"
            """).ToListAsync(cancellationToken);
        foreach (var secret in pruned.GroupBy(p => (p.TenantId, p.SecretId)))
        {
            await audit.RecordAsync(RequestActor.System.Event(secret.Key.TenantId, "secret.prune", "secret", secret.Key.SecretId.ToString(),
                details: new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["versionsRemoved"] = string.Join(",", secret.Select(v => v.Version).Order().Select(v => v.ToString(CultureInfo.InvariantCulture))),
                    ["reason"] = "secretVersionsKept",
                }), cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return pruned.Count;
    }

    /// <summary>The tenant's secrets that count against <c>maxSecrets</c>: live and deleted (a deleted one can be restored).</summary>
    internal static Task<long> CountAsync(MislataDbContext db, Guid tenantId, CancellationToken cancellationToken) =>
        db.Set<Secret>().LongCountAsync(s => s.TenantId == tenantId, cancellationToken);

    private async Task<(Secret? Secret, SecretError Error)> ChangeAsync(
        Guid tenantId, Guid secretId, string action, RequestActor actor, Func<Secret, DateTimeOffset, SecretError> change,
        Func<Secret, IReadOnlyDictionary<string, string>> details, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actor);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var secret = await LockAsync(tenantId, secretId, cancellationToken);
        if (secret is null)
        {
            return (null, SecretError.NotFound);
        }

        var error = change(secret, time.GetUtcNow());
        if (error != SecretError.None)
        {
            return (null, error);
        }

        await audit.RecordAsync(actor.Event(tenantId, action, "secret", secretId.ToString(), details: details(secret)), cancellationToken);
        error = await TrySaveAsync(cancellationToken);
        if (error != SecretError.None)
        {
            return (null, error);
        }

        await transaction.CommitAsync(cancellationToken);
        return (secret, SecretError.None);
    }

    /// <summary>Row lock on the secret: writes, patches, deletions and restores of one secret are serialised.</summary>
    private Task<Secret?> LockAsync(Guid tenantId, Guid secretId, CancellationToken cancellationToken) =>
        db.Set<Secret>()
            .FromSqlInterpolated($"SELECT * FROM mislata.secrets WHERE tenant_id = {tenantId} AND id = {secretId} FOR UPDATE")
            .SingleOrDefaultAsync(cancellationToken);

    private async Task RemoveAsync(Guid secretId, CancellationToken cancellationToken)
    {
        await db.Set<SecretVersion>().Where(v => v.SecretId == secretId).ExecuteDeleteAsync(cancellationToken);
        await db.Set<Secret>().Where(s => s.Id == secretId).ExecuteDeleteAsync(cancellationToken);
    }

    private async Task<SecretError> TrySaveAsync(CancellationToken cancellationToken)
    {
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return SecretError.None;
        }
        catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } unique)
        {
            // The refused changes stay out of this context's later work (the caller's transaction is rolled back).
            db.ChangeTracker.Clear();
            return unique.ConstraintName == "ix_secrets_tenant_live_name" ? SecretError.NameTaken : SecretError.VersionMismatch;
        }
    }

    private static Dictionary<string, string> Details(Secret secret, int version, params (string Name, string Value)[] more)
    {
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["version"] = version.ToString(CultureInfo.InvariantCulture),
            ["state"] = secret.State.ToString(),
        };
        foreach (var (name, value) in more)
        {
            details[name] = value;
        }

        return details;
    }

    private sealed record PrunedVersion(Guid TenantId, Guid SecretId, int Version);
}

/// <summary>The tenant's secrets that count against the plan's <c>maxSecrets</c> (live and deleted, not yet purged).</summary>
public sealed class SecretCounter(MislataDbContext db) : ITenantResourceCounter
{
    public string Resource => "secrets";

    public Task<long> CountAsync(Guid tenantId, CancellationToken cancellationToken) => SecretAdministration.CountAsync(db, tenantId, cancellationToken);
}
