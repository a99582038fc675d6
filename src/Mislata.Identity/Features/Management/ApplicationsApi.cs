using System.Buffers.Text;
using System.Collections.Immutable;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Audit;
using Mislata.Core.Tenants;
using Mislata.Identity.Features.Accounts;
using Mislata.Identity.Features.Auditing;
using Mislata.Identity.Features.Server;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Identity;
using Mislata.ServiceDefaults.Problems;
using OpenIddict.Abstractions;
using OpenIddict.EntityFrameworkCore.Models;
using static OpenIddict.Abstractions.OpenIddictConstants;
using ApiScopes = Mislata.Core.Access.Scopes;

namespace Mislata.Identity.Features.Management;

internal sealed record CreateApplicationRequest(
    string? Name, string? Type, IReadOnlyList<string>? RedirectUris, IReadOnlyList<string>? PostLogoutRedirectUris, IReadOnlyList<string>? Scopes, Guid? TenantId, string? ConsentType,
    string? TokenSigningAlgorithm = null, bool? RequirePar = null, JsonElement? Jwks = null, string? JwksUri = null, bool? DeviceFlow = null, bool? RequireDpop = null,
    bool? MfaRequired = null, IReadOnlyList<string>? MfaMethods = null);

internal sealed record UpdateApplicationRequest(
    string? Name, IReadOnlyList<string>? RedirectUris, IReadOnlyList<string>? PostLogoutRedirectUris, IReadOnlyList<string>? Scopes, string? ConsentType,
    string? TokenSigningAlgorithm = null, bool? RequirePar = null, JsonElement? Jwks = null, string? JwksUri = null, bool? DeviceFlow = null, bool? RequireDpop = null,
    bool? MfaRequired = null, IReadOnlyList<string>? MfaMethods = null);

internal sealed record ApplicationResponse(
    Guid Id, string ClientId, string Name, string Type, IReadOnlyList<string> RedirectUris, IReadOnlyList<string> PostLogoutRedirectUris, IReadOnlyList<string> Scopes, Guid? TenantId, string ConsentType,
    string TokenSigningAlgorithm, bool RequirePar, JsonElement? Jwks, bool DeviceFlow, bool RequireDpop, bool MfaRequired, IReadOnlyList<string> MfaMethods);

internal sealed record ApplicationSecretResponse(Guid Id, string ClientId, string? ClientSecret);

/// <summary><c>/api/v1/applications</c>: a tenant's OIDC clients. Secrets are shown once and stored hashed by OpenIddict.</summary>
internal static class ApplicationsApi
{
    private static readonly string[] Types = [ClientTypes.Confidential, ClientTypes.Public];

    public static WebApplication MapApplicationsApi(this WebApplication app)
    {
        var group = app.MapGroup("/api/v1/applications");
        group.MapPost("", CreateAsync).RequireScope(ApiScopes.ApplicationsWrite).Idempotent();
        group.MapGet("", ListAsync).RequireScope(ApiScopes.ApplicationsRead);
        group.MapGet("/{id}", GetAsync).RequireScope(ApiScopes.ApplicationsRead);
        group.MapPatch("/{id}", UpdateAsync).RequireScope(ApiScopes.ApplicationsWrite);
        group.MapDelete("/{id}", DeleteAsync).RequireScope(ApiScopes.ApplicationsWrite);
        group.MapPost("/{id}/secret", RotateSecretAsync).RequireScope(ApiScopes.ApplicationsWrite);
        return app;
    }

    public static string NewSecret() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// Creates the OpenIddict application and its owner row in one transaction; <paramref name="beforeCommit"/> (the
    /// audit event) runs inside it, so when it throws nothing is created.
    /// </summary>
    public static async Task<Guid> CreateWithOwnerAsync(
        IServiceProvider scoped, OpenIddictApplicationDescriptor descriptor, Guid? tenantId, DateTimeOffset now, Func<Guid, Task>? beforeCommit, CancellationToken cancellationToken)
    {
        var db = scoped.GetRequiredService<IdentityStoreDbContext>();
        var applications = scoped.GetRequiredService<IOpenIddictApplicationManager>();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var application = await applications.CreateAsync(descriptor, cancellationToken);
        var id = Guid.Parse((await applications.GetIdAsync(application, cancellationToken))!);
        db.ApplicationOwners.Add(new ApplicationOwner { ApplicationId = id, TenantId = tenantId, CreatedAt = now });
        await db.SaveChangesAsync(cancellationToken);
        if (beforeCommit is not null)
        {
            await beforeCommit(id);
        }

        await tx.CommitAsync(cancellationToken);
        return id;
    }

