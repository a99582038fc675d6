namespace Mislata.Core.Access;

/// <summary>The OAuth scopes of API.md, exactly.</summary>
public static class Scopes
{
    public const string KeysRead = "keys:read";
    public const string KeysWrite = "keys:write";
    public const string EncryptionWrite = "encryption:write";
    public const string SecretsRead = "secrets:read";
    public const string SecretsWrite = "secrets:write";
    public const string ApiKeysRead = "apikeys:read";
    public const string ApiKeysWrite = "apikeys:write";
    public const string AuditRead = "audit:read";
    public const string BillingRead = "billing:read";
    public const string UsersRead = "users:read";
    public const string UsersWrite = "users:write";
    public const string ApplicationsRead = "applications:read";
    public const string ApplicationsWrite = "applications:write";
    public const string RolesRead = "roles:read";
    public const string RolesWrite = "roles:write";
    public const string CertificatesRead = "certificates:read";
    public const string CertificatesWrite = "certificates:write";
    public const string SshRead = "ssh:read";
    public const string SshWrite = "ssh:write";
    public const string PartnerAdmin = "partner:admin";
    public const string PlatformAdmin = "platform:admin";

    /// <summary>Every scope a tenant can hold (what <c>tenant-admin</c> has).</summary>
    public static readonly IReadOnlyList<string> Tenant =
    [
        KeysRead, KeysWrite, EncryptionWrite, SecretsRead, SecretsWrite, ApiKeysRead, ApiKeysWrite, AuditRead,
        BillingRead, UsersRead, UsersWrite, ApplicationsRead, ApplicationsWrite, RolesRead, RolesWrite,
        CertificatesRead, CertificatesWrite, SshRead, SshWrite,
    ];

    public static readonly IReadOnlyList<string> All = [.. Tenant, PartnerAdmin, PlatformAdmin];

    public static bool IsKnown(string scope) => All.Contains(scope, StringComparer.Ordinal);
}

/// <summary>The roles of PRODUCT.md and the scopes each maps to (API.md "Scopes").</summary>
public static class Roles
{
    public const string PlatformAdmin = "platform-admin";
    public const string PartnerAdmin = "partner-admin";
    public const string TenantAdmin = "tenant-admin";
    public const string TenantMember = "tenant-member";
    public const string Auditor = "auditor";

    public static readonly IReadOnlyList<string> All = [PlatformAdmin, PartnerAdmin, TenantAdmin, TenantMember, Auditor];

    public static IReadOnlyList<string> ScopesOf(string role) => role switch
    {
        PlatformAdmin => Scopes.All,
        PartnerAdmin => [Scopes.PartnerAdmin],
        TenantAdmin => Scopes.Tenant,
        TenantMember => [Scopes.KeysRead, Scopes.EncryptionWrite, Scopes.SecretsRead, Scopes.SecretsWrite],
        Auditor => [Scopes.AuditRead, Scopes.KeysRead, Scopes.BillingRead],
        _ => [],
    };

    /// <summary>Whether a role is held inside one tenant (and so needs a tenant id).</summary>
    public static bool IsTenantRole(string role) => role is TenantAdmin or TenantMember or Auditor;
}

/// <summary>Claim names carried by access tokens (API.md: <c>sub, tenant_id, role, scope, client_id</c>).</summary>
public static class ClaimNames
{
    public const string Subject = "sub";
    public const string TenantId = "tenant_id";
    public const string PartnerId = "partner_id";
    public const string Role = "role";
    public const string Scope = "scope";
    public const string ClientId = "client_id";
}
