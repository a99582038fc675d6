using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Keys;
using Mislata.Core.Licensing;
using Mislata.Core.Tenants;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Persistence;

namespace Mislata.Infrastructure.Licensing;

/// <summary>How much of each licensed resource the installation uses.</summary>
public sealed record LicenceUsage(long Tenants, long Users, long Keys);

/// <summary>Installing a licence (PUT /admin/license, QAPI_LICENSE at start) and counting what it limits.</summary>
public sealed partial class LicenceAdministration(
    MislataDbContext db, IdentityStoreDbContext identity, ILicenceTrustAnchors anchors, LicenceMonitor monitor, AccessInvalidation invalidation,
    IAuditLog audit, TimeProvider time, ILogger<LicenceAdministration> logger)
{
    /// <summary>
    /// Installs a licence when it is authentic and usable now (valid or in grace). A refused licence changes nothing:
    /// the installed one stays. Returns the check (its problem when refused) and the state the new licence has.
    /// </summary>
    public async Task<(LicenceCheck Check, LicenceStatus? Installed)> InstallAsync(string text, RequestActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actor);
        var check = LicenceDocument.Verify(text, anchors);
        var now = time.GetUtcNow();
        var status = LicenceRules.Evaluate(check, revoked: false, now);
        if (status.State is not (LicenceState.Valid or LicenceState.Grace))
        {
            await audit.RecordAsync(actor.Event(null, "license.install", "license", check.Licence?.Id.ToString(), AuditOutcome.Failure, "license_invalid",
                new Dictionary<string, string> { ["state"] = status.StateName }), cancellationToken);
            return (check, null);
        }

        var licence = check.Licence!;
        var row = await db.Set<InstalledLicence>().SingleOrDefaultAsync(cancellationToken);
        if (row is null)
        {
            db.Add(InstalledLicence.Install(licence, text, actor.ActorId, status.State, now));
        }
        else
        {
            row.Replace(licence, text, actor.ActorId, status.State, now);
        }

        // Small on purpose: the licence is not secret, but the event needs only what identifies it.
        await audit.RecordAsync(actor.Event(null, "license.install", "license", licence.Id.ToString(), details: new Dictionary<string, string>
        {
            ["licensee"] = licence.Licensee,
            ["state"] = status.StateName,
        }), cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await AnnounceAsync();
        LogInstalled(logger, licence.Id, status.StateName);
        return (check, status);
    }

    /// <summary>
    /// The licence of QAPI_LICENSE / QAPI_LICENSE_FILE at start: installed unless the installed licence is usable and
    /// was issued later (a newer licence PUT since must not be replaced by an older one in the environment at every restart).
    /// </summary>
    public async Task InstallAtStartAsync(string text, CancellationToken cancellationToken)
    {
        var check = LicenceDocument.Verify(text, anchors);
        if (!check.IsAuthentic)
        {
            LogStartLicenceRefused(logger, check.Problem);
            return;
        }

        var current = await monitor.ReloadAsync(cancellationToken);
        if (current.Row?.LicenceId == check.Licence!.Id && current.Check?.IsAuthentic == true)
        {
            return;
        }

        var currentState = LicenceRules.Evaluate(current.Check, current.Revoked, time.GetUtcNow()).State;
        if (current.Check?.Licence is { } installed && currentState is LicenceState.Valid or LicenceState.Grace && installed.IssuedAt > check.Licence.IssuedAt)
        {
            LogStartLicenceOlder(logger, check.Licence.Id, installed.Id);
            return;
        }

        try
        {
            var (refused, _) = await InstallAsync(text, RequestActor.System, cancellationToken);
            if (!refused.IsAuthentic)
            {
                LogStartLicenceRefused(logger, refused.Problem);
            }
        }
        catch (DbUpdateException ex)
        {
            // Another replica installed it at the same moment.
            LogStartInstallRaced(logger, ex);
            monitor.Invalidate();
        }
    }

    public async Task<LicenceUsage> UsageAsync(CancellationToken cancellationToken) => new(
        await CountTenantsAsync(cancellationToken),
        await identity.Users.LongCountAsync(cancellationToken),
        await CountKeysAsync(cancellationToken));

    public async Task<long> CountKeysAsync(CancellationToken cancellationToken) =>
        await db.Set<Key>().LongCountAsync(k => k.State != KeyState.Destroyed, cancellationToken);

    public async Task<long> CountTenantsAsync(CancellationToken cancellationToken) => await db.Set<Tenant>().LongCountAsync(cancellationToken);

    public async Task AnnounceAsync()
    {
        monitor.Invalidate();
        await invalidation.PublishAsync(AccessInvalidation.Licence);
    }

    [LoggerMessage(EventId = 5610, Level = LogLevel.Information, Message = "Licence {LicenceId} installed: state {State}")]
    private static partial void LogInstalled(ILogger logger, Guid licenceId, string state);

    [LoggerMessage(EventId = 5611, Level = LogLevel.Error, Message = "The licence given at start (QAPI_LICENSE / QAPI_LICENSE_FILE) was not installed: {Problem}")]
    private static partial void LogStartLicenceRefused(ILogger logger, LicenceProblem problem);

    [LoggerMessage(EventId = 5612, Level = LogLevel.Warning, Message = "The licence given at start ({LicenceId}) is older than the installed licence {InstalledId}; the installed one stays")]
    private static partial void LogStartLicenceOlder(ILogger logger, Guid licenceId, Guid installedId);

    [LoggerMessage(EventId = 5613, Level = LogLevel.Information, Message = "Another replica installed the licence at start")]
    private static partial void LogStartInstallRaced(ILogger logger, Exception exception);
}
