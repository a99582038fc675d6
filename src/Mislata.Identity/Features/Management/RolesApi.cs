using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Identity.Features.Auditing;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Identity;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Identity.Features.Management;

internal sealed record RoleResponse(string Name, IReadOnlyList<string> Scopes, bool TenantScoped);

/// <summary><c>/api/v1/roles</c>: the fixed roles with their scopes, and who holds them (role assignments).</summary>
internal static class RolesApi
{
    public static WebApplication MapRolesApi(this WebApplication app)
    {
        var group = app.MapGroup("/api/v1/roles");
        group.MapGet("", () => TypedResults.Ok(new ListResponse<RoleResponse>([.. Roles.All.Select(ToResponse)], null))).RequireScope(Scopes.RolesRead);
        group.MapGet("/{name}", GetRole).RequireScope(Scopes.RolesRead);
        group.MapGet("/{name}/members", MembersAsync).RequireScope(Scopes.RolesRead);
        group.MapPut("/{name}/members/{userId}", (HttpContext h, string name, string userId, IServiceProvider s, CancellationToken ct) => AssignAsync(h, name, userId, true, s, ct)).RequireScope(Scopes.RolesWrite);
        group.MapDelete("/{name}/members/{userId}", (HttpContext h, string name, string userId, IServiceProvider s, CancellationToken ct) => AssignAsync(h, name, userId, false, s, ct)).RequireScope(Scopes.RolesWrite);
        return app;
    }

    private static Results<Ok<RoleResponse>, ProblemHttpResult> GetRole(string name) =>
        Roles.All.Contains(name, StringComparer.Ordinal) ? TypedResults.Ok(ToResponse(name)) : Problem.NotFound();

    private static async Task<Results<Ok<ListResponse<UserResponse>>, ProblemHttpResult>> MembersAsync(
        HttpContext http, string name, IdentityStoreDbContext db, TimeProvider time, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        if (!Roles.All.Contains(name, StringComparer.Ordinal))
        {
            return Problem.NotFound();
        }

        var errors = new Dictionary<string, string[]>();
        if (!Page.TryParse(limit, cursor, errors, out var page))
        {
            return Problem.Validation(errors);
        }

        var normalized = name.ToUpperInvariant();
        var holders = db.UserRoles.Join(db.Roles.Where(r => r.NormalizedName == normalized), ur => ur.RoleId, r => r.Id, (ur, _) => ur.UserId);
        var query = UsersApi.Visible(db.Users.AsNoTracking(), Caller.Of(http)).Where(u => holders.Contains(u.Id));
        if (page.After is { } after)
        {
            query = query.Where(u => string.Compare(u.NormalizedUserName!, after) > 0);
        }

        var items = await query.OrderBy(u => u.NormalizedUserName).Take(page.Limit + 1).ToListAsync(cancellationToken);
        var more = items.Count > page.Limit;
        items = [.. items.Take(page.Limit)];
        var roles = await UsersApi.RolesOfAsync(db, items.Select(u => u.Id).ToList(), cancellationToken);
        return TypedResults.Ok(new ListResponse<UserResponse>(
            [.. items.Select(u => UsersApi.ToResponse(u, roles.GetValueOrDefault(u.Id, []), time))],
            more ? Page.Cursor(items[^1].NormalizedUserName!) : null));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> AssignAsync(HttpContext http, string name, string userId, bool assign, IServiceProvider services, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        var db = services.GetRequiredService<IdentityStoreDbContext>();
        var users = services.GetRequiredService<UserManager<MislataUser>>();
        var user = await UsersApi.FindAsync(db, caller, userId, cancellationToken, tracked: true);
        if (user is null || !Roles.All.Contains(name, StringComparer.Ordinal))
        {
            return Problem.NotFound();
        }

        var errors = new Dictionary<string, string[]>();
        await RoleRules.ValidateAsync(services, caller, [name], user.TenantId, errors, cancellationToken);
        if (errors.Count > 0)
        {
            return Problem.Validation(errors);
        }

        if (RoleRules.BeyondCaller(http, caller, [name]) is { } escalation)
        {
            return escalation;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var has = await users.IsInRoleAsync(user, name);
        if (assign && !has)
        {
            await users.AddToRoleAsync(user, name);
        }
        else if (!assign && has)
        {
            await services.GetRequiredService<AccessRevocations>().RevokeSubjectAsync(db, user.Id.ToString(), cancellationToken);
            await users.RemoveFromRoleAsync(user, name);
        }

        await services.GetRequiredService<IdentityAudit>().RecordAsync(assign ? AuditActions.RoleAssigned : AuditActions.RoleUnassigned, AuditOutcome.Success,
            caller.ActorType, caller.ActorId, user.TenantId, cancellationToken, "user", user.Id.ToString(), details: new Dictionary<string, string> { ["role"] = name });
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static RoleResponse ToResponse(string name) => new(name, Roles.ScopesOf(name), Roles.IsTenantRole(name));
}
