using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Audit;

namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>Reads and verifies one chain of the audit log.</summary>
public sealed class PostgresAuditReader(IDbContextFactory<MislataDbContext> contexts, AuditChainKeys keys, TimeProvider time) : IAuditReader
{
    /// <summary>The most rows one incremental verification reads (new links first, then older ones again).</summary>
    public const int MaxVerifyRows = 10_000;

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

    public async Task<AuditVerification> VerifyAsync(Guid? tenantId, int maxRows, CancellationToken cancellationToken)
    {
        var budget = Math.Clamp(maxRows, 1, MaxVerifyRows);
        var chain = AuditChain.ChainOf(tenantId);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var state = await ReadStateAsync(db, chain, cancellationToken);
        if (state.CheckpointForged)
        {
            return Invalid(0, null, AuditVerification.CheckpointReason);
        }

        if (state.Head is not { } head)
        {
            return state.Orphans ? await LocateAsync(db, chain, state, budget, AuditVerification.HeadReason, null, cancellationToken) : new AuditVerification(true, 0, null);
        }

        if (!state.HeadHolds || !state.AnchorHolds)
        {
            return await LocateAsync(db, chain, state, budget,
                state.AnchorHolds ? AuditVerification.HeadReason : AuditVerification.EventReason, state.AnchorId, cancellationToken);
        }

        // Forward: the links after the checkpoint, up to the budget. Rows up to the head's sequence were committed with it.
        var checkpoint = state.Checkpoint;
        var verified = checkpoint?.Sequence ?? 0;
        var walk = checkpoint is null
            ? AuditChainWalk.FromGenesis(chain, keys)
            : AuditChainWalk.After(chain, keys, checkpoint.Sequence, checkpoint.Hash, checkpoint.KeyedSeen);
        var upTo = Math.Min(head.LastSequence, verified + budget);
        var invalid = await WalkAsync(db, walk, upTo, retiredKeyUpTo: 0, cancellationToken);
        if (invalid is not null)
        {
            return invalid;
        }

        var complete = upTo == head.LastSequence;
        if (walk.LastSequence != upTo || (complete && !AuditChain.SameHash(walk.Previous, head.LastHash)))
        {
            // Rows missing at the end of the range: removed from the end of the chain, or the head was rewritten.
            return Invalid(walk.Checked, null, complete ? AuditVerification.HeadReason : AuditVerification.EventReason);
        }

        // With the budget left, re-check the next slice of the links verified before (round-robin), so that a row
        // edited after it was verified is found again; links under a master key no longer configured keep only their place.
        var rescanAfter = checkpoint?.RescanAfter ?? 0;
        long rescanned = 0;
        var left = budget - walk.Checked;
        if (verified > 0 && left > 0)
        {
            if (rescanAfter >= verified)
            {
                rescanAfter = 0;
            }

            var sweep = await SweepStartAsync(db, chain, rescanAfter, cancellationToken);
            var sweepTo = Math.Min(verified, sweep.LastSequence + left);
            invalid = await WalkAsync(db, sweep, sweepTo, retiredKeyUpTo: verified, cancellationToken);
            if (invalid is not null)
            {
                return invalid with { Checked = walk.Checked + invalid.Checked };
            }

            rescanned = sweep.Checked;
            rescanAfter = sweep.LastSequence >= verified ? 0 : sweep.LastSequence;
        }

        await SaveCheckpointAsync(db, chain, walk, rescanAfter, cancellationToken);
        await RefreshHeadMacAsync(db, head, cancellationToken);
        return new AuditVerification(true, walk.Checked + rescanned, null) { Complete = complete, VerifiedThrough = walk.LastSequence };
    }

