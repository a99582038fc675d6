using Microsoft.AspNetCore.Http.HttpResults;
using Mislata.Api.Access;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.MasterKeys;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.MasterKeys;

/// <summary>An admin job's progress: <c>state</c> is queued | running | succeeded | failed; <c>error</c> says why it failed.</summary>
public sealed record AdminJobResponse(
    Guid Id, string Kind, string State, int Total, int Done, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error)
{
    public static AdminJobResponse From(AdminJob job) =>
        new(job.Id, job.Kind, job.State, job.Total, job.Done, job.CreatedAt, job.StartedAt, job.FinishedAt, job.Error);
}

/// <summary><c>GET /api/v1/admin/jobs</c>: the newest jobs first.</summary>
public sealed record AdminJobList(IReadOnlyList<AdminJobResponse> Data);

/// <summary>202 body of a rotation request: the job to poll and the master keys it moves between.</summary>
public sealed record MasterKeyRotationResponse(Guid JobId, string State, string FromMasterKeyId, string ToMasterKeyId);

/// <summary>
/// <c>POST /api/v1/admin/master-key/rotate</c> and <c>GET /api/v1/admin/jobs/{id}</c> (platform:admin): queue the rewrap of
/// every wrapped key from <c>QAPI_MASTER_KEY_PREVIOUS</c> to <c>QAPI_MASTER_KEY</c> (the worker runs it) and follow it.
/// </summary>
public static class MasterKeyRotationApi
{
    public const string RotateAction = "master_key.rotate";

    public static IEndpointRouteBuilder MapMasterKeyRotationApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/v1/admin").WithTags("Admin: master key").RequireScope(Scopes.PlatformAdmin, CallerAudience.Platform);
        admin.MapPost("/master-key/rotate", RotateAsync)
            .WithSummary("Rotate the master key")
            .WithDescription("Queues the job that rewraps the platform key and every tenant data key from QAPI_MASTER_KEY_PREVIOUS to QAPI_MASTER_KEY. " +
                "`202` with the job (Location: `/api/v1/admin/jobs/{id}`); `409 conflict` when QAPI_MASTER_KEY_PREVIOUS is not configured or a rotation is already queued or running.");
        admin.MapGet("/jobs", ListJobsAsync)
            .WithSummary("Admin jobs, newest first").WithDescription("`kind` (e.g. `master-key-rotation`) and `limit` 1..100 (default 20): `{data: [job…]}`.");
        admin.MapGet("/jobs/{id:guid}", GetJobAsync)
            .WithSummary("Admin job progress").WithDescription("`{id, kind, state, total, done, startedAt, finishedAt, error}`; `404` for an unknown job.");
        return app;
    }

    private static async Task<Results<Accepted<MasterKeyRotationResponse>, ProblemHttpResult>> RotateAsync(
        HttpContext http, MasterKeyRing masterKeys, AdminJobStore jobs, IAuditLog audit, CancellationToken ct)
    {
        if (masterKeys.Previous is not { } previous)
        {
            return Problem.Of(StatusCodes.Status409Conflict, ErrorCodes.Conflict, "No previous master key",
                $"{MasterKeyRing.PreviousVariable} is not configured: set {MasterKeyRing.CurrentVariable} to the new key and " +
                $"{MasterKeyRing.PreviousVariable} to the old one on every service, restart them, then request the rotation.");
        }

        var job = await jobs.QueueAsync(MasterKeyRotation.Kind, http.GetActor().ActorId, ct);
        if (job is null)
        {
            var running = await jobs.UnfinishedAsync(MasterKeyRotation.Kind, ct);
            return Problem.Of(StatusCodes.Status409Conflict, ErrorCodes.Conflict, "Rotation already running",
                running is null ? "A master-key rotation is already queued or running." : $"Master-key rotation {running.Id:D} is already {running.State}; follow it at /api/v1/admin/jobs/{running.Id:D}.");
        }

        try
        {
            await audit.RecordAsync(http.GetActor().Event(null, RotateAction, "admin_job", job.Id.ToString("D"), details: new Dictionary<string, string>
            {
                ["from"] = previous.Id,
                ["to"] = masterKeys.Current.Id,
            }), ct);
        }
        catch (AuditUnavailableException)
        {
            // Fail closed: a rotation nobody audited must not run.
            await jobs.FailAsync(job.Id, "The audit log was unavailable when the rotation was requested; nothing was changed.", CancellationToken.None);
            throw;
        }

        return TypedResults.Accepted($"/api/v1/admin/jobs/{job.Id:D}", new MasterKeyRotationResponse(job.Id, job.State, previous.Id, masterKeys.Current.Id));
    }

    private static async Task<Results<Ok<AdminJobList>, ProblemHttpResult>> ListJobsAsync(string? kind, string? limit, AdminJobStore jobs, CancellationToken ct)
    {
        var take = 20;
        var errors = new Dictionary<string, string[]>();
        if (limit is not null && (!int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out take) || take is < 1 or > 100))
        {
            errors["limit"] = ["must be a whole number from 1 to 100."];
        }

        if (kind is { Length: 0 or > 100 })
        {
            errors["kind"] = ["must be 1 to 100 characters."];
        }

        if (errors.Count > 0)
        {
            return Problem.Validation(errors);
        }

        return TypedResults.Ok(new AdminJobList([.. (await jobs.ListAsync(kind, take, ct)).Select(AdminJobResponse.From)]));
    }

    private static async Task<Results<Ok<AdminJobResponse>, ProblemHttpResult>> GetJobAsync(Guid id, AdminJobStore jobs, CancellationToken ct) =>
        await jobs.FindAsync(id, ct) is { } job
            ? TypedResults.Ok(AdminJobResponse.From(job))
            : Problem.Of(StatusCodes.Status404NotFound, ErrorCodes.NotFound, "Not found", "No admin job with this id.");
}
