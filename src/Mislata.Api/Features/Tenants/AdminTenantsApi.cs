using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Api.Features.Licence;
using Mislata.Api.Features.ApiKeys;
using Mislata.Core.Access;
using Mislata.Core.Tenants;
using Mislata.Infrastructure.ApiKeys;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Tenancy;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Tenants;

/// <summary><c>/api/v1/admin/tenants…</c> (platform:admin).</summary>
public static class AdminTenantsApi
{
    public static IEndpointRouteBuilder MapAdminTenantsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/admin/tenants").WithTags("Admin: tenants").RequireScope(Scopes.PlatformAdmin, CallerAudience.Platform);
        group.MapGet("/", ListAsync)
            .WithSummary("List tenants").WithDescription("Every tenant of the installation, paged (`limit` 1..100, `cursor`).");
        group.MapPost("/", CreateAsync).RequireLicence(LicensedCreation.Tenant).Idempotent()
            .WithSummary("Create a tenant").WithDescription("`{name, planId?, partnerId?, adminEmail?}` → `201`. `planId` is a plan id or code (Community by default). Creates the tenant's data key, wrapped by the master key. `403 license_restricted` beyond the licence's tenant limit.");
        group.MapGet("/{id:guid}", GetAsync)
            .WithSummary("Get a tenant").WithDescription("The tenant: status, plan, partner, admin e-mail, `secretVersionsKept`.");
        group.MapPatch("/{id:guid}", UpdateAsync)
            .WithSummary("Change a tenant").WithDescription("`name`, `planId`, `partnerId` or `removePartner`, `adminEmail`, `secretVersionsKept` (0 keeps every secret version).");
        group.MapDelete("/{id:guid}", DeleteAsync)
            .WithSummary("Delete a tenant").WithDescription("`204`. Destroys the tenant's data keys: its keys, payloads and secrets can never be decrypted again (crypto-shredding).");
        group.MapPost("/{id:guid}/suspend", (Guid id, HttpContext http, TenantAdministration admin, CancellationToken ct) => SetStatusAsync(id, TenantStatus.Suspended, http, admin, ct))
            .WithSummary("Suspend a tenant").WithDescription("Every credential of the tenant gets `403 forbidden` on every replica within a second; its data stays.");
        group.MapPost("/{id:guid}/reactivate", (Guid id, HttpContext http, TenantAdministration admin, CancellationToken ct) => SetStatusAsync(id, TenantStatus.Active, http, admin, ct))
            .WithSummary("Reactivate a tenant").WithDescription("Lifts a suspension.");
        group.MapPost("/{id:guid}/api-keys", CreateFirstApiKeyAsync).Idempotent()
            .WithSummary("Create an API key for a tenant").WithDescription("`{name, scopes?, expiresAt?, ipAllowlist?, rateLimitPerMinute?}` → `201` with `key`, shown once; every tenant scope by default. Typically the tenant's first key.");
        return app;
    }

    private static async Task<Results<Ok<Page<TenantResponse>>, ProblemHttpResult>> ListAsync(
        int? limit, string? cursor, Guid? partnerId, string? status, string? name, MislataDbContext db, CancellationToken ct)
    {
        if (!Paging.TryRead(limit, cursor, out var take, out var after, out var problem))
        {
            return problem!;
        }

        if (name is { Length: 0 or > 200 })
        {
            return Problem.Validation(new Dictionary<string, string[]> { ["name"] = ["must be 1 to 200 characters."] });
        }

        var query = db.Set<Tenant>().AsNoTracking();
        if (name is not null)
        {
            // A prefix, compared without regard to case (the operator's search box).
            var pattern = name.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%";
            query = query.Where(t => EF.Functions.ILike(t.Name, pattern, "\\"));
        }

        if (partnerId is { } p)
        {
            query = query.Where(t => t.PartnerId == p);
        }

        if (status is not null)
        {
            if (!TryParseStatus(status, out var s))
            {
                return Problem.Validation(new Dictionary<string, string[]> { ["status"] = ["must be active or suspended."] });
            }

            query = query.Where(t => t.Status == s);
        }

        return TypedResults.Ok(await ListPageAsync(query, take, after, ct));
    }

    internal static async Task<Page<TenantResponse>> ListPageAsync(IQueryable<Tenant> query, int take, Guid? after, CancellationToken ct)
    {
        if (after is { } a)
        {
            query = query.Where(t => t.Id > a);
        }

        var rows = await query.OrderBy(t => t.Id).Take(take + 1).ToListAsync(ct);
        return Paging.Page(rows, take, t => t.Id, TenantResponse.From);
    }

    private static async Task<Results<Created<TenantResponse>, ProblemHttpResult>> CreateAsync(
        CreateTenantRequest request, HttpContext http, TenantAdministration admin, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        var email = errors.Email("adminEmail", request.AdminEmail);
        errors.Name("planId", request.PlanId, required: false, max: 64);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var (tenant, error) = await admin.CreateAsync(new TenantDraft(name!, request.PlanId?.Trim(), request.PartnerId, email), http.GetActor(), byPartner: false, ct);
        return tenant is null ? ToProblem(error) : TypedResults.Created($"/api/v1/admin/tenants/{tenant.Id}", TenantResponse.From(tenant));
    }

    private static async Task<Results<Ok<TenantResponse>, ProblemHttpResult>> GetAsync(Guid id, MislataDbContext db, CancellationToken ct) =>
        await db.Set<Tenant>().AsNoTracking().SingleOrDefaultAsync(t => t.Id == id, ct) is { } tenant
            ? TypedResults.Ok(TenantResponse.From(tenant))
            : Problem.NotFound();

    private static async Task<Results<Ok<TenantResponse>, ProblemHttpResult>> UpdateAsync(
        Guid id, UpdateTenantRequest request, HttpContext http, TenantAdministration admin, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name, required: false);
        var email = errors.Email("adminEmail", request.AdminEmail);
        errors.Name("planId", request.PlanId, required: false, max: 64);
        errors.Range("secretVersionsKept", request.SecretVersionsKept, 0, Mislata.Core.Secrets.SecretLimits.MaxVersionsKept);
        if (request.RemovePartner == true && request.PartnerId is not null)
        {
            errors.Add("removePartner", "cannot be combined with partnerId.");
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        var (tenant, error) = await admin.UpdateAsync(id, new TenantChanges(name, request.PlanId?.Trim(), request.PartnerId, request.RemovePartner == true, email, request.SecretVersionsKept), http.GetActor(), ct);
        return tenant is null ? ToProblem(error) : TypedResults.Ok(TenantResponse.From(tenant));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(Guid id, HttpContext http, TenantAdministration admin, CancellationToken ct) =>
        await admin.DeleteAsync(id, http.GetActor(), ct) == TenancyError.None ? TypedResults.NoContent() : Problem.NotFound();

    private static async Task<Results<Ok<TenantResponse>, ProblemHttpResult>> SetStatusAsync(
        Guid id, TenantStatus status, HttpContext http, TenantAdministration admin, CancellationToken ct)
    {
        var (tenant, error) = await admin.SetStatusAsync(id, status, http.GetActor(), ct);
        return tenant is null ? ToProblem(error) : TypedResults.Ok(TenantResponse.From(tenant));
    }

    /// <summary>The first key of a new tenant: any tenant scopes (default: all of them).</summary>
    private static async Task<Results<Created<CreatedApiKeyResponse>, ProblemHttpResult>> CreateFirstApiKeyAsync(
        Guid id, CreateApiKeyRequest request, HttpContext http, ApiKeyIssuer issuer, MislataDbContext db, RateLimitOptions rateLimits, TimeProvider time, CancellationToken ct)
    {
        var draft = ApiKeysApi.Validate(request with { Scopes = request.Scopes ?? [.. Scopes.Tenant] }, Scopes.Tenant, time, out var problem);
        if (draft is null)
        {
            return problem!;
        }

        var inherited = await ApiKeysApi.WithinCreatorLimitsAsync(http.GetCaller(), draft, db, rateLimits, ct);
        if (inherited.Draft is null)
        {
            return inherited.Problem!;
        }

        draft = inherited.Draft;

        var (key, secret, error) = await issuer.IssueForTenantAsync(id, draft, http.GetActor(), ct);
        return error switch
        {
            ApiKeyError.None => TypedResults.Created($"/api/v1/api-keys/{key!.Id}", CreatedApiKeyResponse.From(key, secret!)),
            ApiKeyError.QuotaExceeded => Problem.Of(429, ErrorCodes.QuotaExceeded, "Quota exceeded", "The tenant's plan allows no more API keys."),
            _ => Problem.NotFound(),
        };
    }

    internal static bool TryParseStatus(string value, out TenantStatus status)
    {
        status = value switch { "active" => TenantStatus.Active, "suspended" => TenantStatus.Suspended, _ => (TenantStatus)(-1) };
        return (int)status >= 0;
    }

    internal static ProblemHttpResult ToProblem(TenancyError error) => error switch
    {
        TenancyError.PlanNotFound => Problem.Validation(new Dictionary<string, string[]> { ["planId"] = ["no such plan."] }),
        TenancyError.PartnerNotFound => Problem.Validation(new Dictionary<string, string[]> { ["partnerId"] = ["no such partner."] }),
        TenancyError.NameTaken => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "A tenant with this name exists."),
        TenancyError.PartnerAllowanceExceeded => Problem.Of(429, ErrorCodes.QuotaExceeded, "Quota exceeded", "The partner's tenant allowance is used up."),
        TenancyError.PlanNotAvailableToPartners => Problem.Of(403, ErrorCodes.Forbidden, "Forbidden", "The plan is not available to partners (availableToPartners is false)."),
        _ => Problem.NotFound(),
    };
}
