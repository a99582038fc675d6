using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Audit;

namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>Reads and verifies one chain of the audit log.</summary>
public sealed class PostgresAuditReader(IDbContextFactory<MislataDbContext> contexts) : IAuditReader
{
    private const int VerifyPage = 2000;

    public async Task<AuditPage> ListAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var limit = Math.Clamp(query.Limit, 1, 100);
        var chain = AuditChain.ChainOf(query.TenantId);
        long? before = query.Cursor is null ? null : DecodeCursor(query.Cursor);

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = db.Set<AuditEventRecord>().AsNoTracking().Where(e => e.Chain == chain);
        if (before is { } b)
        {
            rows = rows.Where(e => e.Sequence < b);
        }

        if (query.From is { } from)
        {
            rows = rows.Where(e => e.OccurredAt >= from.ToUniversalTime());
        }

        if (query.To is { } to)
        {
            rows = rows.Where(e => e.OccurredAt <= to.ToUniversalTime());
        }

        if (!string.IsNullOrEmpty(query.Action))
        {
            rows = query.Action.EndsWith('*')
                ? rows.Where(e => e.Action.StartsWith(query.Action.TrimEnd('*')))
                : rows.Where(e => e.Action == query.Action);
        }

        if (!string.IsNullOrEmpty(query.ActorId))
        {
            rows = rows.Where(e => e.ActorId == query.ActorId);
        }

        if (!string.IsNullOrEmpty(query.ResourceId))
        {
            rows = rows.Where(e => e.ResourceId == query.ResourceId);
        }

        if (query.Outcome is { } outcome)
        {
            var text = PostgresAuditLog.Text(outcome);
            rows = rows.Where(e => e.Outcome == text);
        }

        var page = await rows.OrderByDescending(e => e.Sequence).Take(limit + 1).ToListAsync(cancellationToken);
        var next = page.Count > limit ? EncodeCursor(page[limit - 1].Sequence) : null;
        return new AuditPage([.. page.Take(limit).Select(ToView)], next);
    }

    public async Task<AuditVerification> VerifyAsync(Guid? tenantId, CancellationToken cancellationToken)
    {
        var chain = AuditChain.ChainOf(tenantId);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var previous = AuditChain.Genesis;
        long expected = 1, checkedCount = 0, after = 0;
        Guid? lastId = null;
        while (true)
        {
            var page = await db.Set<AuditEventRecord>().AsNoTracking()
                .Where(e => e.Chain == chain && e.Sequence > after)
                .OrderBy(e => e.Sequence)
                .Take(VerifyPage)
                .ToListAsync(cancellationToken);
            foreach (var e in page)
            {
                checkedCount++;
                var valid = e.Sequence == expected
                    && e.Chain == chain
                    && e.TenantId == tenantId
                    && e.PrevHash.AsSpan().SequenceEqual(previous)
                    && e.Hash.AsSpan().SequenceEqual(AuditChain.Compute(previous, e));
                if (!valid)
                {
                    return new AuditVerification(false, checkedCount, e.Id);
                }

                previous = e.Hash;
                expected++;
                lastId = e.Id;
            }

            if (page.Count < VerifyPage)
            {
                break;
            }

            after = page[^1].Sequence;
        }

        // Rows removed from the end of the chain: the head still remembers the last link.
        var head = await db.Set<AuditChainHead>().AsNoTracking().SingleOrDefaultAsync(h => h.Chain == chain, cancellationToken);
        if (head is not null && (head.LastSequence != expected - 1 || !head.LastHash.AsSpan().SequenceEqual(previous)))
        {
            return new AuditVerification(false, checkedCount, lastId);
        }

        return new AuditVerification(true, checkedCount, null);
    }

    private static AuditEventView ToView(AuditEventRecord e) => new(
        e.Id, e.TenantId, e.Sequence, e.OccurredAt, e.ActorType, e.ActorId, e.Action, e.ResourceType, e.ResourceId,
        e.Outcome, e.ErrorCode, e.SourceIp, e.RequestId, AuditChain.DeserializeDetails(e.Details));

    private static string EncodeCursor(long sequence) =>
        Base64Url.EncodeToString(Encoding.ASCII.GetBytes("a1:" + sequence.ToString(CultureInfo.InvariantCulture)));

    private static long DecodeCursor(string cursor)
    {
        try
        {
            var text = Encoding.ASCII.GetString(Base64Url.DecodeFromChars(cursor));
            if (text.StartsWith("a1:", StringComparison.Ordinal) &&
                long.TryParse(text.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence) && sequence > 0)
            {
                return sequence;
            }
        }
        catch (FormatException)
        {
        }

        throw new ArgumentException("The cursor is not one this endpoint issued.", nameof(cursor));
    }
}
