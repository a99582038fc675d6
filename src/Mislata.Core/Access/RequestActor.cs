using Mislata.Core.Audit;

namespace Mislata.Core.Access;

/// <summary>Who performs an operation and from where: what every audit event of the operation carries.</summary>
public sealed record RequestActor(AuditActorType ActorType, string ActorId, string? SourceIp, string? RequestId)
{
    public static RequestActor System { get; } = new(AuditActorType.System, "system", null, null);

    public AuditEvent Event(
        Guid? tenantId, string action, string? resourceType, string? resourceId, AuditOutcome outcome = AuditOutcome.Success,
        string? errorCode = null, IReadOnlyDictionary<string, string>? details = null) => new()
        {
            TenantId = tenantId,
            ActorType = ActorType,
            ActorId = ActorId,
            Action = action,
            ResourceType = resourceType,
            ResourceId = resourceId,
            Outcome = outcome,
            ErrorCode = errorCode,
            SourceIp = SourceIp,
            RequestId = RequestId,
            Details = details,
        };
}
