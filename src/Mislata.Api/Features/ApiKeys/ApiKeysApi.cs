using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Core.Access;
using Mislata.Core.ApiKeys;
using Mislata.Infrastructure.ApiKeys;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Persistence;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.ApiKeys;

public sealed record CreateApiKeyRequest(string? Name, IReadOnlyList<string?>? Scopes, DateTimeOffset? ExpiresAt, IReadOnlyList<string?>? IpAllowlist, int? RateLimitPerMinute);

public sealed record ApiKeyResponse(
    Guid Id, string Prefix, string Name, IReadOnlyList<string> Scopes, DateTimeOffset? ExpiresAt, IReadOnlyList<string> IpAllowlist,
    int? RateLimitPerMinute, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, string Status)
{
    public static ApiKeyResponse From(ApiKey k, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(k);
        var status = k.IsRevoked ? "revoked" : k.ExpiresAt is { } e && e <= now ? "expired" : "active";
        return new(k.Id, k.Prefix, k.Name, k.Scopes, k.ExpiresAt, k.IpAllowlist, k.RateLimitPerMinute, k.CreatedAt, k.RevokedAt, status);
    }
}

/// <summary>The 201 answer: the only time <c>key</c> is shown.</summary>
public sealed record CreatedApiKeyResponse(
    Guid Id, string Key, string Prefix, string Name, IReadOnlyList<string> Scopes, DateTimeOffset? ExpiresAt,
    IReadOnlyList<string> IpAllowlist, int? RateLimitPerMinute, DateTimeOffset CreatedAt)
{
    public static CreatedApiKeyResponse From(ApiKey k, string key)
    {
        ArgumentNullException.ThrowIfNull(k);
        return new(k.Id, key, k.Prefix, k.Name, k.Scopes, k.ExpiresAt, k.IpAllowlist, k.RateLimitPerMinute, k.CreatedAt);
    }
}

