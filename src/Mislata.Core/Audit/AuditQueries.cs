namespace Mislata.Core.Audit;

/// <summary>Filters of <c>GET /audit</c> (API.md): one tenant's trail (null = the platform's own chain).</summary>
public sealed record AuditQuery
{
    public Guid? TenantId { get; init; }

    public DateTimeOffset? From { get; init; }

    public DateTimeOffset? To { get; init; }

    public string? Action { get; init; }

    public string? ActorId { get; init; }

    public string? ResourceId { get; init; }

    public AuditOutcome? Outcome { get; init; }

    /// <summary>1..100.</summary>
    public int Limit { get; init; } = 50;

    /// <summary>Opaque cursor from a previous page's <see cref="AuditPage.NextCursor"/>.</summary>
    public string? Cursor { get; init; }
}

public sealed record AuditEventView(
    Guid Id,
    Guid? TenantId,
    long Sequence,
    DateTimeOffset Time,
    string ActorType,
    string ActorId,
    string Action,
    string? ResourceType,
    string? ResourceId,
    string Outcome,
    string? ErrorCode,
    string? SourceIp,
    string? RequestId,
    IReadOnlyDictionary<string, string>? Details);

/// <summary>Newest first.</summary>
public sealed record AuditPage(IReadOnlyList<AuditEventView> Data, string? NextCursor);

/// <summary>
/// <c>GET /audit/verify</c>: <c>{valid, checked, firstInvalidEventId?, complete, verifiedThrough, reason?}</c>.
/// <c>checked</c>: links checked by this call. <c>complete</c>: false when links newer than <c>verifiedThrough</c> remain
/// unchecked (the per-call bound was reached) — call again to continue from the stored checkpoint.
/// <c>reason</c> when invalid: <c>event</c> (a row, or a gap before <c>firstInvalidEventId</c>), <c>head</c> (rows
/// removed from the end, or a forged chain head) or <c>checkpoint</c> (a forged or inconsistent checkpoint).
/// </summary>
public sealed record AuditVerification(bool Valid, long Checked, Guid? FirstInvalidEventId)
{
    public const string EventReason = "event";
    public const string HeadReason = "head";
    public const string CheckpointReason = "checkpoint";

    public bool Complete { get; init; } = true;

    /// <summary>The sequence up to which the chain's links are verified (the checkpoint after this call).</summary>
    public long VerifiedThrough { get; init; }

    public string? Reason { get; init; }
}

public interface IAuditReader
{
    /// <summary>Throws <see cref="ArgumentException"/> for a malformed cursor (a 400 for the caller).</summary>
    Task<AuditPage> ListAsync(AuditQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Checks a chain incrementally, reading at most <paramref name="maxRows"/> rows: first the links after the stored
    /// (MAC'd) checkpoint, then, with the budget left, the next slice of the older links in a round-robin re-check. A
    /// valid call moves the checkpoint forward.
    /// </summary>
    Task<AuditVerification> VerifyAsync(Guid? tenantId, int maxRows, CancellationToken cancellationToken);

    /// <summary>Checks a whole chain from its first link (the worker's periodic job) and moves the checkpoint to its head.</summary>
    Task<AuditVerification> VerifyAllAsync(Guid? tenantId, CancellationToken cancellationToken);
}