    public async Task<AuditVerification> VerifyAllAsync(Guid? tenantId, CancellationToken cancellationToken)
    {
        var chain = AuditChain.ChainOf(tenantId);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var state = await ReadStateAsync(db, chain, cancellationToken);
        if (state.CheckpointForged)
        {
            return Invalid(0, null, AuditVerification.CheckpointReason);
        }

        // Every row first, so that the first event that breaks the chain is named even when the head or checkpoint fails too.
        var walk = AuditChainWalk.FromGenesis(chain, keys);
        var invalid = await WalkAsync(db, walk, long.MaxValue, retiredKeyUpTo: state.Checkpoint?.Sequence ?? 0, cancellationToken);
        if (invalid is not null)
        {
            return invalid;
        }

        if (state.Head is not { } head)
        {
            return state.Orphans ? Invalid(walk.Checked, null, AuditVerification.HeadReason) : new AuditVerification(true, 0, null);
        }

        if (!state.AnchorHolds)
        {
            return Invalid(walk.Checked, state.AnchorId, AuditVerification.EventReason);
        }

        if (!state.HeadHolds || walk.LastSequence != head.LastSequence || !AuditChain.SameHash(walk.Previous, head.LastHash))
        {
            return Invalid(walk.Checked, null, AuditVerification.HeadReason);
        }

        await SaveCheckpointAsync(db, chain, walk, 0, cancellationToken);
        await RefreshHeadMacAsync(db, head, cancellationToken);
        return new AuditVerification(true, walk.Checked, null) { VerifiedThrough = walk.LastSequence };
    }

    /// <summary>
    /// The chain's checkpoint and head, each checked: a checkpoint whose MAC does not hold was forged (or made under a
    /// master key no longer configured); a head whose MAC does not hold, or that is behind the checkpoint, was rewound or
    /// forged; the row at the checkpoint must still carry the checkpoint's hash.
    /// </summary>
    private async Task<ChainState> ReadStateAsync(MislataDbContext db, Guid chain, CancellationToken cancellationToken)
    {
        var checkpoint = await db.Set<AuditCheckpoint>().AsNoTracking().SingleOrDefaultAsync(c => c.Chain == chain, cancellationToken);
        if (checkpoint is not null && !CheckpointHolds(checkpoint))
        {
            return new ChainState(null, null, CheckpointForged: true, HeadHolds: false, AnchorHolds: false, null, Orphans: false);
        }

        var head = await db.Set<AuditChainHead>().AsNoTracking().SingleOrDefaultAsync(h => h.Chain == chain, cancellationToken);

        // No head: the chain never had a row. Rows or a checkpoint without one mean the head was deleted.
        var orphans = head is null && (checkpoint is not null || await db.Set<AuditEventRecord>().AnyAsync(e => e.Chain == chain, cancellationToken));
        var headHolds = head is not null && HeadHolds(head) && head.LastSequence >= (checkpoint?.Sequence ?? 0);

        var anchorHolds = true;
        Guid? anchorId = null;
        if (checkpoint is { Sequence: > 0 } cp)
        {
            var anchor = await db.Set<AuditEventRecord>().AsNoTracking()
                .Where(e => e.Chain == chain && e.Sequence == cp.Sequence)
                .Select(e => new { e.Id, e.Hash })
                .SingleOrDefaultAsync(cancellationToken);
            anchorHolds = anchor is not null && AuditChain.SameHash(anchor.Hash, cp.Hash);
            anchorId = anchor?.Id;
        }

        return new ChainState(checkpoint, head, CheckpointForged: false, headHolds, anchorHolds, anchorId, orphans);
    }

    /// <summary>
    /// The chain is known to be broken (head or checkpoint anchor): within the call's budget, walks from the first link to
    /// name the first event that breaks it; otherwise reports what was found.
    /// </summary>
    private async Task<AuditVerification> LocateAsync(
        MislataDbContext db, Guid chain, ChainState state, int budget, string reason, Guid? eventId, CancellationToken cancellationToken)
    {
        var walk = AuditChainWalk.FromGenesis(chain, keys);
        var invalid = await WalkAsync(db, walk, budget, retiredKeyUpTo: state.Checkpoint?.Sequence ?? 0, cancellationToken);
        return invalid ?? Invalid(walk.Checked, eventId, reason);
    }

    /// <summary>Where a re-check of older links starts: the genesis, or after the (already checked) row it stopped at.</summary>
    private async Task<AuditChainWalk> SweepStartAsync(MislataDbContext db, Guid chain, long after, CancellationToken cancellationToken)
    {
        if (after > 0)
        {
            var row = await db.Set<AuditEventRecord>().AsNoTracking()
                .Where(e => e.Chain == chain && e.Sequence == after)
                .Select(e => new { e.Hash, e.MacKeyId })
                .SingleOrDefaultAsync(cancellationToken);
            if (row is not null)
            {
                return AuditChainWalk.After(chain, keys, after, row.Hash, row.MacKeyId is not null);
            }
        }

        // A missing row is found when a sweep from the genesis reaches the gap.
        return AuditChainWalk.FromGenesis(chain, keys);
    }

