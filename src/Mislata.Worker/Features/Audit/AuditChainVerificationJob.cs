using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Audit;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;

namespace Mislata.Worker.Features.Audit;

/// <summary>
/// Verifies every audit chain (each tenant's and the platform's) from its first link, MACs included, and moves each
/// chain's checkpoint to its head (re-MAC'd under the current master key, which carries verification across a
/// master-key rotation). A broken chain is the alert: an error log event (700), the metric
/// <c>mislata.audit.chains.broken</c> (meter <c>Mislata.Audit</c>, one per broken chain found, tagged <c>scope</c>
/// platform/tenant) and an <c>audit.chain.broken</c> event in that chain, so the tenant's auditors see it in
/// <c>GET /audit</c>. Chains are found from their heads and from their rows, so a chain
/// whose head was deleted is not skipped.
/// </summary>
public sealed partial class AuditChainVerificationJob(
    IDbContextFactory<MislataDbContext> contexts,
    IAuditReader reader,
    IAuditLog audit,
    ILogger<AuditChainVerificationJob> logger,
    AuditChainAlerts? alerts = null)
{
    public const string RecurringJobId = "audit-chain-verification";
    public const string BrokenAction = "audit.chain.broken";

    public async Task<AuditChainReport> RunAsync(CancellationToken cancellationToken)
    {
        List<Guid> chains;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            chains = await db.Set<AuditChainHead>().AsNoTracking().Select(h => h.Chain)
                .Union(db.Set<AuditEventRecord>().AsNoTracking().Select(e => e.Chain).Distinct())
                .OrderBy(c => c)
                .ToListAsync(cancellationToken);
        }

        long events = 0;
        var broken = new List<Guid>();
        foreach (var chain in chains)
        {
            Guid? tenant = chain == Guid.Empty ? null : chain;
            var result = await reader.VerifyAllAsync(tenant, cancellationToken);
            events += result.Checked;
            if (result.Valid)
            {
                continue;
            }

            broken.Add(chain);
            LogBroken(logger, chain, result.FirstInvalidEventId, result.Checked);
            alerts?.ChainBroken(tenant is null);
            await audit.RecordAsync(new AuditEvent
            {
                TenantId = tenant,
                ActorType = AuditActorType.System,
                ActorId = "worker",
                Action = BrokenAction,
                ResourceType = "audit_event",
                ResourceId = result.FirstInvalidEventId?.ToString(),
                Outcome = AuditOutcome.Failure,
                Details = new Dictionary<string, string>
                {
                    ["checked"] = result.Checked.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["reason"] = result.Reason ?? AuditVerification.EventReason,
                },
            }, cancellationToken);
        }

        alerts?.Verified(chains.Count, broken.Count);
        LogDone(logger, chains.Count, events, broken.Count);
        return new AuditChainReport(chains.Count, events, broken);
    }

    [LoggerMessage(EventId = 700, Level = LogLevel.Error, Message = "Audit chain {Chain} is broken at event {EventId} ({Checked} event(s) checked)")]
    private static partial void LogBroken(ILogger logger, Guid chain, Guid? eventId, long @checked);

    [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "Verified {Chains} audit chain(s), {Events} event(s); {Broken} broken")]
    private static partial void LogDone(ILogger logger, int chains, long events, int broken);
}

public sealed record AuditChainReport(int Chains, long Events, IReadOnlyList<Guid> BrokenChains);

/// <summary>The alert metrics of <see cref="AuditChainVerificationJob"/> (meter <c>Mislata.Audit</c>).</summary>
public sealed class AuditChainAlerts
{
    public const string MeterName = "Mislata.Audit";
    private readonly Counter<long> _broken;
    private readonly Counter<long> _verified;
    private long _lastBroken = -1;

    public AuditChainAlerts(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        _broken = meter.CreateCounter<long>("mislata.audit.chains.broken", "{chain}", "Audit chains found broken by the verification job (alert on any increase)");
        _verified = meter.CreateCounter<long>("mislata.audit.chains.verified", "{chain}", "Audit chains verified by the verification job");
        meter.CreateObservableGauge("mislata.audit.chains.broken.last_run", () => Volatile.Read(ref _lastBroken) is var n and >= 0
            ? [new Measurement<long>(n)] : Array.Empty<Measurement<long>>(), "{chain}", "Broken chains found by the last verification run");
    }

    public void ChainBroken(bool platform) => _broken.Add(1, new KeyValuePair<string, object?>("scope", platform ? "platform" : "tenant"));

    public void Verified(int chains, int broken)
    {
        _verified.Add(chains);
        Volatile.Write(ref _lastBroken, broken);
    }
}
