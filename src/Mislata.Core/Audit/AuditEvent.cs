namespace Mislata.Core.Audit;

/// <summary>Who did something: a user, an API key, an OAuth client, or the platform itself.</summary>
public enum AuditActorType
{
    System = 0,
    User = 1,
    ApiKey = 2,
    Client = 3,
    Anonymous = 4,
}

public enum AuditOutcome
{
    Success = 0,
    Failure = 1,
    Denied = 2,
}

/// <summary>
/// One security-relevant action (PRODUCT.md "Audit"). Ids, names, codes and addresses only: never plaintext, key
/// material, secret values, API keys, tokens or passwords — <see cref="Details"/> included.
/// </summary>
public sealed record AuditEvent
{
    /// <summary>The tenant whose trail this belongs to; null for platform-level events (their own chain).</summary>
    public Guid? TenantId { get; init; }

    public required AuditActorType ActorType { get; init; }

    /// <summary>User id, API key id, client id or "system".</summary>
    public required string ActorId { get; init; }

    /// <summary>Dotted verb, e.g. <c>auth.login.failed</c>, <c>key.create</c>, <c>crypto.encrypt</c>, <c>tenant.suspend</c>.</summary>
    public required string Action { get; init; }

    public string? ResourceType { get; init; }

    public string? ResourceId { get; init; }

    public required AuditOutcome Outcome { get; init; }

    /// <summary>The API.md error code of a failed or denied action.</summary>
    public string? ErrorCode { get; init; }

    public string? SourceIp { get; init; }

    public string? RequestId { get; init; }

    /// <summary>Small non-secret facts (algorithm, key version, scope…).</summary>
    public IReadOnlyDictionary<string, string>? Details { get; init; }
}

/// <summary>
/// The tamper-evident audit log. Fail-closed: when the event cannot be stored, <see cref="RecordAsync"/> throws
/// <see cref="AuditUnavailableException"/> and the caller's operation must fail (503 unavailable) without effect.
/// </summary>
public interface IAuditLog
{
    Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken);
}

public sealed class AuditUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
