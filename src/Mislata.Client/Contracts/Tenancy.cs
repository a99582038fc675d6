namespace Mislata.Client.Contracts;

/// <summary>
/// <c>POST /api-keys</c> (and <c>/admin/tenants/{id}/api-keys</c>): a key gets only scopes its creator holds;
/// <c>scopes</c> null is only for a tenant's first key (every tenant scope).
/// </summary>
public sealed record CreateApiKeyRequest(
    string Name, IReadOnlyList<string>? Scopes, DateTimeOffset? ExpiresAt = null, IReadOnlyList<string>? IpAllowlist = null, int? RateLimitPerMinute = null);

/// <summary>An API key's metadata (never the key): <c>status</c> active, expired or revoked.</summary>
public sealed record ApiKey(
    Guid Id, string Prefix, string Name, IReadOnlyList<string> Scopes, DateTimeOffset? ExpiresAt, IReadOnlyList<string> IpAllowlist,
    int? RateLimitPerMinute, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, string? Status);

/// <summary>The answer of a create: the only time <c>key</c> is shown.</summary>
public sealed record CreatedApiKey(
    Guid Id, string Key, string Prefix, string Name, IReadOnlyList<string> Scopes, DateTimeOffset? ExpiresAt, IReadOnlyList<string> IpAllowlist,
    int? RateLimitPerMinute, DateTimeOffset CreatedAt);

/// <summary>An audit event (newest first in lists).</summary>
public sealed record AuditEvent(
    Guid Id, Guid? TenantId, long Sequence, DateTimeOffset Time, string ActorType, string ActorId, string Action, string? ResourceType,
    string? ResourceId, string Outcome, string? ErrorCode, string? SourceIp, string? RequestId, IReadOnlyDictionary<string, string>? Details);

/// <summary>Filters of <c>GET /audit</c>; <c>tenantId</c> only for a platform operator.</summary>
public sealed record AuditQuery(
    DateTimeOffset? From = null, DateTimeOffset? To = null, string? Action = null, string? ActorId = null, string? ResourceId = null, string? Outcome = null,
    Guid? TenantId = null, int? Limit = null, string? Cursor = null);

/// <summary><c>GET /audit/verify</c>: whether the tenant's hash chain is intact.</summary>
public sealed record AuditVerification(bool Valid, long Checked, Guid? FirstInvalidEventId, bool? Complete, long? VerifiedThrough, string? Reason);

/// <summary>A plan: quotas (null = unlimited) and features.</summary>
public sealed record Plan(
    Guid Id, string Code, string Name, int? MaxKeys, int? MaxSecrets, int? MaxApiKeys, int? MaxUsers, long? OperationsPerMonth,
    int? RequestsPerMinute, IReadOnlyList<string> Features, bool AvailableToPartners, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary><c>POST /admin/plans</c> and <c>PATCH /admin/plans/{id}</c> (a PATCH changes only the members given).</summary>
public sealed record PlanRequest(
    string? Code = null, string? Name = null, int? MaxKeys = null, int? MaxSecrets = null, int? MaxApiKeys = null, int? MaxUsers = null,
    long? OperationsPerMonth = null, int? RequestsPerMinute = null, IReadOnlyList<string>? Features = null, bool? AvailableToPartners = null);

/// <summary><c>GET /billing/subscription</c>.</summary>
public sealed record Subscription(Guid TenantId, string Status, Plan Plan);

/// <summary>A counted resource: <c>limit</c> null = unlimited.</summary>
public sealed record UsageFigure(long? Used, long? Limit);

/// <summary><c>GET /billing/usage</c>: counts of the current period against the plan's limits.</summary>
public sealed record Usage(
    Guid TenantId, string Plan, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, UsageFigure Operations, UsageFigure ApiKeys, UsageFigure Keys,
    UsageFigure Secrets, UsageFigure Users, int? RequestsPerMinute);

/// <summary><c>POST /admin/tenants</c>: <c>planId</c> is a plan id or its code.</summary>
public sealed record CreateTenantRequest(string Name, string? PlanId = null, Guid? PartnerId = null, string? AdminEmail = null);

/// <summary><c>PATCH /admin/tenants/{id}</c>: absent members stay.</summary>
public sealed record UpdateTenantRequest(
    string? Name = null, string? PlanId = null, Guid? PartnerId = null, bool? RemovePartner = null, string? AdminEmail = null, int? SecretVersionsKept = null);

/// <summary>A tenant: <c>status</c> active or suspended.</summary>
public sealed record Tenant(
    Guid Id, string Name, string Status, Guid PlanId, Guid? PartnerId, string? AdminEmail, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    DateTimeOffset? SuspendedAt, int? SecretVersionsKept);

/// <summary><c>POST/PATCH /admin/partners</c>.</summary>
public sealed record PartnerRequest(string? Name = null, string? ContactEmail = null, int? MaxTenants = null);

/// <summary>A partner (reseller) and the number of tenants it may create.</summary>
public sealed record Partner(Guid Id, string Name, string? ContactEmail, int? MaxTenants, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary><c>POST /partner/tenants</c>.</summary>
public sealed record CreatePartnerTenantRequest(string Name, string? PlanId = null, string? AdminEmail = null);

/// <summary>A partner tenant's use in the current period.</summary>
public sealed record PartnerTenantUsage(Guid TenantId, string Name, string Status, long OperationsThisPeriod);

/// <summary><c>GET /partner/usage</c>.</summary>
public sealed record PartnerUsage(Guid PartnerId, int Tenants, int? MaxTenants, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, IReadOnlyList<PartnerTenantUsage> PerTenant);

/// <summary>The limits of the installation's licence (null = unlimited).</summary>
public sealed record LicenseLimits(int? MaxTenants, int? MaxUsers, int? MaxKeys);

/// <summary>How much of one licence limit the installation uses.</summary>
public sealed record LicenseUsageFigure(long Used, int? Limit);

/// <summary>The installation's tenants, users and keys against the licence's limits.</summary>
public sealed record LicenseUsage(LicenseUsageFigure Tenants, LicenseUsageFigure Users, LicenseUsageFigure Keys);

/// <summary>The installed licence as signed by the vendor.</summary>
public sealed record LicenseDetails(
    Guid Id, string Licensee, string Edition, string? KeyId, DateTimeOffset IssuedAt, DateTimeOffset NotBefore, DateTimeOffset ExpiresAt,
    int GraceDays, DateTimeOffset GraceEndsAt, IReadOnlyList<string> Features);

/// <summary>
/// <c>GET/PUT /admin/license</c>: <c>state</c> is community, valid, grace, restricted or invalid; <c>reason</c> says why
/// when not valid; <c>license</c> is null without an authentic licence; <c>limits</c> are those in force.
/// </summary>
public sealed record LicenseStatus(
    string State, string? Reason, bool Restricted, LicenseDetails? License, LicenseLimits Limits, LicenseUsage Usage,
    DateTimeOffset? InstalledAt, DateTimeOffset? RevokedAt, DateTimeOffset? RevocationCheckedAt);

/// <summary><c>PUT /admin/license</c>: the licence text, armoured (the vendor's file) or the bare envelope JSON.</summary>
public sealed record InstallLicenseRequest(string License);
