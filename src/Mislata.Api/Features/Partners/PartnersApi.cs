using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Api.Features.Licence;
using Mislata.Api.Features.ApiKeys;
using Mislata.Api.Features.Tenants;
using Mislata.Core.Access;
using Mislata.Core.ApiKeys;
using Mislata.Core.Audit;
using Mislata.Core.Partners;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.ApiKeys;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Tenancy;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Partners;

public sealed record PartnerRequest(string? Name, string? ContactEmail, int? MaxTenants);

public sealed record PartnerResponse(Guid Id, string Name, string? ContactEmail, int? MaxTenants, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static PartnerResponse From(Partner p)
    {
        ArgumentNullException.ThrowIfNull(p);
        return new(p.Id, p.Name, p.ContactEmail, p.MaxTenants, p.CreatedAt, p.UpdatedAt);
    }
}

public sealed record CreatePartnerTenantRequest(string? Name, string? PlanId, string? AdminEmail);

public sealed record PartnerTenantUsage(Guid TenantId, string Name, string Status, long OperationsThisPeriod);

public sealed record PartnerUsageResponse(Guid PartnerId, int Tenants, int? MaxTenants, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, IReadOnlyList<PartnerTenantUsage> PerTenant);

/// <summary>
/// <c>/api/v1/admin/partners</c> (platform:admin) and the partner portal <c>/api/v1/partner/…</c> (partner:admin).
/// A partner admin is a credential bound to one partner: an access token with a <c>partner_id</c> claim (role
/// partner-admin) or a partner API key issued by an operator (<c>POST /admin/partners/{id}/api-keys</c>; listed with
/// GET and revoked with DELETE <c>/admin/partners/{id}/api-keys/{keyId}</c>, the shapes of <c>/api-keys</c>). A partner
/// key expires: <see cref="PartnerKeyDefaultLifetime"/> after its creation when <c>expiresAt</c> is absent, at most
/// <see cref="PartnerKeyMaxLifetime"/>. A partner sees and creates only its partner's tenants (another partner's tenant
/// is 404), on plans marked <c>availableToPartners</c> only (another plan is <c>403 forbidden</c>).
/// </summary>
public static class PartnersApi
{
    public static readonly TimeSpan PartnerKeyDefaultLifetime = TimeSpan.FromDays(90);
    public static readonly TimeSpan PartnerKeyMaxLifetime = TimeSpan.FromDays(365);

    public static IEndpointRouteBuilder MapPartnersApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/v1/admin/partners").WithTags("Admin: partners").RequireScope(Scopes.PlatformAdmin, CallerAudience.Platform);
        admin.MapGet("/", ListAsync)
            .WithSummary("List partners").WithDescription("Every partner, paged.");
        admin.MapPost("/", CreateAsync).Idempotent()
            .WithSummary("Create a partner").WithDescription("`{name, contactEmail?, maxTenants?}` → `201`.");
        admin.MapGet("/{id:guid}", GetAsync)
            .WithSummary("Get a partner").WithDescription("One partner.");
        admin.MapPatch("/{id:guid}", UpdateAsync)
            .WithSummary("Change a partner").WithDescription("`name`, `contactEmail`, `maxTenants`.");
        admin.MapDelete("/{id:guid}", DeleteAsync)
            .WithSummary("Delete a partner").WithDescription("`204`; `409 conflict` while the partner still owns tenants (move or delete them first).");
        admin.MapPost("/{id:guid}/api-keys", CreatePartnerKeyAsync).Idempotent()
            .WithSummary("Create a partner API key").WithDescription("`{name, expiresAt?, ipAllowlist?, rateLimitPerMinute?}` → `201` with `key` (scope `partner:admin`), shown once.");
        admin.MapGet("/{id:guid}/api-keys", ListPartnerKeysAsync)
            .WithSummary("List a partner's API keys").WithDescription("Metadata only; never the keys.");
        admin.MapGet("/{id:guid}/api-keys/{keyId:guid}", GetPartnerKeyAsync)
            .WithSummary("Get a partner API key").WithDescription("Metadata only; never the key.");
        admin.MapDelete("/{id:guid}/api-keys/{keyId:guid}", RevokePartnerKeyAsync)
            .WithSummary("Revoke a partner API key").WithDescription("`204`; refused by every replica at once.");

