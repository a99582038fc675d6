using System.Buffers.Text;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Authentication;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Tenants;
using Mislata.Infrastructure.ApiKeys;
using Mislata.ServiceDefaults.Problems;
using OpenIddict.Abstractions;
using OpenIddict.Validation.AspNetCore;

namespace Mislata.Identity.Features.Management;

/// <summary>Who calls the management API, from a Bearer access token of this server (validated locally).</summary>
internal sealed record Caller(ClaimsPrincipal Principal, string ActorId, AuditActorType ActorType, Guid? TenantId, bool IsPlatformAdmin)
{
    public bool HasScope(string scope) => Principal.HasScope(scope);

    public IReadOnlySet<string> Scopes { get; } = Principal.GetScopes().ToHashSet(StringComparer.Ordinal);

    public static Caller Of(HttpContext context) =>
        context.Items[typeof(Caller)] as Caller ?? throw new InvalidOperationException("The management API runs behind ManagementAuth.");

    /// <summary>The tenant whose data a non-platform caller sees; null means "no tenant" (refused).</summary>
    public bool CanManage(Guid? tenantId) => IsPlatformAdmin || (TenantId is not null && tenantId == TenantId);
}

internal static class ManagementAuth
{
    public static readonly string[] Prefixes = ["/api/v1/users", "/api/v1/roles", "/api/v1/applications"];