    /// <summary>Walks the rows after the walk's position up to <paramref name="upTo"/>; the first that fails, as an invalid result.</summary>
    private static async Task<AuditVerification?> WalkAsync(MislataDbContext db, AuditChainWalk walk, long upTo, long retiredKeyUpTo, CancellationToken cancellationToken)
    {
        while (walk.LastSequence < upTo)
        {
            var after = walk.LastSequence;
            var page = await db.Set<AuditEventRecord>().AsNoTracking()
                .Where(e => e.Chain == walk.Chain && e.Sequence > after && e.Sequence <= upTo)
                .OrderBy(e => e.Sequence)
                .Take(VerifyPage)
                .ToListAsync(cancellationToken);
            foreach (var e in page)
            {
                if (!walk.Step(e, retiredKeyAccepted: e.Sequence <= retiredKeyUpTo))
                {
                    return Invalid(walk.Checked, e.Id, AuditVerification.EventReason);
                }
            }

            if (page.Count < VerifyPage)
            {
                break;
            }
        }

        return null;
    }

    private bool CheckpointHolds(AuditCheckpoint c) =>
        keys.Find(c.MacKeyId) is { } key
        && AuditChain.SameHash(c.Mac, AuditChain.CheckpointMac(key, c.MacKeyId, c.Chain, c.Sequence, c.Hash, c.KeyedSeen, c.RescanAfter));

    private bool HeadHolds(AuditChainHead h) =>
        h.MacKeyId is { } keyId && h.Mac is { } mac && keys.Find(keyId) is { } key
        && AuditChain.SameHash(mac, AuditChain.HeadMac(key, keyId, h.Chain, h.LastSequence, h.LastHash));

    /// <summary>Stores the new checkpoint under the current key; a concurrent verification that got further is kept.</summary>
    private async Task SaveCheckpointAsync(MislataDbContext db, Guid chain, AuditChainWalk walk, long rescanAfter, CancellationToken cancellationToken)
    {
        var keyId = keys.CurrentId;
        var mac = AuditChain.CheckpointMac(keys.Current, keyId, chain, walk.LastSequence, walk.Previous, walk.KeyedSeen, rescanAfter);
        var now = time.GetUtcNow();
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO mislata.audit_checkpoints (chain, sequence, hash, keyed_seen, rescan_after, mac_key_id, mac, verified_at)
            VALUES ({chain}, {walk.LastSequence}, {walk.Previous}, {walk.KeyedSeen}, {rescanAfter}, {keyId}, {mac}, {now})
            ON CONFLICT (chain) DO UPDATE SET sequence = EXCLUDED.sequence, hash = EXCLUDED.hash, keyed_seen = EXCLUDED.keyed_seen,
                rescan_after = EXCLUDED.rescan_after, mac_key_id = EXCLUDED.mac_key_id, mac = EXCLUDED.mac, verified_at = EXCLUDED.verified_at
            WHERE mislata.audit_checkpoints.sequence <= EXCLUDED.sequence
            """, cancellationToken);
    }

    /// <summary>
    /// During a master-key rotation, a head still MAC'd under the previous key (a chain with no write since) is re-MAC'd
    /// under the current one once it verified, so it still verifies after the previous key is removed.
    /// </summary>
    private async Task RefreshHeadMacAsync(MislataDbContext db, AuditChainHead head, CancellationToken cancellationToken)
    {
        if (head.MacKeyId == keys.CurrentId)
        {
            return;
        }

        var keyId = keys.CurrentId;
        var mac = AuditChain.HeadMac(keys.Current, keyId, head.Chain, head.LastSequence, head.LastHash);
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            UPDATE mislata.audit_chain_heads SET mac_key_id = {keyId}, mac = {mac}
            WHERE chain = {head.Chain} AND last_sequence = {head.LastSequence} AND last_hash = {head.LastHash}
            """, cancellationToken);
    }

    private static AuditVerification Invalid(long @checked, Guid? eventId, string reason) =>
        new(false, @checked, eventId) { Complete = false, Reason = reason };

    private sealed record ChainState(
        AuditCheckpoint? Checkpoint, AuditChainHead? Head, bool CheckpointForged, bool HeadHolds, bool AnchorHolds, Guid? AnchorId, bool Orphans);

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
