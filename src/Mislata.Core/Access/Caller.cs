using Mislata.Core.Audit;

namespace Mislata.Core.Access;

public enum CredentialKind
{
    ApiKey = 0,
    AccessToken = 1,
}

/// <summary>
/// The authenticated caller of one request: who it is (for audit), which tenant or partner it is bound to and the
/// scopes it holds. Set by the api's authentication middleware; read it with <c>HttpContext.GetCaller()</c>.
/// </summary>
public sealed record Caller
{
    public required CredentialKind Kind { get; init; }

    public required AuditActorType ActorType { get; init; }

    /// <summary>API key id, user id (<c>sub</c>) or client id.</summary>
    public required string ActorId { get; init; }

    /// <summary>The tenant the credential is bound to; null for platform operators and partner admins.</summary>
    public Guid? TenantId { get; init; }

    /// <summary>The partner a partner admin acts for.</summary>
    public Guid? PartnerId { get; init; }

    public required IReadOnlySet<string> Scopes { get; init; }

    public Guid? ApiKeyId { get; init; }

    public string? ClientId { get; init; }

    /// <summary>The per-credential request limit (an API key's own <c>rateLimitPerMinute</c>), null = the default.</summary>
    public int? RateLimitPerMinute { get; init; }

    public bool Has(string scope) => Scopes.Contains(scope);

    /// <summary>The rate-limit and idempotency identity of the credential.</summary>
    public string CredentialId => ApiKeyId is { } id ? "key:" + id.ToString("N") : "sub:" + ActorId;
}
