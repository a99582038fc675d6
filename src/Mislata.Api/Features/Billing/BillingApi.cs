using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Mislata.Api.Access;
using Mislata.Api.Features.Plans;
using Mislata.Core.Access;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Infrastructure.Persistence;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Billing;

public sealed record SubscriptionResponse(Guid TenantId, string Status, PlanResponse Plan);

/// <summary>One counted resource: <c>used</c> is null when no feature of this version counts it yet; <c>limit</c> null = unlimited.</summary>
public sealed record UsageFigure(long? Used, long? Limit);

public sealed record UsageResponse(
    Guid TenantId, string Plan, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, UsageFigure Operations, UsageFigure ApiKeys,
    UsageFigure Keys, UsageFigure Secrets, UsageFigure Users, int? RequestsPerMinute);

/// <summary>One month of <c>/billing/usage/history</c>: <c>final</c> is false for the month in progress.</summary>
public sealed record UsagePeriodResponse(DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, long Operations, bool Final);

public sealed record UsageHistoryResponse(Guid TenantId, IReadOnlyList<UsagePeriodResponse> Data);

/// <summary><c>/api/v1/billing/subscription</c>, <c>/billing/usage</c> and <c>/billing/usage/history</c> (billing:read).</summary>
public static class BillingApi
{
    public static IEndpointRouteBuilder MapBillingApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/billing").WithTags("Billing").RequireScope(Scopes.BillingRead);
        group.MapGet("/subscription", SubscriptionAsync)
            .WithSummary("The tenant's plan").WithDescription("The tenant's status and its plan with every limit (`null` = unlimited) and feature.");
        group.MapGet("/usage", UsageAsync)
            .WithSummary("Usage this month").WithDescription("The current UTC month: operations, keys, secrets, API keys and users, each with the plan's `limit` (`null` = unlimited).");
        group.MapGet("/usage/history", HistoryAsync)
            .WithSummary("Operations per month").WithDescription("`months` 1..36 (default 12), oldest first, ending with the month in progress; earlier months come from the worker's roll-up (months without operations count 0).");
        return app;
    }

    private static async Task<Results<Ok<SubscriptionResponse>, ProblemHttpResult>> SubscriptionAsync(HttpContext http, MislataDbContext db, CancellationToken ct)
    {
        var tenantId = http.GetCaller().TenantId!.Value;
        var row = await (from t in db.Set<Tenant>().AsNoTracking()
                         join p in db.Set<Plan>().AsNoTracking() on t.PlanId equals p.Id
                         where t.Id == tenantId
                         select new { t.Status, Plan = p }).SingleOrDefaultAsync(ct);
        return row is null
            ? Problem.NotFound()
            : TypedResults.Ok(new SubscriptionResponse(tenantId, row.Status == TenantStatus.Active ? "active" : "suspended", PlanResponse.From(row.Plan)));
    }

    private static async Task<Results<Ok<UsageResponse>, ProblemHttpResult>> UsageAsync(
        HttpContext http, ITenantPlanProvider plans, IUsageMeter usage, IEnumerable<ITenantResourceCounter> counters, CancellationToken ct)
    {
        var tenantId = http.GetCaller().TenantId!.Value;
        var access = await plans.GetAsync(tenantId, ct);
        if (access is null)
        {
            return Problem.NotFound();
        }

        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var counter in counters)
        {
            counts[counter.Resource] = await counter.CountAsync(tenantId, ct);
        }

        long? Used(string resource) => counts.TryGetValue(resource, out var n) ? n : null;
        var limits = access.Limits;
        var (start, end) = usage.CurrentPeriod();
        return TypedResults.Ok(new UsageResponse(
            tenantId, access.PlanCode, start, end,
            new UsageFigure(await usage.OperationsThisPeriodAsync(tenantId, ct), limits.OperationsPerMonth),
            new UsageFigure(Used("apiKeys"), limits.MaxApiKeys),
            new UsageFigure(Used("keys"), limits.MaxKeys),
            new UsageFigure(Used("secrets"), limits.MaxSecrets),
            new UsageFigure(Used("users"), limits.MaxUsers),
            limits.RequestsPerMinute));
    }

    private static async Task<Results<Ok<UsageHistoryResponse>, ProblemHttpResult>> HistoryAsync(
        string? months, HttpContext http, MislataDbContext db, IUsageMeter usage, CancellationToken ct)
    {
        var count = 12;
        if (months is not null && (!int.TryParse(months, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count) || count is < 1 or > 36))
        {
            return Problem.Validation(new Dictionary<string, string[]> { ["months"] = ["must be a whole number from 1 to 36."] });
        }

        var tenantId = http.GetCaller().TenantId!.Value;
        var (start, end) = usage.CurrentPeriod();
        var first = start.AddMonths(1 - count);
        var firstDay = DateOnly.FromDateTime(first.UtcDateTime);
        var rolledUp = await db.Set<Mislata.Infrastructure.Persistence.Usage.UsagePeriodRecord>().AsNoTracking()
            .Where(p => p.TenantId == tenantId && p.PeriodStart >= firstDay)
            .ToDictionaryAsync(p => p.PeriodStart, p => p.Operations, ct);
        var current = await usage.OperationsThisPeriodAsync(tenantId, ct);
        var data = new List<UsagePeriodResponse>(count);
        for (var month = first; month < end; month = month.AddMonths(1))
        {
            var inProgress = month == start;
            var operations = rolledUp.GetValueOrDefault(DateOnly.FromDateTime(month.UtcDateTime));
            data.Add(new UsagePeriodResponse(month, month.AddMonths(1), inProgress ? Math.Max(current, operations) : operations, !inProgress));
        }

        return TypedResults.Ok(new UsageHistoryResponse(tenantId, data));
    }
}
