using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Infrastructure.RateLimiting;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Audit;

/// <summary>
/// <c>/api/v1/audit</c> and <c>/audit/verify</c> (audit:read) over <see cref="IAuditReader"/>: a tenant credential reads
/// its tenant's trail; a platform operator reads the platform's own trail, or a tenant's with <c>?tenantId=</c>.
/// <c>/audit/verify</c> is incremental: each call reads at most <c>?limit=</c> rows (1..10000, default 10000) from the
/// chain's stored checkpoint, answers <c>complete: false</c> while newer links remain, and is limited to
/// <see cref="VerifyCallsPerMinute"/> calls per minute per chain across replicas (429 <c>rate_limited</c> with <c>Retry-After</c>).
/// </summary>
public static class AuditApi
{
    public const int VerifyCallsPerMinute = 20;

    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/audit").WithTags("Audit").RequireScope(Scopes.AuditRead, CallerAudience.TenantOrPlatform);
        group.MapGet("/", ListAsync)
            .WithSummary("Audit events").WithDescription("Filters `from`, `to`, `action`, `actorId`, `resourceId`, `outcome`; paged. Events carry ids, versions and outcomes, never data, secrets or key material. A platform operator may name `tenantId`.");
        group.MapGet("/verify", VerifyAsync)
            .WithSummary("Verify the audit chain").WithDescription("Recomputes the tenant's keyed hash chain: `{valid, checked, firstInvalidEventId}`.");
        return app;
    }

    private static async Task<Results<Ok<AuditPage>, ProblemHttpResult>> ListAsync(
        HttpContext http, IAuditReader reader, DateTimeOffset? from, DateTimeOffset? to, string? action, string? actorId, string? resourceId,
        string? outcome, int? limit, string? cursor, Guid? tenantId, CancellationToken ct)
    {
        var errors = new FieldErrors();
        AuditOutcome? parsedOutcome = outcome switch
        {
            null => null,
            "success" => AuditOutcome.Success,
            "failure" => AuditOutcome.Failure,
            "denied" => AuditOutcome.Denied,
            _ => (AuditOutcome)(-1),
        };
        if (parsedOutcome == (AuditOutcome)(-1))
        {
            errors.Add("outcome", "must be success, failure or denied.");
        }

        errors.Range("limit", limit, 1, 100);
        errors.Name("action", action, required: false, max: 100);
        errors.Name("actorId", actorId, required: false, max: 200);
        errors.Name("resourceId", resourceId, required: false, max: 200);
        if (from is { } f && to is { } t && f > t)
        {
            errors.Add("from", "must not be after to.");
        }

        if (cursor is { Length: > 512 })
        {
            errors.Add("cursor", "is not a cursor this API returned.");
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        if (!TryChain(http, tenantId, out var chain, out var problem))
        {
            return problem!;
        }

        try
        {
            return TypedResults.Ok(await reader.ListAsync(new AuditQuery
            {
                TenantId = chain,
                From = from,
                To = to,
                Action = action,
                ActorId = actorId,
                ResourceId = resourceId,
                Outcome = parsedOutcome,
                Limit = limit ?? 50,
                Cursor = cursor,
            }, ct));
        }
        catch (ArgumentException)
        {
            return Problem.Of(400, ErrorCodes.InvalidRequest, "Invalid cursor", "The cursor is not one this API returned.");
        }
    }

    private static async Task<Results<Ok<AuditVerification>, ProblemHttpResult>> VerifyAsync(
        HttpContext http, IAuditReader reader, RedisRateLimiter rateLimiter, Guid? tenantId, int? limit, CancellationToken ct)
    {
        var errors = new FieldErrors();
        errors.Range("limit", limit, 1, PostgresAuditReader.MaxVerifyRows);
        if (errors.Any)
        {
            return errors.Problem();
        }

        if (!TryChain(http, tenantId, out var chain, out var problem))
        {
            return problem!;
        }

        // Verification reads up to 10 000 rows: its own limit per chain, shared by every replica.
        var decision = await rateLimiter.AcquireAsync([new RateLimitBucket("audit-verify:" + (chain?.ToString("N") ?? "platform"), VerifyCallsPerMinute)]);
        if (!decision.Allowed)
        {
            http.Response.Headers.RetryAfter = decision.ResetSeconds.ToString(CultureInfo.InvariantCulture);
            return Problem.Of(429, ErrorCodes.RateLimited, "Too many requests",
                $"Audit verification is limited to {VerifyCallsPerMinute} calls per minute per tenant; retry after {decision.ResetSeconds} s.");
        }

        return TypedResults.Ok(await reader.VerifyAsync(chain, limit ?? PostgresAuditReader.MaxVerifyRows, ct));
    }

    private static bool TryChain(HttpContext http, Guid? requested, out Guid? chain, out ProblemHttpResult? problem)
    {
        var caller = http.GetCaller();
        problem = null;
        chain = caller.TenantId;
        if (caller.TenantId is { } own)
        {
            // A tenant names no other chain than its own; another tenant's is not found.
            if (requested is { } r && r != own)
            {
                problem = Problem.NotFound();
                return false;
            }

            return true;
        }

        chain = requested;
        return true;
    }
}
