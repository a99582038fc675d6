using Microsoft.EntityFrameworkCore;
using Mislata.Core.Audit;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;

namespace Mislata.Worker.Features.Audit;

/// <summary>
/// Verifies every audit chain (each tenant's and the platform's) from its first link, MACs included, and moves each
/// chain's checkpoint to its head (re-MAC'd under the current master key, which carries verification across a
/// master-key rotation). A broken chain is logged and recorded as an <c>audit.chain.broken</c> event in that chain, so
/// the tenant's auditors see it in <c>GET /audit</c>. Chains are found from their heads and from their rows, so a chain
/// whose head was deleted is not skipped.
/// </summary>
public sealed partial class AuditChainVerificationJob(
    IDbContextFactory<MislataDbContext> contexts,
    IAuditReader reader,
    IAuditLog audit,
    ILogger<AuditChainVerificationJob> logger)
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

        LogDone(logger, chains.Count, events, broken.Count);
        return new AuditChainReport(chains.Count, events, broken);
    }

    [LoggerMessage(EventId = 700, Level = LogLevel.Error, Message = "Audit chain {Chain} is broken at event {EventId} ({Checked} event(s) checked)")]
    private static partial void LogBroken(ILogger logger, Guid chain, Guid? eventId, long @checked);

    [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "Verified {Chains} audit chain(s), {Events} event(s); {Broken} broken")]
    private static partial void LogDone(ILogger logger, int chains, long events, int broken);
}

public sealed record AuditChainReport(int Chains, long Events, IReadOnlyList<Guid> BrokenChains);
