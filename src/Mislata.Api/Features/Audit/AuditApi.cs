using Microsoft.AspNetCore.Http.HttpResults;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Audit;

/// <summary>
/// <c>/api/v1/audit</c> and <c>/audit/verify</c> (audit:read) over <see cref="IAuditReader"/>: a tenant credential reads
/// its tenant's trail; a platform operator reads the platform's own trail, or a tenant's with <c>?tenantId=</c>.
/// </summary>
public static class AuditApi
{
    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/audit").WithTags("Audit").RequireScope(Scopes.AuditRead, CallerAudience.TenantOrPlatform);
        group.MapGet("/", ListAsync);
        group.MapGet("/verify", VerifyAsync);
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

    private static async Task<Results<Ok<AuditVerification>, ProblemHttpResult>> VerifyAsync(HttpContext http, IAuditReader reader, Guid? tenantId, CancellationToken ct)
    {
        if (!TryChain(http, tenantId, out var chain, out var problem))
        {
            return problem!;
        }

        return TypedResults.Ok(await reader.VerifyAsync(chain, ct));
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
