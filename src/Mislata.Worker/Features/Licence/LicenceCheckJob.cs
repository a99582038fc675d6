using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Licensing;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Licensing;
using Mislata.Infrastructure.Persistence;

namespace Mislata.Worker.Features.Licence;

/// <summary>
/// The licence's check at start and hourly: the installed licence is loaded and its signatures checked again, the
/// optional online revocation check asked (<see cref="LicenceRevocationClient"/>), and a change of state (valid → grace →
/// restricted, revoked → invalid) is audited once (<c>license.state_change</c>) and announced to every api replica,
/// which also evaluate the state against their own clock between checks.
/// </summary>
public sealed partial class LicenceCheckJob(
    IDbContextFactory<MislataDbContext> dbs, LicenceMonitor monitor, LicenceRevocationClient revocation, IAuditLog audit, AccessInvalidation invalidation,
    TimeProvider time, ILogger<LicenceCheckJob> logger)
{
    public const string RecurringJobId = "licence-check";

    public async Task<LicenceState> RunAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbs.CreateDbContextAsync(cancellationToken);
        var row = await db.Set<InstalledLicence>().SingleOrDefaultAsync(cancellationToken);
        var snapshot = await monitor.ReloadAsync(cancellationToken);
        var now = time.GetUtcNow();
        if (row is null || row.Document != snapshot.Row?.Document)
        {
            // None installed, or replaced between the two reads: the next run checks the new one.
            var current = LicenceRules.Evaluate(snapshot.Check, snapshot.Revoked, now);
            LogChecked(logger, current.StateName);
            return current.State;
        }

        var announce = false;
        if (revocation.Enabled && snapshot.Check?.Licence is { } licence && await revocation.IsRevokedAsync(licence.Id, cancellationToken) is { } revoked)
        {
            announce |= (row.RevokedAt is not null) != revoked;
            row.RecordRevocationCheck(revoked, now);
        }

        var status = LicenceRules.Evaluate(snapshot.Check, row.RevokedAt is not null, now);
        var from = row.RecordedState;
        if (row.RecordState(status.State))
        {
            announce = true;
            await audit.RecordAsync(RequestActor.System.Event(null, "license.state_change", "license", row.LicenceId.ToString(), details: new Dictionary<string, string>
            {
                ["from"] = from,
                ["to"] = status.StateName,
            }), cancellationToken);
            LogStateChanged(logger, row.LicenceId, from, status.StateName);
        }

        await db.SaveChangesAsync(cancellationToken);
        if (announce)
        {
            monitor.Invalidate();
            await invalidation.PublishAsync(AccessInvalidation.Licence);
        }

        LogChecked(logger, status.StateName);
        return status.State;
    }

    [LoggerMessage(EventId = 720, Level = LogLevel.Information, Message = "Licence checked: {State}")]
    private static partial void LogChecked(ILogger logger, string state);

    [LoggerMessage(EventId = 721, Level = LogLevel.Warning, Message = "Licence {LicenceId} changed state: {From} → {To}")]
    private static partial void LogStateChanged(ILogger logger, Guid licenceId, string from, string to);
}