    private static async Task<Results<Created<ApplicationSecretResponse>, ProblemHttpResult>> CreateAsync(
        HttpContext http, CreateApplicationRequest request, IdentityAudit audit, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        if (!caller.IsPlatformAdmin && request.TenantId is { } named && named != caller.TenantId)
        {
            return Problem.NotFound("The tenant does not exist.");
        }

        if (request.ConsentType == ConsentTypes.Implicit && !caller.IsPlatformAdmin)
        {
            return ImplicitConsentForbidden();
        }

        var tenantId = caller.IsPlatformAdmin ? request.TenantId : caller.TenantId;
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 200)
        {
            errors["name"] = ["A name of at most 200 characters is required."];
        }

        if (request.Type is null || !Types.Contains(request.Type, StringComparer.Ordinal))
        {
            errors["type"] = ["type is confidential or public."];
        }

        if (tenantId is { } tenant && await http.RequestServices.GetRequiredService<ITenantDirectory>().FindAsync(tenant, cancellationToken) is null)
        {
            errors["tenantId"] = ["The tenant does not exist."];
        }

        var consent = request.ConsentType ?? ConsentTypes.Explicit;
        if (consent is not (ConsentTypes.Explicit or ConsentTypes.Implicit))
        {
            errors["consentType"] = ["consentType is explicit or implicit."];
        }

