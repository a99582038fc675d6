using System.Globalization;
using System.Security.Claims;
using Mislata.Api.Common;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Infrastructure.Abuse;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Authentication;
using Mislata.Infrastructure.ApiKeys;
using Mislata.Infrastructure.RateLimiting;
using Mislata.ServiceDefaults.Problems;
using StackExchange.Redis;

namespace Mislata.Api.Access;

/// <summary>Requests per minute of a credential without a limit of its own (an access token, or an API key created
/// without <c>rateLimitPerMinute</c>): the section <c>RateLimits</c> (<c>RateLimits__DefaultPerCredential</c>).</summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimits";

    public int DefaultPerCredential { get; set; } = 6_000;

    /// <summary>The options of <paramref name="configuration"/>'s section; a limit below 1 is refused at start.</summary>
    public static RateLimitOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = configuration.GetSection(Section).Get<RateLimitOptions>() ?? new RateLimitOptions();
        if (options.DefaultPerCredential < 1)
        {
            throw new InvalidOperationException($"{Section}:DefaultPerCredential must be at least 1 request per minute.");
        }

        return options;
    }
}

/// <summary>
/// For endpoints with an <see cref="AccessRequirement"/>: authenticates the API key or access token (from memory on
/// the hot path), refuses suspended tenants, checks the scope and audience, applies the per-credential and per-tenant
/// rate limits and the monthly operations quota.
/// Order of refusals: 429 (the source presented too many failing credentials: before any credential work) → 401 (no or
/// invalid credential) → 403 forbidden (suspended tenant) → 403 insufficient_scope → 403 forbidden (wrong audience) → 429.
/// </summary>
public sealed class CallerAuthenticationMiddleware(
    RequestDelegate next,
    ApiKeyAuthenticator apiKeys,
    AccessTokenValidator tokens,
    AccessRevocations revocations,
    ITenantPlanProvider tenants,
    RedisRateLimiter rateLimiter,
    IUsageMeter usage,
    FailedCredentialGuard failedCredentials,
    RateLimitOptions rateLimits,
    DependencyOutages outages,
    DpopProofGate dpop)
{
    private const string Challenge = "Bearer realm=\"mislata\"";

    public async Task InvokeAsync(HttpContext context)
    {
        var requirement = context.GetEndpoint()?.Metadata.GetMetadata<AccessRequirement>();
        if (requirement is null)
        {
            await next(context);
            return;
        }

        var presented = ApiKeyAuthenticator.ReadCredential(context.Request);
        if (await failedCredentials.RefuseOverLimitAsync(context, CredentialPrefix.Of(presented)))
        {
            return;
        }

        if (presented is null)
        {
            context.Response.Headers.WWWAuthenticate = Challenge;
            await ProblemWriter.WriteAsync(context, 401, ErrorCodes.Unauthorized, "Unauthorized", "An API key (X-Api-Key) or a Bearer access token is required.");
            return;
        }

        var (caller, refusal) = await AuthenticateAsync(context, presented);
        if (caller is null)
        {
            await failedCredentials.RecordFailureAsync(context, CredentialPrefix.Of(presented), refusal ?? "invalid_credential");
            context.Response.Headers.WWWAuthenticate = refusal?.StartsWith(DpopProofGate.RefusalPrefix, StringComparison.Ordinal) == true
                ? DpopProofGate.ChallengeFor(refusal)
                : Challenge + ", error=\"invalid_token\"";
            await ProblemWriter.WriteAsync(context, 401, ErrorCodes.Unauthorized, "Unauthorized", "The credential is not valid.");
            return;
        }

        if (refusal is not null)
        {
            await ProblemWriter.WriteAsync(context, 403, ErrorCodes.Forbidden, "Forbidden", refusal);
            return;
        }

        TenantAccess? tenant = null;
        if (caller.TenantId is { } tenantId)
        {
            tenant = await tenants.GetAsync(tenantId, context.RequestAborted);
            if (tenant is null)
            {
                context.Response.Headers.WWWAuthenticate = Challenge + ", error=\"invalid_token\"";
                await ProblemWriter.WriteAsync(context, 401, ErrorCodes.Unauthorized, "Unauthorized", "The credential's tenant no longer exists.");
                return;
            }

            if (tenant.Status == TenantStatus.Suspended)
            {
                await ProblemWriter.WriteAsync(context, 403, ErrorCodes.Forbidden, "Forbidden", "The tenant is suspended.");
                return;
            }
        }

        if (requirement.NeedsScope && !caller.Has(requirement.Scope))
        {
            context.Response.Headers.WWWAuthenticate = $"{Challenge}, error=\"insufficient_scope\", scope=\"{requirement.Scope}\"";
            await ProblemWriter.WriteAsync(context, 403, ErrorCodes.InsufficientScope, "Insufficient scope", $"This operation needs the scope {requirement.Scope}.");
            return;
        }

        if (AudienceProblem(requirement.Audience, caller) is { } audienceProblem)
        {
            await ProblemWriter.WriteAsync(context, 403, ErrorCodes.Forbidden, "Forbidden", audienceProblem);
            return;
        }

        if (!await WithinRateLimitsAsync(context, caller, tenant) || !await WithinOperationsQuotaAsync(context, tenant))
        {
            return;
        }

        // A fail-closed audit failure below becomes 503 unavailable in the shared exception handler.
        context.Features.Set(caller);
        await next(context);
    }

    /// <summary>Why <paramref name="caller"/> is not of the endpoint's <paramref name="audience"/> (403 forbidden), or null when it is.</summary>
    internal static string? AudienceProblem(CallerAudience audience, Caller caller) => audience switch
    {
        CallerAudience.Tenant when caller.TenantId is null => "This endpoint needs a tenant credential.",
        CallerAudience.TenantOrPlatform when caller.TenantId is null && !caller.Has(Scopes.PlatformAdmin) => "This endpoint needs a tenant credential.",
        CallerAudience.Partner when caller.PartnerId is null => "This endpoint needs a partner administrator credential.",
        CallerAudience.Platform when caller.TenantId is not null || caller.PartnerId is not null => "This endpoint is for platform operators.",
        _ => null,
    };

    /// <summary>(null, reason) = invalid credential (401); (caller, reason) = valid but refused (403); (caller, null) = go on.</summary>
    private async Task<(Caller? Caller, string? Refusal)> AuthenticateAsync(HttpContext context, string presented)
    {
        if (ApiKeyAuthenticator.IsApiKey(presented))
        {
            if (DpopProofGate.UsesDpopScheme(context.Request))
            {
                return (null, DpopResourceRequest.UnboundToken); // the DPoP scheme is for sender-constrained access tokens only
            }

            var check = await apiKeys.AuthenticateAsync(presented, context.Connection.RemoteIpAddress, context.RequestAborted);
            if (check.Record is not { } record)
            {
                return (null, check.Refusal);
            }

            var caller = new Caller
            {
                Kind = CredentialKind.ApiKey,
                ActorType = AuditActorType.ApiKey,
                ActorId = record.Id.ToString(),
                TenantId = record.TenantId,
                PartnerId = record.PartnerId,
                Scopes = record.Scopes,
                ApiKeyId = record.Id,
                RateLimitPerMinute = record.RateLimitPerMinute,
            };
            return (caller, check.AddressAllowed ? null : check.Refusal);
        }

        var identity = await tokens.ValidateAsync(presented, context.RequestAborted);
        if (identity is null)
        {
            return (null, "invalid_access_token");
        }

        // Issued before its user was deleted, demoted or blocked, or its client deleted or re-keyed: refused at once, from memory.
        if (revocations.Refuses(identity))
        {
            return (null, "revoked_access_token");
        }

        // A sender-constrained token needs this request's proof (checked each time; a Redis error becomes 503).
        return await dpop.RefusalAsync(context.Request, presented, identity) is { } dpopRefusal ? (null, dpopRefusal) : FromAccessToken(identity);
    }

    internal static (Caller? Caller, string? Refusal) FromAccessToken(ClaimsIdentity identity)
    {
        var subject = identity.FindFirst(ClaimNames.Subject)?.Value;
        var clientId = identity.FindFirst(ClaimNames.ClientId)?.Value;
        if (string.IsNullOrEmpty(subject) && string.IsNullOrEmpty(clientId))
        {
            return (null, "access_token_without_subject");
        }

        Guid? tenantId = null;
        if (identity.FindFirst(ClaimNames.TenantId)?.Value is { Length: > 0 } tenantValue)
        {
            if (!Guid.TryParse(tenantValue, out var parsed))
            {
                return (null, "access_token_bad_tenant");
            }

            tenantId = parsed;
        }

        Guid? partnerId = null;
        if (identity.FindFirst(ClaimNames.PartnerId)?.Value is { Length: > 0 } partnerValue)
        {
            if (!Guid.TryParse(partnerValue, out var parsed))
            {
                return (null, "access_token_bad_partner");
            }

            partnerId = parsed;
        }

        var granted = identity.FindAll(ClaimNames.Scope).SelectMany(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var roles = identity.FindAll(ClaimNames.Role).Select(c => c.Value);

        // The scopes identity may issue are the ones honoured here (users: by roles and binding; clients: by owner).
        var effective = TokenScopes.Honoured(granted, roles, subject, clientId, tenantId, partnerId);
        var isClient = TokenScopes.IsClientToken(subject, clientId);
        return (new Caller
        {
            Kind = CredentialKind.AccessToken,
            ActorType = isClient ? AuditActorType.Client : AuditActorType.User,
            ActorId = (isClient ? clientId ?? subject : subject)!,
            TenantId = tenantId,
            PartnerId = partnerId,
            Scopes = effective,
            ClientId = clientId,
        }, null);
    }

    private async Task<bool> WithinRateLimitsAsync(HttpContext context, Caller caller, TenantAccess? tenant)
    {
        var buckets = new List<RateLimitBucket>(2)
        {
            new("cred:" + caller.CredentialId, caller.RateLimitPerMinute ?? rateLimits.DefaultPerCredential),
        };
        if (tenant?.Limits.RequestsPerMinute is { } perTenant)
        {
            buckets.Add(new("tenant:" + tenant.TenantId.ToString("N"), perTenant));
        }

        var decision = await rateLimiter.AcquireAsync(buckets);
        if (decision.Limit > 0)
        {
            var headers = context.Response.Headers;
            headers["RateLimit-Limit"] = decision.Limit.ToString(CultureInfo.InvariantCulture);
            headers["RateLimit-Remaining"] = decision.Remaining.ToString(CultureInfo.InvariantCulture);
            headers["RateLimit-Reset"] = decision.ResetSeconds.ToString(CultureInfo.InvariantCulture);
        }

        if (decision.Allowed)
        {
            return true;
        }

        context.Response.Headers.RetryAfter = decision.ResetSeconds.ToString(CultureInfo.InvariantCulture);
        await ProblemWriter.WriteAsync(context, 429, ErrorCodes.RateLimited, "Too many requests",
            $"The rate limit of {decision.Limit} requests per minute is reached; retry after {decision.ResetSeconds} s.");
        return false;
    }

    /// <summary>Writes and cryptographic operations are metered; reads never are, so a tenant over quota still reads its data.</summary>
    private async Task<bool> WithinOperationsQuotaAsync(HttpContext context, TenantAccess? tenant)
    {
        if (tenant is null || HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
        {
            return true;
        }

        OperationsConsumption consumption;
        try
        {
            consumption = await usage.TryConsumeOperationsAsync(tenant.TenantId, tenant.Limits.OperationsPerMonth, 1, context.RequestAborted);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Fail open: counted, and logged once per Redis outage (DependencyOutages), not once per request.
            outages.CountFailOpen(DependencyOutages.Redis, "operations_quota");
            return true;
        }

        if (consumption.Allowed)
        {
            return true;
        }

        await ProblemWriter.WriteAsync(context, 429, ErrorCodes.QuotaExceeded, "Quota exceeded",
            $"The plan's {consumption.Limit} operations for this month are used up; the period ends {consumption.PeriodEnd:O}.");
        return false;
    }
}
