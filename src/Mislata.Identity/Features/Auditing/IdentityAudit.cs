using Mislata.Core.Audit;

namespace Mislata.Identity.Features.Auditing;

/// <summary>Audit actions recorded by identity (dotted verbs; never secrets, tokens or passwords in details).</summary>
internal static class AuditActions
{
    public const string LoginSucceeded = "auth.login.succeeded";
    public const string LoginFailed = "auth.login.failed";
    public const string LockedOut = "auth.login.locked_out";
    public const string MfaSucceeded = "auth.mfa.succeeded";
    public const string MfaFailed = "auth.mfa.failed";
    public const string MfaEnabled = "auth.mfa.enabled";
    public const string PasskeyRegistered = "auth.passkey.registered";
    public const string PasskeyRemoved = "auth.passkey.removed";
    public const string MfaReset = "auth.mfa.reset";
    public const string PasswordChanged = "auth.password.changed";
    public const string Logout = "auth.logout";
    public const string TokenIssued = "auth.token.issued";
    public const string TokenRefused = "auth.token.refused";
    public const string TokenReuseDetected = "auth.token.reuse_detected";
    public const string AuthorizeRefused = "auth.authorize.refused";
    public const string UserCreated = "user.create";
    public const string UserUpdated = "user.update";
    public const string UserBlocked = "user.block";
    public const string UserUnblocked = "user.unblock";
    public const string UserDeleted = "user.delete";
    public const string ApplicationCreated = "application.create";
    public const string ApplicationUpdated = "application.update";
    public const string ApplicationDeleted = "application.delete";
    public const string ApplicationSecretRotated = "application.secret.rotate";
    public const string RoleAssigned = "role.assign";
    public const string RoleUnassigned = "role.unassign";
}

/// <summary>Fills in the request's source address and request id, then records through <see cref="IAuditLog"/> (fail-closed).</summary>
internal sealed class IdentityAudit(IAuditLog log, IHttpContextAccessor accessor)
{
    public Task RecordAsync(
        string action,
        AuditOutcome outcome,
        AuditActorType actorType,
        string actorId,
        Guid? tenantId,
        CancellationToken cancellationToken,
        string? resourceType = null,
        string? resourceId = null,
        string? errorCode = null,
        IReadOnlyDictionary<string, string>? details = null)
    {
        var http = accessor.HttpContext;
        return log.RecordAsync(
            new AuditEvent
            {
                TenantId = tenantId,
                ActorType = actorType,
                ActorId = actorId,
                Action = action,
                Outcome = outcome,
                ResourceType = resourceType,
                ResourceId = resourceId,
                ErrorCode = errorCode,
                SourceIp = http?.Connection.RemoteIpAddress?.ToString(),
                RequestId = http?.TraceIdentifier,
                Details = details,
            },
            cancellationToken);
    }
}
