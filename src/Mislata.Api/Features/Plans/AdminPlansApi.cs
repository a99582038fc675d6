using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Tenants;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Persistence;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Plans;

/// <summary>
/// Quotas: null = unlimited. <c>features</c>: feature flags (lower-case names). <c>availableToPartners</c>: whether
/// partners may create tenants on the plan (default false for a new plan).
/// </summary>
public sealed record PlanRequest(
    string? Code, string? Name, int? MaxKeys, int? MaxSecrets, int? MaxApiKeys, int? MaxUsers, long? OperationsPerMonth,
    int? RequestsPerMinute, IReadOnlyList<string?>? Features, bool? AvailableToPartners = null);

public sealed record PlanResponse(
    Guid Id, string Code, string Name, int? MaxKeys, int? MaxSecrets, int? MaxApiKeys, int? MaxUsers, long? OperationsPerMonth,
    int? RequestsPerMinute, IReadOnlyList<string> Features, bool AvailableToPartners, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static PlanResponse From(Plan p)
    {
        ArgumentNullException.ThrowIfNull(p);
        return new(p.Id, p.Code, p.Name, p.MaxKeys, p.MaxSecrets, p.MaxApiKeys, p.MaxUsers, p.OperationsPerMonth, p.RequestsPerMinute, p.Features,
            p.AvailableToPartners, p.CreatedAt, p.UpdatedAt);
    }
}