        var portal = app.MapGroup("/api/v1/partner").WithTags("Partner").RequireScope(Scopes.PartnerAdmin, CallerAudience.Partner);
        portal.MapGet("/tenants", ListTenantsAsync)
            .WithSummary("The partner's tenants").WithDescription("Only the calling partner's tenants, paged.");
        portal.MapPost("/tenants", CreateTenantAsync).RequireLicence(LicensedCreation.Tenant).Idempotent()
            .WithSummary("Create a tenant as a partner").WithDescription("`{name, planId?, adminEmail?}` → `201`; the plan must be open to partners, within the partner's `maxTenants`.");
        portal.MapGet("/tenants/{id:guid}", GetTenantAsync)
            .WithSummary("Get one of the partner's tenants").WithDescription("Another partner's tenant is `404`.");
        portal.MapGet("/usage", UsageAsync)
            .WithSummary("The partner's usage").WithDescription("Tenant count against `maxTenants` and each tenant's operations this month.");
        return app;
    }

    private static async Task<Results<Ok<Page<PartnerResponse>>, ProblemHttpResult>> ListAsync(int? limit, string? cursor, MislataDbContext db, CancellationToken ct)
    {
        if (!Paging.TryRead(limit, cursor, out var take, out var after, out var problem))
        {
            return problem!;
        }

        var query = db.Set<Partner>().AsNoTracking();
        if (after is { } a)
        {
            query = query.Where(p => p.Id > a);
        }

        var rows = await query.OrderBy(p => p.Id).Take(take + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, p => p.Id, PartnerResponse.From));
    }

    private static async Task<Results<Created<PartnerResponse>, ProblemHttpResult>> CreateAsync(
        PartnerRequest request, HttpContext http, MislataDbContext db, IAuditLog audit, TimeProvider time, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        var email = errors.Email("contactEmail", request.ContactEmail);
        errors.Range("maxTenants", request.MaxTenants, 0, 1_000_000);
        if (errors.Any)
        {
            return errors.Problem();
        }

        if (await db.Set<Partner>().AnyAsync(p => p.Name == name, ct))
        {
            return Problem.Of(409, ErrorCodes.Conflict, "Conflict", "A partner with this name exists.");
        }

        var now = time.GetUtcNow();
        var partner = new Partner(Guid.CreateVersion7(now), name!, email, request.MaxTenants, now);
        db.Add(partner);
        await audit.RecordAsync(http.GetActor().Event(null, "partner.create", "partner", partner.Id.ToString()), ct);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/v1/admin/partners/{partner.Id}", PartnerResponse.From(partner));
    }

    private static async Task<Results<Ok<PartnerResponse>, ProblemHttpResult>> GetAsync(Guid id, MislataDbContext db, CancellationToken ct) =>
        await db.Set<Partner>().AsNoTracking().SingleOrDefaultAsync(p => p.Id == id, ct) is { } partner ? TypedResults.Ok(PartnerResponse.From(partner)) : Problem.NotFound();

    private static async Task<Results<Ok<PartnerResponse>, ProblemHttpResult>> UpdateAsync(
        Guid id, PartnerRequest request, HttpContext http, MislataDbContext db, IAuditLog audit, TimeProvider time, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name, required: false);
        var email = errors.Email("contactEmail", request.ContactEmail);
        errors.Range("maxTenants", request.MaxTenants, 0, 1_000_000);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var partner = await db.Set<Partner>().SingleOrDefaultAsync(p => p.Id == id, ct);
        if (partner is null)
        {
            return Problem.NotFound();
        }

        if (name is not null && name != partner.Name && await db.Set<Partner>().AnyAsync(p => p.Name == name, ct))
        {
            return Problem.Of(409, ErrorCodes.Conflict, "Conflict", "A partner with this name exists.");
        }

        partner.Update(name ?? partner.Name, email ?? partner.ContactEmail, request.MaxTenants ?? partner.MaxTenants, time.GetUtcNow());
        await audit.RecordAsync(http.GetActor().Event(null, "partner.update", "partner", partner.Id.ToString()), ct);
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(PartnerResponse.From(partner));
    }

    /// <summary>A partner that still owns tenants cannot be deleted (409): move or delete its tenants first.</summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        Guid id, HttpContext http, MislataDbContext db, IAuditLog audit, AccessInvalidation invalidation, CancellationToken ct)
    {
        var partner = await db.Set<Partner>().SingleOrDefaultAsync(p => p.Id == id, ct);
        if (partner is null)
        {
            return Problem.NotFound();
        }

        if (await db.Set<Tenant>().AnyAsync(t => t.PartnerId == id, ct))
        {
            return Problem.Of(409, ErrorCodes.Conflict, "Conflict", "The partner still owns tenants.");
        }

        db.Remove(partner);
        await audit.RecordAsync(http.GetActor().Event(null, "partner.delete", "partner", id.ToString()), ct);
        await db.SaveChangesAsync(ct);
        await invalidation.PublishAsync("partner:" + id.ToString("N"));
        return TypedResults.NoContent();
    }

    private static async Task<Results<Created<CreatedApiKeyResponse>, ProblemHttpResult>> CreatePartnerKeyAsync(
        Guid id, CreateApiKeyRequest request, HttpContext http, ApiKeyIssuer issuer, MislataDbContext db, RateLimitOptions rateLimits, TimeProvider time,
        CancellationToken ct)
    {
        var draft = ApiKeysApi.Validate(request with { Scopes = request.Scopes ?? [Scopes.PartnerAdmin] }, [Scopes.PartnerAdmin], time, out var problem);
        if (draft is null)
        {
            return problem!;
        }

        var now = time.GetUtcNow();
        if (draft.ExpiresAt > now + PartnerKeyMaxLifetime)
        {
            return Problem.Validation(new Dictionary<string, string[]>
            {
                ["expiresAt"] = [$"a partner key lives at most {PartnerKeyMaxLifetime.TotalDays:0} days."],
            });
        }

        var inherited = await ApiKeysApi.WithinCreatorLimitsAsync(http.GetCaller(), draft, db, rateLimits, ct);
        if (inherited.Draft is null)
        {
            return inherited.Problem!;
        }

        draft = inherited.Draft;

        // Partner keys reach every tenant of the partner: they never live forever.
        draft = draft with { ExpiresAt = draft.ExpiresAt ?? now + PartnerKeyDefaultLifetime };
        var (key, secret, error) = await issuer.IssueForPartnerAsync(id, draft, http.GetActor(), ct);
        return error == ApiKeyError.None
            ? TypedResults.Created($"/api/v1/admin/partners/{id}/api-keys/{key!.Id}", CreatedApiKeyResponse.From(key, secret!))
            : Problem.NotFound();
    }

    private static async Task<Results<Ok<Page<ApiKeyResponse>>, ProblemHttpResult>> ListPartnerKeysAsync(
        Guid id, int? limit, string? cursor, MislataDbContext db, TimeProvider time, CancellationToken ct)
    {
        if (!Paging.TryRead(limit, cursor, out var take, out var after, out var problem))
        {
            return problem!;
        }

        if (!await db.Set<Partner>().AnyAsync(p => p.Id == id, ct))
        {
            return Problem.NotFound();
        }

        var query = db.Set<ApiKey>().AsNoTracking().Where(k => k.PartnerId == id);
        if (after is { } a)
        {
            query = query.Where(k => k.Id > a);
        }

        var rows = await query.OrderBy(k => k.Id).Take(take + 1).ToListAsync(ct);
        var now = time.GetUtcNow();
        return TypedResults.Ok(Paging.Page(rows, take, k => k.Id, k => ApiKeyResponse.From(k, now)));
    }

    private static async Task<Results<Ok<ApiKeyResponse>, ProblemHttpResult>> GetPartnerKeyAsync(
        Guid id, Guid keyId, MislataDbContext db, TimeProvider time, CancellationToken ct) =>
        await db.Set<ApiKey>().AsNoTracking().SingleOrDefaultAsync(k => k.PartnerId == id && k.Id == keyId, ct) is { } key
            ? TypedResults.Ok(ApiKeyResponse.From(key, time.GetUtcNow()))
            : Problem.NotFound();

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokePartnerKeyAsync(
        Guid id, Guid keyId, HttpContext http, ApiKeyIssuer issuer, CancellationToken ct) =>
        await issuer.RevokeForPartnerAsync(id, keyId, http.GetActor(), ct) ? TypedResults.NoContent() : Problem.NotFound();

    private static async Task<Results<Ok<Page<TenantResponse>>, ProblemHttpResult>> ListTenantsAsync(
        int? limit, string? cursor, HttpContext http, MislataDbContext db, CancellationToken ct)
    {
        if (!Paging.TryRead(limit, cursor, out var take, out var after, out var problem))
        {
            return problem!;
        }

        var partnerId = http.GetCaller().PartnerId!.Value;
        return TypedResults.Ok(await AdminTenantsApi.ListPageAsync(db.Set<Tenant>().AsNoTracking().Where(t => t.PartnerId == partnerId), take, after, ct));
    }

    private static async Task<Results<Created<TenantResponse>, ProblemHttpResult>> CreateTenantAsync(
        CreatePartnerTenantRequest request, HttpContext http, TenantAdministration admin, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        var email = errors.Email("adminEmail", request.AdminEmail);
        errors.Name("planId", request.PlanId, required: false, max: 64);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var partnerId = http.GetCaller().PartnerId!.Value;
        var (tenant, error) = await admin.CreateAsync(new TenantDraft(name!, request.PlanId?.Trim(), partnerId, email), http.GetActor(), byPartner: true, ct);
        return tenant is null
            ? error == TenancyError.PartnerNotFound ? Problem.Of(403, ErrorCodes.Forbidden, "Forbidden", "The partner no longer exists.") : AdminTenantsApi.ToProblem(error)
            : TypedResults.Created($"/api/v1/partner/tenants/{tenant.Id}", TenantResponse.From(tenant));
    }

    private static async Task<Results<Ok<TenantResponse>, ProblemHttpResult>> GetTenantAsync(Guid id, HttpContext http, MislataDbContext db, CancellationToken ct)
    {
        var partnerId = http.GetCaller().PartnerId!.Value;
        return await db.Set<Tenant>().AsNoTracking().SingleOrDefaultAsync(t => t.PartnerId == partnerId && t.Id == id, ct) is { } tenant
            ? TypedResults.Ok(TenantResponse.From(tenant))
            : Problem.NotFound();
    }

    private static async Task<Ok<PartnerUsageResponse>> UsageAsync(HttpContext http, MislataDbContext db, IUsageMeter usage, CancellationToken ct)
    {
        var partnerId = http.GetCaller().PartnerId!.Value;
        var maxTenants = await db.Set<Partner>().Where(p => p.Id == partnerId).Select(p => p.MaxTenants).SingleOrDefaultAsync(ct);
        var tenants = await db.Set<Tenant>().AsNoTracking().Where(t => t.PartnerId == partnerId).OrderBy(t => t.Id).ToListAsync(ct);
        var perTenant = new List<PartnerTenantUsage>(tenants.Count);
        foreach (var t in tenants)
        {
            perTenant.Add(new PartnerTenantUsage(t.Id, t.Name, t.Status == TenantStatus.Active ? "active" : "suspended", await usage.OperationsThisPeriodAsync(t.Id, ct)));
        }

        var (start, end) = usage.CurrentPeriod();
        return TypedResults.Ok(new PartnerUsageResponse(partnerId, tenants.Count, maxTenants, start, end, perTenant));
    }
}
