namespace Mislata.Client.Contracts;

/// <summary><c>POST /users</c>: without <c>password</c> the user gets an invitation (set-password link); <c>tenantId</c> only for a platform admin.</summary>
public sealed record CreateUserRequest(string Email, IReadOnlyList<string> Roles, string? Password = null, Guid? TenantId = null, Guid? PartnerId = null);

/// <summary><c>PATCH /users/{id}</c>: the user's roles.</summary>
public sealed record UpdateUserRequest(IReadOnlyList<string> Roles);

/// <summary>A user: <c>status</c> invited, active, locked or blocked.</summary>
public sealed record User(Guid Id, string Email, IReadOnlyList<string> Roles, Guid? TenantId, string Status, bool MfaEnabled, DateTimeOffset CreatedAt, Guid? PartnerId);

/// <summary>The answer of a create: <c>setPasswordUrl</c> for an invited user.</summary>
public sealed record CreatedUser(Guid Id, string Email, IReadOnlyList<string> Roles, Guid? TenantId, string Status, string? SetPasswordUrl, Guid? PartnerId);

/// <summary><c>POST /applications</c>: an OIDC client of the tenant (<c>type</c> confidential or public).</summary>
public sealed record CreateApplicationRequest(
    string Name, string Type, IReadOnlyList<string> Scopes, IReadOnlyList<string>? RedirectUris = null, IReadOnlyList<string>? PostLogoutRedirectUris = null,
    Guid? TenantId = null, string? ConsentType = null, string? TokenSigningAlgorithm = null, bool? RequirePar = null, System.Text.Json.JsonElement? Jwks = null, bool? DeviceFlow = null, bool? RequireDpop = null,
    bool? MfaRequired = null, IReadOnlyList<string>? MfaMethods = null);

/// <summary><c>PATCH /applications/{id}</c>: absent members stay.</summary>
public sealed record UpdateApplicationRequest(
    string? Name = null, IReadOnlyList<string>? RedirectUris = null, IReadOnlyList<string>? PostLogoutRedirectUris = null, IReadOnlyList<string>? Scopes = null,
    string? ConsentType = null, string? TokenSigningAlgorithm = null, bool? RequirePar = null, System.Text.Json.JsonElement? Jwks = null, bool? DeviceFlow = null, bool? RequireDpop = null,
    bool? MfaRequired = null, IReadOnlyList<string>? MfaMethods = null);

/// <summary>An application (never its secret).</summary>
public sealed record Application(
    Guid Id, string ClientId, string Name, string Type, IReadOnlyList<string> RedirectUris, IReadOnlyList<string> PostLogoutRedirectUris, IReadOnlyList<string> Scopes,
    Guid? TenantId, string ConsentType, string? TokenSigningAlgorithm = null, bool RequirePar = false, System.Text.Json.JsonElement? Jwks = null, bool DeviceFlow = false, bool RequireDpop = false,
    bool MfaRequired = false, IReadOnlyList<string>? MfaMethods = null);

/// <summary>A create or a secret rotation: <c>clientSecret</c> (confidential clients) is shown this once.</summary>
public sealed record ApplicationSecret(Guid Id, string ClientId, string? ClientSecret);

/// <summary>A role and the scopes it grants.</summary>
public sealed record Role(string Name, IReadOnlyList<string> Scopes, bool TenantScoped);