/// <summary><c>/api/v1/admin/plans</c> (platform:admin). PATCH changes only the fields given (a quota cannot be set back to unlimited by omission).</summary>
public static class AdminPlansApi
{
    public static IEndpointRouteBuilder MapAdminPlansApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/admin/plans").WithTags("Admin: plans").RequireScope(Scopes.PlatformAdmin, CallerAudience.Platform);
        group.MapGet("/", ListAsync)
            .WithSummary("List plans").WithDescription("Every plan with its limits and features.");
        group.MapGet("/{id:guid}", GetAsync)
            .WithSummary("Get a plan").WithDescription("One plan: `maxKeys`, `maxSecrets`, `maxApiKeys`, `maxUsers`, `operationsPerMonth`, `requestsPerMinute` (`null` = unlimited), `features`, `availableToPartners`.");
        group.MapPost("/", CreateAsync).Idempotent()
            .WithSummary("Create a plan").WithDescription("`{code, name, …limits, features?, availableToPartners?}` → `201`; `code` is unique.");
        group.MapPatch("/{id:guid}", UpdateAsync)
            .WithSummary("Change a plan").WithDescription("Changes only the members given; a limit becomes unlimited only by an explicit `null`. Applies to the plan's tenants at once.");
        return app;
    }

    private static async Task<Ok<Page<PlanResponse>>> ListAsync(MislataDbContext db, CancellationToken ct) =>
        TypedResults.Ok(new Page<PlanResponse>([.. (await db.Set<Plan>().AsNoTracking().OrderBy(p => p.CreatedAt).ThenBy(p => p.Code).ToListAsync(ct)).Select(PlanResponse.From)], null));

    private static async Task<Results<Ok<PlanResponse>, ProblemHttpResult>> GetAsync(Guid id, MislataDbContext db, CancellationToken ct) =>
        await db.Set<Plan>().AsNoTracking().SingleOrDefaultAsync(p => p.Id == id, ct) is { } plan ? TypedResults.Ok(PlanResponse.From(plan)) : Problem.NotFound();

    private static async Task<Results<Created<PlanResponse>, ProblemHttpResult>> CreateAsync(
        PlanRequest request, HttpContext http, MislataDbContext db, IAuditLog audit, TimeProvider time, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var code = Code(errors, request.Code, required: true);
        var name = errors.Name("name", request.Name);
        var features = Features(errors, request.Features);
        ValidateLimits(errors, request);
        if (errors.Any)
        {
            return errors.Problem();
        }

        if (await db.Set<Plan>().AnyAsync(p => p.Code == code, ct))
        {
            return Problem.Of(409, ErrorCodes.Conflict, "Conflict", "A plan with this code exists.");
        }

        var now = time.GetUtcNow();
        var plan = new Plan(Guid.CreateVersion7(now), code!, name!, Limits(request, null), features ?? [], now);
        plan.SetAvailableToPartners(request.AvailableToPartners == true, now);
        db.Add(plan);
        await audit.RecordAsync(http.GetActor().Event(null, "plan.create", "plan", plan.Id.ToString(), details: new Dictionary<string, string> { ["code"] = plan.Code }), ct);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/v1/admin/plans/{plan.Id}", PlanResponse.From(plan));
    }

    private static async Task<Results<Ok<PlanResponse>, ProblemHttpResult>> UpdateAsync(
        Guid id, PlanRequest request, HttpContext http, MislataDbContext db, IAuditLog audit, AccessInvalidation invalidation, TimeProvider time, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name, required: false);
        var features = Features(errors, request.Features);
        ValidateLimits(errors, request);
        if (request.Code is not null)
        {
            errors.Add("code", "cannot be changed.");
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        var plan = await db.Set<Plan>().SingleOrDefaultAsync(p => p.Id == id, ct);
        if (plan is null)
        {
            return Problem.NotFound();
        }

        var now = time.GetUtcNow();
        if (name is not null)
        {
            plan.Rename(name, now);
        }

        if (features is not null)
        {
            plan.SetFeatures(features, now);
        }

        if (request.AvailableToPartners is { } available)
        {
            plan.SetAvailableToPartners(available, now);
        }

        plan.SetLimits(Limits(request, plan.Limits));
        plan.Touch(now);
        await audit.RecordAsync(http.GetActor().Event(null, "plan.update", "plan", plan.Id.ToString()), ct);
        await db.SaveChangesAsync(ct);
        await invalidation.PublishAsync(AccessInvalidation.Plans);
        return TypedResults.Ok(PlanResponse.From(plan));
    }

    private static PlanLimits Limits(PlanRequest r, PlanLimits? current) => new(
        r.MaxKeys ?? current?.MaxKeys,
        r.MaxSecrets ?? current?.MaxSecrets,
        r.MaxApiKeys ?? current?.MaxApiKeys,
        r.MaxUsers ?? current?.MaxUsers,
        r.OperationsPerMonth ?? current?.OperationsPerMonth,
        r.RequestsPerMinute ?? current?.RequestsPerMinute);

    private static void ValidateLimits(FieldErrors errors, PlanRequest r)
    {
        errors.Range("maxKeys", r.MaxKeys, 0, 10_000_000);
        errors.Range("maxSecrets", r.MaxSecrets, 0, 10_000_000);
        errors.Range("maxApiKeys", r.MaxApiKeys, 0, 1_000_000);
        errors.Range("maxUsers", r.MaxUsers, 0, 10_000_000);
        errors.Range("operationsPerMonth", r.OperationsPerMonth, 0, 1_000_000_000_000);
        errors.Range("requestsPerMinute", r.RequestsPerMinute, 1, 10_000_000);
    }

    private static string? Code(FieldErrors errors, string? value, bool required)
    {
        var code = errors.Name("code", value, required, max: 64);
        if (code is not null && !code.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            errors.Add("code", "must be lower-case letters, digits and '-'.");
            return null;
        }

        return code;
    }

    private static List<string>? Features(FieldErrors errors, IReadOnlyList<string?>? values)
    {
        if (values is null)
        {
            return null;
        }

        if (values.Count > 64)
        {
            errors.Add("features", "must have at most 64 entries.");
            return null;
        }

        var result = new List<string>();
        foreach (var value in values)
        {
            if (value is not { Length: > 0 and <= 64 } || !value.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.'))
            {
                errors.Add("features", "each must be 1 to 64 lower-case letters, digits, '-' or '.'.");
                return null;
            }

            if (!result.Contains(value))
            {
                result.Add(value);
            }
        }

        return result;
    }
}