    /// <summary>
    /// Authenticates every management API request before its body is read: a missing or invalid Bearer token is a
    /// 401 problem with <c>WWW-Authenticate</c>, never a cookie (no CSRF on the API).
    /// </summary>
    public static WebApplication UseManagementAuthentication(this WebApplication app)
    {
        app.UseWhen(
            c => Prefixes.Any(p => c.Request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase)),
            branch => branch.Use(async (context, next) =>
            {
                // API keys are accepted here as on the api (PRODUCT.md "Credentials"), through the same check.
                var presented = ApiKeyAuthenticator.ReadCredential(context.Request);
                if (presented is not null && ApiKeyAuthenticator.IsApiKey(presented))
                {
                    if (await AuthenticateApiKeyAsync(context, presented))
                    {
                        await next(context);
                    }

                    return;
                }

                var result = await context.AuthenticateAsync(OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme);
                if (!result.Succeeded || result.Principal is null)
                {
                    var hasToken = context.Request.Headers.Authorization.Count > 0;
                    context.Response.Headers.WWWAuthenticate = hasToken ? "Bearer error=\"invalid_token\"" : "Bearer";
                    await Problem.Of(StatusCodes.Status401Unauthorized, ErrorCodes.Unauthorized, "Unauthorized",
                        hasToken ? "The access token is missing, invalid or expired." : "A Bearer access token is required.").ExecuteAsync(context);
                    return;
                }

                if (await BearerCallerAsync(context, result.Principal) is { } caller)
                {
                    context.User = caller.Principal;
                    context.Items[typeof(Caller)] = caller;
                    await next(context);
                }
            }));
        return app;
    }

    /// <summary>
    /// The caller of a valid access token, with the scopes the shared rule honours (<see cref="TokenScopes"/>), or null
    /// after writing the refusal: 401 when its tenant no longer exists, 403 forbidden while the tenant is suspended
    /// (from the tenant cache shared with the api, so a suspension reaches every replica at once).
    /// </summary>
    private static async Task<Caller?> BearerCallerAsync(HttpContext context, ClaimsPrincipal principal)
    {
        var subject = principal.GetClaim(OpenIddictConstants.Claims.Subject);
        var clientId = principal.GetClaim(OpenIddictConstants.Claims.ClientId);
        Guid? tenant = Guid.TryParse(principal.GetClaim(ClaimNames.TenantId), out var t) ? t : null;
        Guid? partner = Guid.TryParse(principal.GetClaim(ClaimNames.PartnerId), out var p) ? p : null;
        if (tenant is { } tenantId)
        {
            var summary = await context.RequestServices.GetRequiredService<ITenantDirectory>().FindAsync(tenantId, context.RequestAborted);
            if (summary is null)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
                await Problem.Of(StatusCodes.Status401Unauthorized, ErrorCodes.Unauthorized, "Unauthorized", "The token's tenant no longer exists.").ExecuteAsync(context);
                return null;
            }

            if (summary.Status == TenantStatus.Suspended)
            {
                await Problem.Of(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, "Forbidden", "The tenant is suspended.").ExecuteAsync(context);
                return null;
            }
        }

        principal.SetScopes(TokenScopes.Honoured(principal.GetScopes(), principal.GetClaims(OpenIddictConstants.Claims.Role), subject, clientId, tenant, partner));
        var isClient = TokenScopes.IsClientToken(subject, clientId);
        return new Caller(
            principal,
            (isClient ? clientId ?? subject : subject) ?? "unknown",
            isClient ? AuditActorType.Client : AuditActorType.User,
            tenant,
            principal.HasScope(Mislata.Core.Access.Scopes.PlatformAdmin) && tenant is null);
    }

    /// <summary>
    /// A tenant's API key: 401 when unknown, revoked or expired; 403 forbidden from a disallowed address, for a
    /// partner or platform key (they manage no identities) or a suspended tenant. Its scopes are the key's.
    /// </summary>
    private static async Task<bool> AuthenticateApiKeyAsync(HttpContext context, string presented)
    {
        var check = await context.RequestServices.GetRequiredService<ApiKeyAuthenticator>()
            .AuthenticateAsync(presented, context.Connection.RemoteIpAddress, context.RequestAborted);
        if (check.Record is not { } record)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
            await Problem.Of(StatusCodes.Status401Unauthorized, ErrorCodes.Unauthorized, "Unauthorized",
                "The API key is missing, invalid, revoked or expired.").ExecuteAsync(context);
            return false;
        }

        var tenant = record.TenantId is { } tenantId
            ? await context.RequestServices.GetRequiredService<ITenantDirectory>().FindAsync(tenantId, context.RequestAborted)
            : null;
        var refusal = !check.AddressAllowed ? "The API key is not allowed from this address."
            : tenant is null ? "Only a tenant's API keys manage identities."
            : tenant.Status == TenantStatus.Suspended ? "The tenant is suspended."
            : null;
        if (refusal is not null)
        {
            await Problem.Of(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, "Forbidden", refusal).ExecuteAsync(context);
            return false;
        }

        var identity = new ClaimsIdentity("ApiKey");
        identity.AddClaim(new Claim(ClaimNames.Subject, record.Id.ToString()));
        identity.AddClaim(new Claim(ClaimNames.TenantId, tenant!.Id.ToString()));
        var principal = new ClaimsPrincipal(identity).SetScopes(record.Scopes);
        context.User = principal;
        context.Items[typeof(Caller)] = new Caller(principal, record.Id.ToString(), AuditActorType.ApiKey, tenant.Id, IsPlatformAdmin: false);
        return true;
    }

    /// <summary>403 <c>insufficient_scope</c> unless the token carries <paramref name="scope"/>.</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var caller = Caller.Of(context.HttpContext);
            if (!caller.HasScope(scope))
            {
                context.HttpContext.Response.Headers.WWWAuthenticate = $"Bearer error=\"insufficient_scope\", scope=\"{scope}\"";
                return Problem.Of(StatusCodes.Status403Forbidden, ErrorCodes.InsufficientScope, "Insufficient scope", $"This call needs the scope {scope}.");
            }

            if (!caller.IsPlatformAdmin && caller.TenantId is null)
            {
                return Problem.Of(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, "Forbidden", "Only tenant members and platform operators manage identities.");
            }

            return await next(context);
        });
}

/// <summary><c>?limit=1..100 (default 50)&amp;cursor=…</c>; the cursor is the opaque, base64url-encoded sort key of the last item.</summary>
internal readonly record struct Page(int Limit, string? After)
{
    public static bool TryParse(int? limit, string? cursor, Dictionary<string, string[]> errors, out Page page)
    {
        page = default;
        if (limit is < 1 or > 100)
        {
            errors["limit"] = ["limit must be between 1 and 100."];
        }

        string? after = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            try
            {
                after = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            }
            catch (FormatException)
            {
                errors["cursor"] = ["The cursor is not valid."];
            }
        }

        page = new Page(limit ?? 50, after);
        return errors.Count == 0;
    }

    public static string Cursor(string key) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(key));
}

internal sealed record ListResponse<T>(IReadOnlyList<T> Data, string? NextCursor);

/// <summary>Management callers own their idempotency records per tenant (or the platform) and credential.</summary>
internal sealed class ManagementIdempotencyOwner : Mislata.Infrastructure.Idempotency.IIdempotencyOwner
{
    public string? OwnerOf(HttpContext context) =>
        context.Items[typeof(Caller)] is Caller caller
            ? (caller.TenantId?.ToString("N") ?? "platform") + ":" + caller.ActorType + ":" + caller.ActorId
            : null;
}