        var signing = request.TokenSigningAlgorithm ?? TokenSigning.DefaultForNewApplications;
        CheckSigningAlgorithm(signing, errors);
        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = "app_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
            ClientType = request.Type,
            ConsentType = consent,
            DisplayName = request.Name?.Trim(),
        };
        descriptor.Settings[TokenSigning.Setting] = signing;
        descriptor.Settings[DpopBinding.RequireSetting] = request.RequireDpop == true ? "true" : "false";
        ConfigureMfa(descriptor, request.MfaRequired ?? false, request.MfaMethods ?? SignInMethods.All, errors);
        Configure(descriptor, caller, tenantId, request.Type, request.RedirectUris, request.PostLogoutRedirectUris, request.Scopes, request.DeviceFlow ?? false, errors);
        ConfigureClientAuthentication(descriptor, request.Type, request.RequirePar ?? false, request.Jwks, request.JwksUri, errors);
        if (errors.Count > 0)
        {
            return Problem.Validation(errors);
        }

        string? secret = null;
        if (request.Type == ClientTypes.Confidential && descriptor.JsonWebKeySet is null)
        {
            secret = NewSecret();
            descriptor.ClientSecret = secret;
        }

        // Audited before the commit: when the audit log is unavailable nothing is created (503 unavailable).
        var id = await CreateWithOwnerAsync(http.RequestServices, descriptor, tenantId, time.GetUtcNow(),
            _ => audit.RecordAsync(AuditActions.ApplicationCreated, AuditOutcome.Success, caller.ActorType, caller.ActorId, tenantId, cancellationToken, "application", descriptor.ClientId,
                details: new Dictionary<string, string> { ["type"] = request.Type!, ["scope"] = string.Join(' ', request.Scopes ?? []), ["consentType"] = consent, ["tokenSigningAlgorithm"] = signing,
                    ["mfaRequired"] = request.MfaRequired == true ? "true" : "false" }),
            cancellationToken);
        return TypedResults.Created($"/api/v1/applications/{id}", new ApplicationSecretResponse(id, descriptor.ClientId!, secret));
    }

    private static async Task<Results<Ok<ListResponse<ApplicationResponse>>, ProblemHttpResult>> ListAsync(
        HttpContext http, IdentityStoreDbContext db, IOpenIddictApplicationManager applications, int? limit, string? cursor, Guid? tenantId, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        var errors = new Dictionary<string, string[]>();
        if (!Page.TryParse(limit, cursor, errors, out var page))
        {
            return Problem.Validation(errors);
        }

        var owners = VisibleOwners(db, caller);
        if (caller.IsPlatformAdmin && tenantId is { } filter)
        {
            owners = owners.Where(o => o.TenantId == filter);
        }

        var query = db.Set<OpenIddictEntityFrameworkCoreApplication<Guid>>().AsNoTracking()
            .Join(owners, a => a.Id, o => o.ApplicationId, (a, o) => new { Application = a, o.TenantId });
        if (page.After is { } after)
        {
            query = query.Where(x => string.Compare(x.Application.ClientId!, after) > 0);
        }

        var items = await query.OrderBy(x => x.Application.ClientId).Take(page.Limit + 1).ToListAsync(cancellationToken);
        var more = items.Count > page.Limit;
        var data = new List<ApplicationResponse>();
        foreach (var item in items.Take(page.Limit))
        {
            data.Add(await ToResponseAsync(applications, item.Application, item.TenantId, cancellationToken));
        }

        return TypedResults.Ok(new ListResponse<ApplicationResponse>(data, more ? Page.Cursor(data[^1].ClientId) : null));
    }

    private static async Task<Results<Ok<ApplicationResponse>, ProblemHttpResult>> GetAsync(
        HttpContext http, string id, IdentityStoreDbContext db, IOpenIddictApplicationManager applications, CancellationToken cancellationToken)
    {
        var found = await FindAsync(db, applications, Caller.Of(http), id, cancellationToken);
        return found is { } f ? TypedResults.Ok(await ToResponseAsync(applications, f.Application, f.TenantId, cancellationToken)) : Problem.NotFound();
    }

    private static async Task<Results<Ok<ApplicationResponse>, ProblemHttpResult>> UpdateAsync(
        HttpContext http, string id, UpdateApplicationRequest request, IdentityStoreDbContext db, IOpenIddictApplicationManager applications, IdentityAudit audit, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        if (await FindAsync(db, applications, caller, id, cancellationToken) is not { } found)
        {
            return Problem.NotFound();
        }

        var descriptor = new OpenIddictApplicationDescriptor();
        await applications.PopulateAsync(descriptor, found.Application, cancellationToken);

        // Implicit consent (no consent page) is the platform's to give, and so is changing where an implicit
        // application sends its codes.
        var implicitNow = descriptor.ConsentType == ConsentTypes.Implicit;
        if (!caller.IsPlatformAdmin && (request.ConsentType == ConsentTypes.Implicit || (implicitNow && request.RedirectUris is not null)))
        {
            return ImplicitConsentForbidden();
        }

        var errors = new Dictionary<string, string[]>();
        if (request.ConsentType is not null)
        {
            if (request.ConsentType is not (ConsentTypes.Explicit or ConsentTypes.Implicit))
            {
                errors["consentType"] = ["consentType is explicit or implicit."];
            }

            descriptor.ConsentType = request.ConsentType;
        }

        if (request.TokenSigningAlgorithm is not null)
        {
            CheckSigningAlgorithm(request.TokenSigningAlgorithm, errors);
            descriptor.Settings[TokenSigning.Setting] = request.TokenSigningAlgorithm;
        }

        if (request.RequireDpop is { } requireDpop)
        {
            descriptor.Settings[DpopBinding.RequireSetting] = requireDpop ? "true" : "false";
        }

        if (request.MfaRequired is not null || request.MfaMethods is not null)
        {
            var policy = MfaPolicy.Of(descriptor.Settings.ToImmutableDictionary());
            ConfigureMfa(descriptor, request.MfaRequired ?? policy.Required, request.MfaMethods ?? policy.Methods, errors);
        }

        if (request.Name is not null)
        {
            if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 200)
            {
                errors["name"] = ["A name of at most 200 characters is required."];
            }

            descriptor.DisplayName = request.Name.Trim();
        }

        var current = await ToResponseAsync(applications, found.Application, found.TenantId, cancellationToken);
        Configure(descriptor, caller, found.TenantId, descriptor.ClientType,
            request.RedirectUris ?? current.RedirectUris, request.PostLogoutRedirectUris ?? current.PostLogoutRedirectUris, request.Scopes ?? current.Scopes,
            request.DeviceFlow ?? current.DeviceFlow, errors);
        if (request.Jwks is null && request.JwksUri is null && current.Jwks is { } keys)
        {
            descriptor.JsonWebKeySet = new JsonWebKeySet(keys.GetRawText());
        }

        ConfigureClientAuthentication(descriptor, descriptor.ClientType, request.RequirePar ?? current.RequirePar, request.Jwks, request.JwksUri, errors);
        if (errors.Count > 0)
        {
            return Problem.Validation(errors);
        }

        await using (var tx = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await applications.UpdateAsync(found.Application, descriptor, cancellationToken);
            await audit.RecordAsync(AuditActions.ApplicationUpdated, AuditOutcome.Success, caller.ActorType, caller.ActorId, found.TenantId, cancellationToken, "application", descriptor.ClientId,
                details: new Dictionary<string, string> { ["consentType"] = descriptor.ConsentType ?? ConsentTypes.Explicit, ["tokenSigningAlgorithm"] = TokenSigning.Of(descriptor.Settings.ToImmutableDictionary()),
                    ["mfaRequired"] = MfaPolicy.Of(descriptor.Settings.ToImmutableDictionary()).Required ? "true" : "false" });
            await tx.CommitAsync(cancellationToken);
        }

        return TypedResults.Ok(await ToResponseAsync(applications, found.Application, found.TenantId, cancellationToken));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        HttpContext http, string id, IdentityStoreDbContext db, IOpenIddictApplicationManager applications, IOpenIddictTokenManager tokens, IdentityAudit audit, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        if (await FindAsync(db, applications, caller, id, cancellationToken) is not { } found)
        {
            return Problem.NotFound();
        }

        var clientId = await applications.GetClientIdAsync(found.Application, cancellationToken);
        await using (var tx = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await http.RequestServices.GetRequiredService<AccessRevocations>().RevokeClientAsync(db, clientId!, cancellationToken);
            await tokens.RevokeByApplicationIdAsync(id, cancellationToken);
            await applications.DeleteAsync(found.Application, cancellationToken);
            await db.ApplicationOwners.Where(o => o.ApplicationId == Guid.Parse(id)).ExecuteDeleteAsync(cancellationToken);
            await audit.RecordAsync(AuditActions.ApplicationDeleted, AuditOutcome.Success, caller.ActorType, caller.ActorId, found.TenantId, cancellationToken, "application", clientId);
            await tx.CommitAsync(cancellationToken);
        }

        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<ApplicationSecretResponse>, ProblemHttpResult>> RotateSecretAsync(
        HttpContext http, string id, IdentityStoreDbContext db, IOpenIddictApplicationManager applications, IdentityAudit audit, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        if (await FindAsync(db, applications, caller, id, cancellationToken) is not { } found)
        {
            return Problem.NotFound();
        }

        if (!await applications.HasClientTypeAsync(found.Application, ClientTypes.Confidential, cancellationToken))
        {
            return Problem.Of(StatusCodes.Status409Conflict, ErrorCodes.Conflict, "Conflict", "A public client has no secret.");
        }

        var secret = NewSecret();
        var clientId = await applications.GetClientIdAsync(found.Application, cancellationToken);
        await using (var tx = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await http.RequestServices.GetRequiredService<AccessRevocations>().RevokeClientAsync(db, clientId!, cancellationToken);
            await applications.UpdateAsync(found.Application, secret, cancellationToken);
            await audit.RecordAsync(AuditActions.ApplicationSecretRotated, AuditOutcome.Success, caller.ActorType, caller.ActorId, found.TenantId, cancellationToken, "application", clientId);
            await tx.CommitAsync(cancellationToken);
        }

        return TypedResults.Ok(new ApplicationSecretResponse(Guid.Parse(id), clientId!, secret));
    }

    /// <summary>
    /// Pushed authorization requests (RFC 9126) required or not, and the public keys a confidential client signs its
    /// <c>private_key_jwt</c> assertions (RFC 7523) with: RSA (2,048 bits or more) or EC P-256/P-384 signing keys, at most
    /// five, never a private part. A client with keys gets no secret. Keys are given inline (<c>jwks</c>): identity
    /// does not fetch a <c>jwksUri</c> (it would reach out to any address a tenant names).
    /// </summary>
    private static void ConfigureClientAuthentication(
        OpenIddictApplicationDescriptor descriptor, string? type, bool requirePar, JsonElement? jwks, string? jwksUri, Dictionary<string, string[]> errors)
    {
        if (requirePar)
        {
            if (descriptor.RedirectUris.Count == 0)
            {
                errors["requirePar"] = ["Pushed authorization requests are for applications that sign users in (give redirectUris)."];
            }

            descriptor.Requirements.Add(Requirements.Features.PushedAuthorizationRequests);
        }

        if (jwksUri is not null)
        {
            errors["jwksUri"] = ["identity does not fetch client keys from a URL: give the public keys inline in jwks."];
        }

        if (jwks is not { } set || set.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (type != ClientTypes.Confidential)
        {
            errors["jwks"] = ["Only confidential applications authenticate with private_key_jwt."];
            return;
        }

        if (ClientKeys.Parse(set) is { Error: { } error })
        {
            errors["jwks"] = [error];
            return;
        }

        descriptor.JsonWebKeySet = new JsonWebKeySet(set.GetRawText());
        descriptor.ClientSecret = null;
    }

    /// <summary>The MFA policy (<see cref="MfaPolicy"/>): <c>mfaRequired</c> and the methods that satisfy it, at least one, each known.</summary>
    private static void ConfigureMfa(OpenIddictApplicationDescriptor descriptor, bool required, IReadOnlyList<string> methods, Dictionary<string, string[]> errors)
    {
        if (MfaPolicy.Check(methods) is { } error)
        {
            errors["mfaMethods"] = [error];
            return;
        }

        new MfaPolicy(required, MfaPolicy.Normalise(methods)).WriteTo(descriptor.Settings);
    }

    private static void CheckSigningAlgorithm(string algorithm, Dictionary<string, string[]> errors)
    {
        if (!TokenSigning.Allowed.Contains(algorithm, StringComparer.Ordinal))
        {
            errors["tokenSigningAlgorithm"] = [$"tokenSigningAlgorithm is {string.Join(" or ", TokenSigning.Allowed)}."];
        }
    }

    private static ProblemHttpResult ImplicitConsentForbidden() =>
        Problem.Of(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, "Forbidden",
            "Only platform administrators give an application implicit consent or change where an implicit-consent application redirects.");

    private static IQueryable<ApplicationOwner> VisibleOwners(IdentityStoreDbContext db, Caller caller)
    {
        var owners = db.ApplicationOwners.AsNoTracking();
        if (caller.IsPlatformAdmin)
        {
            return owners;
        }

        var tenant = caller.TenantId ?? Guid.Empty;
        return owners.Where(o => o.TenantId != null && o.TenantId == tenant);
    }

    private static async Task<(object Application, Guid? TenantId)?> FindAsync(IdentityStoreDbContext db, IOpenIddictApplicationManager applications, Caller caller, string id, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(id, out var applicationId))
        {
            return null;
        }

        var owner = await VisibleOwners(db, caller).FirstOrDefaultAsync(o => o.ApplicationId == applicationId, cancellationToken);
        if (owner is null)
        {
            return null;
        }

        var application = await applications.FindByIdAsync(applicationId.ToString(), cancellationToken);
        return application is null ? null : (application, owner.TenantId);
    }

    /// <summary>Redirect URIs, grant types and scopes, validated against what the caller and the tenant may hand out.</summary>
    private static void Configure(
        OpenIddictApplicationDescriptor descriptor, Caller caller, Guid? tenantId, string? type,
        IReadOnlyList<string>? redirectUris, IReadOnlyList<string>? postLogoutRedirectUris, IReadOnlyList<string>? scopes, bool deviceFlow, Dictionary<string, string[]> errors)
    {
        descriptor.RedirectUris.Clear();
        descriptor.PostLogoutRedirectUris.Clear();
        descriptor.Permissions.Clear();
        descriptor.Requirements.Clear();
        var redirects = ParseUris(redirectUris, "redirectUris", errors);
        var postLogout = ParseUris(postLogoutRedirectUris, "postLogoutRedirectUris", errors);
        descriptor.RedirectUris.UnionWith(redirects);
        descriptor.PostLogoutRedirectUris.UnionWith(postLogout);
        // Users sign in through the browser (redirect URIs) or, on a device without one, through the device flow.
        var userFacing = redirects.Count > 0 || deviceFlow;
        if (type == ClientTypes.Public && !userFacing)
        {
            errors["redirectUris"] = ["A public client signs users in: it needs at least one redirect URI, or deviceFlow."];
        }

        var scopeErrors = new List<string>();
        var requested = (scopes ?? []).Distinct(StringComparer.Ordinal).ToList();
        foreach (var scope in requested)
        {
            if (IdentityServerSetup.OidcScopes.Contains(scope) || scope == Scopes.Roles)
            {
                if (!userFacing)
                {
                    scopeErrors.Add($"'{scope}' is for clients that sign users in (give redirectUris or deviceFlow).");
                }
            }
            else if (!ApiScopes.IsKnown(scope))
            {
                scopeErrors.Add($"Unknown scope '{scope}'.");
            }
            else if (!caller.Scopes.Contains(scope) || (tenantId is not null && !ApiScopes.Tenant.Contains(scope)))
            {
                scopeErrors.Add($"The scope '{scope}' cannot be given to this application.");
            }
        }

        if (scopeErrors.Count > 0)
        {
            errors["scopes"] = [.. scopeErrors];
        }

        descriptor.Permissions.UnionWith([Permissions.Endpoints.Token, Permissions.Endpoints.Revocation]);
        if (redirects.Count > 0)
        {
            descriptor.Permissions.UnionWith([Permissions.Endpoints.Authorization, Permissions.Endpoints.PushedAuthorization, Permissions.Endpoints.EndSession, Permissions.GrantTypes.AuthorizationCode, Permissions.ResponseTypes.Code]);
            descriptor.Requirements.Add(Requirements.Features.ProofKeyForCodeExchange);
        }

        if (deviceFlow)
        {
            // RFC 8628: the device shows a code, the user approves it at /connect/verify on another screen.
            descriptor.Permissions.UnionWith([Permissions.Endpoints.DeviceAuthorization, Permissions.GrantTypes.DeviceCode]);
        }

        if (userFacing && requested.Contains(Scopes.OfflineAccess))
        {
            descriptor.Permissions.Add(Permissions.GrantTypes.RefreshToken);
        }

        if (type == ClientTypes.Confidential)
        {
            descriptor.Permissions.Add(Permissions.GrantTypes.ClientCredentials);
            if (tenantId is null)
            {
                // Introspection reveals any token's claims: platform applications only.
                descriptor.Permissions.Add(Permissions.Endpoints.Introspection);
            }
        }

        foreach (var scope in requested.Where(s => s != Scopes.OpenId && s != Scopes.OfflineAccess))
        {
            descriptor.Permissions.Add(Permissions.Prefixes.Scope + scope);
        }
    }

    private static List<Uri> ParseUris(IReadOnlyList<string>? values, string field, Dictionary<string, string[]> errors)
    {
        var result = new List<Uri>();
        foreach (var value in values ?? [])
        {
            if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || !string.IsNullOrEmpty(uri.Fragment) ||
                !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback)))
            {
                errors[field] = [$"'{value}' is not an absolute https URI (http only for loopback) without a fragment."];
                continue;
            }

            result.Add(uri);
        }

        return result;
    }

    private static async Task<ApplicationResponse> ToResponseAsync(IOpenIddictApplicationManager applications, object application, Guid? tenantId, CancellationToken cancellationToken)
    {
        var permissions = await applications.GetPermissionsAsync(application, cancellationToken);
        var scopes = permissions.Where(p => p.StartsWith(Permissions.Prefixes.Scope, StringComparison.Ordinal)).Select(p => p[Permissions.Prefixes.Scope.Length..]).ToList();
        if (permissions.Contains(Permissions.GrantTypes.AuthorizationCode) || permissions.Contains(Permissions.GrantTypes.DeviceCode))
        {
            scopes.Insert(0, Scopes.OpenId);
        }

        if (permissions.Contains(Permissions.GrantTypes.RefreshToken))
        {
            scopes.Add(Scopes.OfflineAccess);
        }

        var settings = await applications.GetSettingsAsync(application, cancellationToken);
        var mfa = MfaPolicy.Of(settings);
        return new ApplicationResponse(
            Guid.Parse((await applications.GetIdAsync(application, cancellationToken))!),
            (await applications.GetClientIdAsync(application, cancellationToken))!,
            await applications.GetDisplayNameAsync(application, cancellationToken) ?? string.Empty,
            await applications.GetClientTypeAsync(application, cancellationToken) ?? ClientTypes.Public,
            [.. (await applications.GetRedirectUrisAsync(application, cancellationToken))],
            [.. (await applications.GetPostLogoutRedirectUrisAsync(application, cancellationToken))],
            scopes,
            tenantId,
            await applications.GetConsentTypeAsync(application, cancellationToken) ?? ConsentTypes.Explicit,
            TokenSigning.Of(settings),
            (await applications.GetRequirementsAsync(application, cancellationToken)).Contains(Requirements.Features.PushedAuthorizationRequests),
            await applications.GetJsonWebKeySetAsync(application, cancellationToken) is { Keys.Count: > 0 } keys ? ClientKeys.ToJson(keys) : null,
            permissions.Contains(Permissions.GrantTypes.DeviceCode),
            DpopBinding.Requires(settings),
            mfa.Required,
            mfa.Methods);
    }
}
