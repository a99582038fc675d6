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

/// <summary><c>GET /audit/verify</c>: <c>{valid, checked, firstInvalidEventId?}</c>.</summary>
public sealed record AuditVerification(bool Valid, long Checked, Guid? FirstInvalidEventId);

public interface IAuditReader
{
    /// <summary>Throws <see cref="ArgumentException"/> for a malformed cursor (a 400 for the caller).</summary>
    Task<AuditPage> ListAsync(AuditQuery query, CancellationToken cancellationToken);

    /// <summary>Recomputes the tenant's hash chain from its first event and reports the first event that breaks it.</summary>
    Task<AuditVerification> VerifyAsync(Guid? tenantId, CancellationToken cancellationToken);
}