/// <summary>
/// <c>/api/v1/api-keys</c>. A key gets only scopes its creator holds: an unknown scope is <c>400 validation_failed</c>,
/// a known scope the creator lacks is <c>403 insufficient_scope</c>. A key created by an API key also inherits that key's
/// limits (<see cref="ApiKeyLimits.Inherit"/>): a later expiry, a wider allowlist or a higher rate limit is
/// <c>403 forbidden</c> naming the limit; what the request leaves out is the creating key's.
/// </summary>
public static class ApiKeysApi
{
    public static IEndpointRouteBuilder MapApiKeysApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/api-keys").WithTags("API keys");
        group.MapPost("/", CreateAsync).RequireScope(Scopes.ApiKeysWrite).Idempotent()
            .WithSummary("Create an API key").WithDescription("`{name, scopes[], expiresAt?, ipAllowlist?[] (CIDR), rateLimitPerMinute?}` → `201` with `key`, shown once. Only scopes the caller holds; a key made by a key inherits its expiry, allowlist and rate limit as upper bounds.");
        group.MapGet("/", ListAsync).RequireScope(Scopes.ApiKeysRead)
            .WithSummary("List API keys").WithDescription("The tenant's keys with prefix, scopes, limits and `status` (`active`, `expired`, `revoked`); never the key.");
        group.MapGet("/{id:guid}", GetAsync).RequireScope(Scopes.ApiKeysRead)
            .WithSummary("Get an API key").WithDescription("One key's metadata; never the key.");
        group.MapDelete("/{id:guid}", RevokeAsync).RequireScope(Scopes.ApiKeysWrite)
            .WithSummary("Revoke an API key").WithDescription("`204`; refused by every replica at once.");
        return app;
    }

    private static async Task<Results<Created<CreatedApiKeyResponse>, ProblemHttpResult>> CreateAsync(
        CreateApiKeyRequest request, HttpContext http, ApiKeyIssuer issuer, MislataDbContext db, RateLimitOptions rateLimits, TimeProvider time, CancellationToken ct)
    {
        var caller = http.GetCaller();
        var draft = Validate(request, Scopes.Tenant, time, out var problem);
        if (draft is null)
        {
            return problem!;
        }

        var lacking = draft.Scopes.Where(s => !caller.Has(s)).ToList();
        if (lacking.Count > 0)
        {
            return Problem.Of(403, ErrorCodes.InsufficientScope, "Insufficient scope",
                $"A key can only be given scopes its creator holds; missing: {string.Join(' ', lacking)}.");
        }

        var inherited = await WithinCreatorLimitsAsync(caller, draft, db, rateLimits, ct);
        if (inherited.Draft is null)
        {
            return inherited.Problem!;
        }

        draft = inherited.Draft;

        var (key, secret, error) = await issuer.IssueForTenantAsync(caller.TenantId!.Value, draft, http.GetActor(), ct);
        return error switch
        {
            ApiKeyError.None => TypedResults.Created($"/api/v1/api-keys/{key!.Id}", CreatedApiKeyResponse.From(key, secret!)),
            ApiKeyError.QuotaExceeded => Problem.Of(429, ErrorCodes.QuotaExceeded, "Quota exceeded", "The plan allows no more API keys."),
            _ => Problem.NotFound(),
        };
    }

    private static async Task<Results<Ok<Page<ApiKeyResponse>>, ProblemHttpResult>> ListAsync(
        int? limit, string? cursor, HttpContext http, MislataDbContext db, TimeProvider time, CancellationToken ct)
    {
        if (!Paging.TryRead(limit, cursor, out var take, out var after, out var problem))
        {
            return problem!;
        }

        var tenantId = http.GetCaller().TenantId!.Value;
        var query = db.Set<ApiKey>().AsNoTracking().Where(k => k.TenantId == tenantId);
        if (after is { } a)
        {
            query = query.Where(k => k.Id > a);
        }

        var rows = await query.OrderBy(k => k.Id).Take(take + 1).ToListAsync(ct);
        var now = time.GetUtcNow();
        return TypedResults.Ok(Paging.Page(rows, take, k => k.Id, k => ApiKeyResponse.From(k, now)));
    }

    private static async Task<Results<Ok<ApiKeyResponse>, ProblemHttpResult>> GetAsync(
        Guid id, HttpContext http, MislataDbContext db, TimeProvider time, CancellationToken ct)
    {
        var tenantId = http.GetCaller().TenantId!.Value;
        return await db.Set<ApiKey>().AsNoTracking().SingleOrDefaultAsync(k => k.TenantId == tenantId && k.Id == id, ct) is { } key
            ? TypedResults.Ok(ApiKeyResponse.From(key, time.GetUtcNow()))
            : Problem.NotFound();
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeAsync(Guid id, HttpContext http, ApiKeyIssuer issuer, CancellationToken ct) =>
        await issuer.RevokeAsync(http.GetCaller().TenantId!.Value, id, http.GetActor(), ct) ? TypedResults.NoContent() : Problem.NotFound();

    /// <summary>
    /// When the caller is an API key, the draft with that key's limits inherited (<see cref="ApiKeyLimits.Inherit"/>), or
    /// a <c>403 forbidden</c> naming each limit the draft exceeds. Other callers' drafts are returned as they are. Every
    /// endpoint where a key can mint a key goes through here.
    /// </summary>
    internal static async Task<(ApiKeyDraft? Draft, ProblemHttpResult? Problem)> WithinCreatorLimitsAsync(
        Caller caller, ApiKeyDraft draft, MislataDbContext db, RateLimitOptions rateLimits, CancellationToken ct)
    {
        if (caller.ApiKeyId is not { } creatorId)
        {
            return (draft, null);
        }

        // A key's limits never change after creation, so reading them outside the issuing transaction is safe.
        var creator = await db.Set<ApiKey>().AsNoTracking().SingleOrDefaultAsync(k => k.Id == creatorId, ct);
        if (creator is null)
        {
            return (null, Problem.Of(403, ErrorCodes.Forbidden, "Forbidden", "The creating key no longer exists."));
        }

        var inherited = ApiKeyLimits.Of(creator).Inherit(
            new ApiKeyLimits(draft.ExpiresAt, draft.IpAllowlist, draft.RateLimitPerMinute), rateLimits.DefaultPerCredential);
        return inherited.Limits is { } limits
            ? (draft with { ExpiresAt = limits.ExpiresAt, IpAllowlist = limits.IpAllowlist, RateLimitPerMinute = limits.RateLimitPerMinute }, null)
            : (null, Problem.Of(403, ErrorCodes.Forbidden, "Forbidden", "A key cannot exceed the limits of the key that creates it. " + inherited.Violation));
    }

    /// <summary>Validates every field; null with a 400 problem when any is wrong.</summary>
    internal static ApiKeyDraft? Validate(CreateApiKeyRequest request, IReadOnlyList<string> assignable, TimeProvider time, out ProblemHttpResult? problem)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        var scopes = new List<string>();
        if (request.Scopes is null || request.Scopes.Count == 0)
        {
            errors.Add("scopes", "must name at least one scope.");
        }
        else if (request.Scopes.Count > Scopes.All.Count)
        {
            errors.Add("scopes", "has too many entries.");
        }
        else
        {
            foreach (var scope in request.Scopes)
            {
                if (scope is null || !assignable.Contains(scope, StringComparer.Ordinal))
                {
                    errors.Add("scopes", $"'{(scope is null ? "null" : scope.Length > 40 ? scope[..40] : scope)}' is not a scope an API key can hold.");
                }
                else if (!scopes.Contains(scope, StringComparer.Ordinal))
                {
                    scopes.Add(scope);
                }
            }
        }

        var now = time.GetUtcNow();
        if (request.ExpiresAt is { } expiresAt && (expiresAt <= now || expiresAt > now.AddYears(10)))
        {
            errors.Add("expiresAt", "must be in the future (at most 10 years ahead).");
        }

        var networks = errors.Networks("ipAllowlist", request.IpAllowlist);
        errors.Range("rateLimitPerMinute", request.RateLimitPerMinute, 1, 1_000_000);
        if (errors.Any)
        {
            problem = errors.Problem();
            return null;
        }

        problem = null;
        return new ApiKeyDraft(name!, scopes, request.ExpiresAt?.ToUniversalTime(), networks, request.RateLimitPerMinute);
    }
}
