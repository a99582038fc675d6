using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Encryption;
using Mislata.Core.Keys;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Tenants;
using Npgsql;

namespace Mislata.Infrastructure.Keys;

/// <summary>What a new key is: validated by the api before it gets here.</summary>
public sealed record KeyDraft(
    string Name, AlgorithmInfo Algorithm, KeyType Type, string? Description, IReadOnlyList<string> Tags, int? RotationPeriodDays, bool IsDefault);

/// <summary>
/// A PATCH: null fields stay as they are; <see cref="ClearRotationPeriod"/> turns automatic rotation off; <see cref="Force"/>
/// raises <see cref="MinDecryptionVersion"/> even above registered payloads (which then no longer decrypt).
/// </summary>
public sealed record KeyChanges(
    string? Description, IReadOnlyList<string>? Tags, int? RotationPeriodDays, bool ClearRotationPeriod, bool? IsDefault, int? MinDecryptionVersion,
    bool Force = false);

/// <summary>
/// The key lifecycle: loads, applies the rules of <see cref="Key"/>, audits before commit (fail-closed: when the audit
/// log is unavailable nothing changes) and saves. Every query names the tenant: another tenant's key is not found.
/// New material comes from the platform's entropy (<see cref="IRandomSource"/>) and is sealed before it is stored.
/// After each committed change every replica is told (<see cref="IKeyChangeNotifier"/>) to drop the key's cached material.
/// </summary>
public sealed class KeyAdministration(
    MislataDbContext db, KeyMaterialSealer sealer, IRandomSource random, IAuditLog audit, IKeyChangeNotifier changes, TimeProvider time)
{
    /// <summary>How many keys one <see cref="DestroyDueAsync"/> call destroys at most (one transaction).</summary>
    public const int DestroyBatch = 500;

    /// <summary>A new key whose first version is generated here.</summary>
    public Task<(Key? Key, KeyError Error)> CreateAsync(Guid tenantId, KeyDraft draft, RequestActor actor, CancellationToken cancellationToken) =>
        CreateAsync(tenantId, draft, actor, alongside: null, cancellationToken);

    /// <summary>
    /// A new key whose first version is generated here. <paramref name="alongside"/> (a resource built on the key, such as
    /// an SSH CA) adds its rows and audit events in the same transaction, so the key never exists without it.
    /// </summary>
    public async Task<(Key? Key, KeyError Error)> CreateAsync(
        Guid tenantId, KeyDraft draft, RequestActor actor, Func<Key, Task>? alongside, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(draft);

        // Generation can take seconds (RSA-4096): a request that will be refused anyway does not get to spend them. The
        // same checks are made again under the tenant's lock before the key is saved.
        var refusal = await PrecheckAsync(tenantId, draft.Name, cancellationToken);
        if (refusal != KeyError.None)
        {
            return (null, refusal);
        }

        using var material = AlgorithmRegistry.Default.Generate(draft.Algorithm.Name, draft.Type, random);
        return await AddAsync(tenantId, draft, material, KeyOrigin.Generated, actor, alongside, cancellationToken);
    }

    /// <summary>A new key whose first version is the caller's material (BYOK), already parsed and checked. The caller disposes it.</summary>
    public Task<(Key? Key, KeyError Error)> ImportAsync(Guid tenantId, KeyDraft draft, KeyMaterial material, RequestActor actor, CancellationToken cancellationToken) =>
        AddAsync(tenantId, draft, material, KeyOrigin.Imported, actor, alongside: null, cancellationToken);

    public async Task<(Key? Key, KeyError Error)> UpdateAsync(Guid tenantId, Guid keyId, KeyChanges changes, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        return await ChangeAsync(tenantId, keyId, "key.update", actor, async (key, now) =>
        {
            var error = key.Describe(changes.Description, changes.Tags, changes.RotationPeriodDays, changes.ClearRotationPeriod, now);
            if (error == KeyError.None && changes.MinDecryptionVersion is { } min)
            {
                // Under the key's row lock: a registration (FOR SHARE on the key) cannot slip a payload under the new minimum.
                var heldBelow = min > key.MinDecryptionVersion && !changes.Force
                    ? await db.Database.SqlQuery<long>(
                        $"SELECT count(*) AS \"Value\" FROM mislata.key_payloads WHERE tenant_id = {tenantId} AND key_id = {keyId} AND key_version < {min}")
                        .SingleAsync(cancellationToken)
                    : 0;
                error = PayloadReferenceRules.MayRaiseMinDecryptionVersion(key.MinDecryptionVersion, min, heldBelow, changes.Force)
                    ? key.SetMinDecryptionVersion(min, now)
                    : KeyError.PayloadsHeld;
            }

            if (error == KeyError.None && changes.IsDefault is { } isDefault)
            {
                error = await SetDefaultAsync(key, isDefault, now, cancellationToken);
            }

            return error;
        }, key => Details(key, ("minDecryptionVersion", key.MinDecryptionVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("isDefault", key.IsDefault ? "true" : "false"), ("force", changes.Force ? "true" : "false")), cancellationToken);
    }

    /// <summary>A new current version, generated here and sealed for its number; older versions become deprecated.</summary>
    public Task<(Key? Key, KeyError Error)> RotateAsync(Guid tenantId, Guid keyId, RequestActor actor, CancellationToken cancellationToken) =>
        RotateAsync(tenantId, keyId, actor, reason: null, cancellationToken);

    /// <summary>
    /// The worker's automatic rotation: like <see cref="RotateAsync(Guid, Guid, RequestActor, CancellationToken)"/>, but
    /// only while <paramref name="reason"/> still finds a reason under the key's row lock (two runs, or a rotation by
    /// the tenant in between, never rotate one key twice); otherwise <see cref="KeyError.Concurrent"/>. The reason is
    /// recorded in the audit event.
    /// </summary>
    public async Task<(Key? Key, KeyError Error)> RotateAsync(Guid tenantId, Guid keyId, RequestActor actor, Func<Key, DateTimeOffset, string?>? reason, CancellationToken cancellationToken)
    {
        // The new material is generated before the key's row is locked: RSA-4096 takes seconds, and neither the lock
        // nor the transaction should be held that long. A key's algorithm and type never change, so the material fits
        // whatever version number the locked row then gives it.
        var shape = await db.Set<Key>().AsNoTracking()
            .Where(k => k.TenantId == tenantId && k.Id == keyId)
            .Select(k => new { k.Algorithm, k.Type, k.State })
            .SingleOrDefaultAsync(cancellationToken);
        if (shape is null)
        {
            return (null, KeyError.NotFound);
        }

        if (shape.State != KeyState.Enabled)
        {
            return (null, KeyError.StateInvalid);
        }

        using var material = AlgorithmRegistry.Default.Generate(shape.Algorithm, shape.Type, random);
        string? why = null;
        return await ChangeAsync(tenantId, keyId, "key.rotate", actor, async (key, now) =>
        {
            if (key.State != KeyState.Enabled)
            {
                return KeyError.StateInvalid;
            }

            if (reason is not null && (why = reason(key, now)) is null)
            {
                return KeyError.Concurrent;
            }

            var sealedMaterial = await sealer.SealAsync(tenantId, key.Id, key.NextVersion, material, cancellationToken);
            return key.Rotate(sealedMaterial, now);
        }, key => why is null ? Details(key) : Details(key, ("reason", why)), cancellationToken);
    }

    public Task<(Key? Key, KeyError Error)> DisableAsync(Guid tenantId, Guid keyId, RequestActor actor, CancellationToken cancellationToken) =>
        ChangeAsync(tenantId, keyId, "key.disable", actor, (key, now) => Task.FromResult(key.Disable(now)), key => Details(key), cancellationToken);

    public Task<(Key? Key, KeyError Error)> EnableAsync(Guid tenantId, Guid keyId, RequestActor actor, CancellationToken cancellationToken) =>
        ChangeAsync(tenantId, keyId, "key.enable", actor, (key, now) => Task.FromResult(key.Enable(now)), key => Details(key), cancellationToken);

    public Task<(Key? Key, KeyError Error)> ScheduleDeletionAsync(Guid tenantId, Guid keyId, int pendingDays, RequestActor actor, CancellationToken cancellationToken) =>
        ChangeAsync(tenantId, keyId, "key.delete", actor, (key, now) => Task.FromResult(key.ScheduleDeletion(pendingDays, now)),
            key => Details(key, ("pendingDays", pendingDays.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("deletionDate", key.DeletionDate?.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty)), cancellationToken);

    public Task<(Key? Key, KeyError Error)> RestoreAsync(Guid tenantId, Guid keyId, RequestActor actor, CancellationToken cancellationToken) =>
        ChangeAsync(tenantId, keyId, "key.restore", actor, (key, now) => Task.FromResult(key.Restore(now)), key => Details(key), cancellationToken);

    /// <summary>
    /// Destroys every key of every tenant whose deletion window has passed (the worker's purge): the sealed material
    /// of each version is erased, the rows stay as <c>destroyed</c>. Audited per key as the system. Returns how many.
    /// </summary>
    public async Task<int> DestroyDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var due = await db.Set<Key>().Include(k => k.Versions)
            .Where(k => k.State == KeyState.PendingDeletion && k.DeletionDate <= now)
            .OrderBy(k => k.DeletionDate).Take(DestroyBatch).ToListAsync(cancellationToken);
        foreach (var key in due)
        {
            if (key.Destroy(now) == KeyError.None)
            {
                await audit.RecordAsync(RequestActor.System.Event(key.TenantId, "key.destroy", "key", key.Id.ToString(), details: Details(key)), cancellationToken);
            }
        }

        await db.SaveChangesAsync(cancellationToken);
        foreach (var key in due)
        {
            await changes.KeyChangedAsync(key.TenantId, key.Id);
        }

        return due.Count;
    }

    private async Task<KeyError> PrecheckAsync(Guid tenantId, string name, CancellationToken cancellationToken)
    {
        var maxKeys = await (from t in db.Set<Tenant>().AsNoTracking()
                             join p in db.Set<Plan>().AsNoTracking() on t.PlanId equals p.Id
                             where t.Id == tenantId
                             select p.MaxKeys).SingleOrDefaultAsync(cancellationToken);
        if (maxKeys is { } max && await db.Set<Key>().LongCountAsync(k => k.TenantId == tenantId && k.State != KeyState.Destroyed, cancellationToken) >= max)
        {
            return KeyError.QuotaExceeded;
        }

        return await db.Set<Key>().AnyAsync(k => k.TenantId == tenantId && k.Name == name, cancellationToken) ? KeyError.NameTaken : KeyError.None;
    }

    private async Task<(Key? Key, KeyError Error)> AddAsync(
        Guid tenantId, KeyDraft draft, KeyMaterial material, KeyOrigin origin, RequestActor actor, Func<Key, Task>? alongside, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentNullException.ThrowIfNull(material);
        ArgumentNullException.ThrowIfNull(actor);
        var now = time.GetUtcNow();
        var id = Guid.CreateVersion7(now);
        var sealedMaterial = await sealer.SealAsync(tenantId, id, 1, material, cancellationToken);

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

        // Row lock on the tenant: concurrent creations cannot both slip under the quota.
        var tenant = await db.LockTenantAsync(tenantId, cancellationToken);
        if (tenant is null)
        {
            return (null, KeyError.NotFound);
        }

        var plan = await db.Set<Plan>().AsNoTracking().Where(p => p.Id == tenant.PlanId)
            .Select(p => new { p.MaxKeys, p.Features }).SingleAsync(cancellationToken);
        if (origin == KeyOrigin.Imported && !plan.Features.Contains(KeyLimits.ByokFeature))
        {
            return (null, KeyError.FeatureNotInPlan);
        }

        var maxKeys = plan.MaxKeys;
        var existing = await db.Set<Key>().LongCountAsync(k => k.TenantId == tenantId && k.State != KeyState.Destroyed, cancellationToken);
        if (!Quotas.AllowsOneMore(maxKeys, existing))
        {
            return (null, KeyError.QuotaExceeded);
        }

        if (await db.Set<Key>().AnyAsync(k => k.TenantId == tenantId && k.Name == draft.Name, cancellationToken))
        {
            return (null, KeyError.NameTaken);
        }

        var key = Key.Create(id, tenantId, draft.Name, draft.Algorithm, draft.Type, origin, sealedMaterial, actor.ActorId, now);
        key.Describe(draft.Description, draft.Tags, draft.RotationPeriodDays, clearRotationPeriod: false, now);
        db.Add(key);
        if (draft.IsDefault)
        {
            await SetDefaultAsync(key, true, now, cancellationToken);
        }

        await audit.RecordAsync(actor.Event(tenantId, origin == KeyOrigin.Imported ? "key.import" : "key.create", "key", id.ToString(),
            details: Details(key, ("type", KeyCatalogue.TypeName(key.Type)), ("isDefault", key.IsDefault ? "true" : "false"))), cancellationToken);
        if (alongside is not null)
        {
            await alongside(key);
        }

        var error = await TrySaveAsync(cancellationToken);
        if (error != KeyError.None)
        {
            return (null, error);
        }

        await transaction.CommitAsync(cancellationToken);
        if (key.IsDefault)
        {
            // The tenant's previous default (cached by the operations) is no longer the default.
            await changes.KeyChangedAsync(tenantId, key.Id);
        }

        return (key, KeyError.None);
    }

    private async Task<(Key? Key, KeyError Error)> ChangeAsync(
        Guid tenantId, Guid keyId, string action, RequestActor actor, Func<Key, DateTimeOffset, Task<KeyError>> change,
        Func<Key, IReadOnlyDictionary<string, string>> details, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actor);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

        // Row lock on the key: changes of one key (two rotations, a rotation and a deletion) are serialised.
        var key = await db.Set<Key>()
            .FromSqlInterpolated($"SELECT * FROM mislata.keys WHERE tenant_id = {tenantId} AND id = {keyId} FOR UPDATE")
            .SingleOrDefaultAsync(cancellationToken);
        if (key is null)
        {
            return (null, KeyError.NotFound);
        }

        await db.Entry(key).Collection(k => k.Versions).LoadAsync(cancellationToken);
        var error = await change(key, time.GetUtcNow());
        if (error != KeyError.None)
        {
            return (null, error);
        }

        await audit.RecordAsync(actor.Event(tenantId, action, "key", keyId.ToString(), details: details(key)), cancellationToken);
        error = await TrySaveAsync(cancellationToken);
        if (error != KeyError.None)
        {
            return (null, error);
        }

        await transaction.CommitAsync(cancellationToken);
        await changes.KeyChangedAsync(tenantId, keyId);
        return (key, KeyError.None);
    }

    /// <summary>Makes <paramref name="key"/> the default of its type, taking the flag from the tenant's previous default.</summary>
    private async Task<KeyError> SetDefaultAsync(Key key, bool isDefault, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var error = key.SetDefault(isDefault, now);
        if (error == KeyError.None && isDefault)
        {
            await db.Set<Key>()
                .Where(k => k.TenantId == key.TenantId && k.Type == key.Type && k.IsDefault && k.Id != key.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(k => k.IsDefault, false).SetProperty(k => k.UpdatedAt, now), cancellationToken);
        }

        return error;
    }

    private async Task<KeyError> TrySaveAsync(CancellationToken cancellationToken)
    {
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return KeyError.None;
        }
        catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } unique)
        {
            return unique.ConstraintName switch
            {
                "ix_keys_tenant_default" => KeyError.DefaultTaken,
                "IX_keys_tenant_id_name" or "IX_ssh_cas_tenant_id_name" => KeyError.NameTaken,
                _ => KeyError.Concurrent,
            };
        }
    }

    private static Dictionary<string, string> Details(Key key, params (string Name, string Value)[] more)
    {
        var details = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["algorithm"] = key.Algorithm,
            ["keyVersion"] = key.CurrentVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["state"] = key.State.ToString(),
        };
        foreach (var (name, value) in more)
        {
            details[name] = value;
        }

        return details;
    }
}

/// <summary>The tenant's keys that count against the plan's <c>maxKeys</c> (every key not destroyed).</summary>
public sealed class KeyCounter(MislataDbContext db) : ITenantResourceCounter
{
    public string Resource => "keys";

    public Task<long> CountAsync(Guid tenantId, CancellationToken cancellationToken) =>
        db.Set<Key>().LongCountAsync(k => k.TenantId == tenantId && k.State != KeyState.Destroyed, cancellationToken);
}
