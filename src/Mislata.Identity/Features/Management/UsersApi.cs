using System.Net.Mail;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Licensing;
using Mislata.Core.Partners;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Identity.Features.Accounts;
using Mislata.Identity.Features.Auditing;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Licensing;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Usage;
using Mislata.ServiceDefaults.Problems;
using OpenIddict.Abstractions;

namespace Mislata.Identity.Features.Management;

internal sealed record CreateUserRequest(string? Email, string? Password, IReadOnlyList<string>? Roles, Guid? TenantId, Guid? PartnerId = null);

internal sealed record UpdateUserRequest(IReadOnlyList<string>? Roles);

internal sealed record UserResponse(Guid Id, string Email, IReadOnlyList<string> Roles, Guid? TenantId, string Status, bool MfaEnabled, DateTimeOffset CreatedAt, Guid? PartnerId = null);

internal sealed record CreatedUserResponse(Guid Id, string Email, IReadOnlyList<string> Roles, Guid? TenantId, string Status, string? SetPasswordUrl, Guid? PartnerId = null);

/// <summary><c>/api/v1/users</c>: a tenant admin manages its tenant's users; a platform admin anyone's (naming <c>tenantId</c>).</summary>
internal static class UsersApi
{
    public static WebApplication MapUsersApi(this WebApplication app)
    {
        var users = app.MapGroup("/api/v1/users");
        users.MapPost("", CreateAsync).RequireScope(Scopes.UsersWrite).Idempotent();
        users.MapGet("", ListAsync).RequireScope(Scopes.UsersRead);
        users.MapGet("/{id}", GetAsync).RequireScope(Scopes.UsersRead);
        users.MapPatch("/{id}", UpdateAsync).RequireScope(Scopes.UsersWrite);
        users.MapPost("/{id}/block", (HttpContext h, string id, IServiceProvider s, CancellationToken ct) => SetBlockedAsync(h, id, true, s, ct)).RequireScope(Scopes.UsersWrite);
        users.MapPost("/{id}/unblock", (HttpContext h, string id, IServiceProvider s, CancellationToken ct) => SetBlockedAsync(h, id, false, s, ct)).RequireScope(Scopes.UsersWrite);
        users.MapPost("/{id}/reset-mfa", ResetMfaAsync).RequireScope(Scopes.UsersWrite);
        users.MapDelete("/{id}", DeleteAsync).RequireScope(Scopes.UsersWrite);
        return app;
    }

    private static async Task<Results<Created<CreatedUserResponse>, ProblemHttpResult>> CreateAsync(
        HttpContext http, CreateUserRequest request, UserManager<MislataUser> users, IdentityStoreDbContext db, IdentityAudit audit, TimeProvider time, IConfiguration configuration, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        var errors = new Dictionary<string, string[]>();
        var email = request.Email?.Trim();
        if (string.IsNullOrEmpty(email) || email.Length > 254 || !MailAddress.TryCreate(email, out var parsed) || parsed.Address != email)
        {
            errors["email"] = ["A valid email address is required."];
        }

        Guid? tenantId = caller.IsPlatformAdmin ? request.TenantId : caller.TenantId;
        if (!caller.IsPlatformAdmin && request.TenantId is { } named && named != caller.TenantId)
        {
            return Problem.NotFound("The tenant does not exist.");
        }

        var roles = await RoleRules.ValidateAsync(http.RequestServices, caller, request.Roles, tenantId, errors, cancellationToken);
        await RoleRules.ValidatePartnerAsync(http.RequestServices, roles, request.PartnerId, errors, cancellationToken);
        if (errors.Count > 0)
        {
            return Problem.Validation(errors);
        }

        if (RoleRules.BeyondCaller(http, caller, roles) is { } escalation)
        {
            return escalation;
        }

        if (await users.FindByEmailAsync(email!) is not null)
        {
            return Problem.Of(StatusCodes.Status409Conflict, ErrorCodes.Conflict, "Conflict", "A user with this email already exists.");
        }

        // The plan's maxUsers (429 quota_exceeded, API.md), counted like /billing/usage counts them.
        if (tenantId is { } quotaTenant &&
            await http.RequestServices.GetRequiredService<ITenantPlanProvider>().GetAsync(quotaTenant, cancellationToken) is { } access &&
            !Quotas.AllowsOneMore(access.Limits.MaxUsers, await new IdentityUserCounter(db).CountAsync(quotaTenant, cancellationToken)))
        {
            return Problem.Of(StatusCodes.Status429TooManyRequests, ErrorCodes.QuotaExceeded, "Quota exceeded",
                $"The tenant's plan allows {access.Limits.MaxUsers} users.");
        }

        // The licence's maxUsers (403 license_restricted), across the installation: every account, platform admins included.
        var licence = await http.RequestServices.GetRequiredService<LicenceMonitor>().CurrentAsync(cancellationToken);
        if (licence.Limits.MaxUsers is { } maxUsers && !LicenceRules.AllowsOneMore(maxUsers, await db.Users.LongCountAsync(cancellationToken)))
        {
            return Problem.Of(StatusCodes.Status403Forbidden, ErrorCodes.LicenseRestricted, "Licence limit reached",
                $"The {(licence.State == LicenceState.Community ? "Community edition" : "licence")} allows at most {maxUsers} users on this installation.");
        }

        // The user, its roles and the audit event commit together; the audit log is written before the commit.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var user = new MislataUser { Id = Guid.CreateVersion7(time.GetUtcNow()), UserName = email, Email = email, TenantId = tenantId, PartnerId = request.PartnerId, CreatedAt = time.GetUtcNow() };
        var created = string.IsNullOrEmpty(request.Password) ? await users.CreateAsync(user) : await users.CreateAsync(user, request.Password);
        if (!created.Succeeded)
        {
            return Problem.Validation(IdentityErrors(created));
        }

        await users.AddToRolesAsync(user, roles);
        string? setPasswordUrl = null;
        if (string.IsNullOrEmpty(request.Password))
        {
            var token = await users.GeneratePasswordResetTokenAsync(user);
            var baseUrl = (configuration["QAPI_PUBLIC_URL"] ?? string.Empty).TrimEnd('/');
            setPasswordUrl = $"{baseUrl}/account/set-password?userId={user.Id}&token={Uri.EscapeDataString(token)}";
        }

        await audit.RecordAsync(AuditActions.UserCreated, AuditOutcome.Success, caller.ActorType, caller.ActorId, tenantId, cancellationToken, "user", user.Id.ToString(),
            details: new Dictionary<string, string> { ["roles"] = string.Join(' ', roles) });
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Created($"/api/v1/users/{user.Id}", new CreatedUserResponse(user.Id, user.Email!, roles, tenantId, Status(user, time), setPasswordUrl, user.PartnerId));
    }

    private static async Task<Results<Ok<ListResponse<UserResponse>>, ProblemHttpResult>> ListAsync(
        HttpContext http, IdentityStoreDbContext db, TimeProvider time, int? limit, string? cursor, Guid? tenantId, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        var errors = new Dictionary<string, string[]>();
        if (!Page.TryParse(limit, cursor, errors, out var page))
        {
            return Problem.Validation(errors);
        }

        var query = Visible(db.Users.AsNoTracking(), caller);
        if (caller.IsPlatformAdmin && tenantId is { } filter)
        {
            query = query.Where(u => u.TenantId == filter);
        }

        if (page.After is { } after)
        {
            query = query.Where(u => string.Compare(u.NormalizedUserName!, after) > 0);
        }

        var items = await query.OrderBy(u => u.NormalizedUserName).Take(page.Limit + 1).ToListAsync(cancellationToken);
        var more = items.Count > page.Limit;
        items = [.. items.Take(page.Limit)];
        var roles = await RolesOfAsync(db, items.Select(u => u.Id).ToList(), cancellationToken);
        var data = items.Select(u => ToResponse(u, roles.GetValueOrDefault(u.Id, []), time)).ToList();
        return TypedResults.Ok(new ListResponse<UserResponse>(data, more ? Page.Cursor(items[^1].NormalizedUserName!) : null));
    }

    private static async Task<Results<Ok<UserResponse>, ProblemHttpResult>> GetAsync(HttpContext http, string id, IdentityStoreDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var user = await FindAsync(db, Caller.Of(http), id, cancellationToken);
        if (user is null)
        {
            return Problem.NotFound();
        }

        var roles = await RolesOfAsync(db, [user.Id], cancellationToken);
        return TypedResults.Ok(ToResponse(user, roles.GetValueOrDefault(user.Id, []), time));
    }

    private static async Task<Results<Ok<UserResponse>, ProblemHttpResult>> UpdateAsync(
        HttpContext http, string id, UpdateUserRequest request, IdentityStoreDbContext db, UserManager<MislataUser> users, IdentityAudit audit, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        // Tracked: the user manager saves this instance (an untracked copy clashes with the one its validators load).
        var user = await FindAsync(db, caller, id, cancellationToken, tracked: true);
        if (user is null)
        {
            return Problem.NotFound();
        }

        var errors = new Dictionary<string, string[]>();
        var roles = await RoleRules.ValidateAsync(http.RequestServices, caller, request.Roles, user.TenantId, errors, cancellationToken);
        if (errors.Count > 0)
        {
            return Problem.Validation(errors);
        }

        var current = await users.GetRolesAsync(user);
        var removed = current.Except(roles, StringComparer.Ordinal).ToList();
        var added = roles.Except(current, StringComparer.Ordinal).ToList();
        if (RoleRules.BeyondCaller(http, caller, [.. added, .. removed]) is { } escalation)
        {
            return escalation;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (removed.Count > 0)
        {
            // A role removed: the user's outstanding access tokens (which carry it) are refused everywhere.
            await http.RequestServices.GetRequiredService<AccessRevocations>().RevokeSubjectAsync(db, user.Id.ToString(), cancellationToken);
        }

        await users.RemoveFromRolesAsync(user, removed);
        await users.AddToRolesAsync(user, added);
        await audit.RecordAsync(AuditActions.UserUpdated, AuditOutcome.Success, caller.ActorType, caller.ActorId, user.TenantId, cancellationToken, "user", user.Id.ToString(),
            details: new Dictionary<string, string> { ["roles"] = string.Join(' ', roles) });
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(ToResponse(user, roles, time));
    }

    private static async Task<Results<Ok<UserResponse>, ProblemHttpResult>> SetBlockedAsync(HttpContext http, string id, bool blocked, IServiceProvider services, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        var db = services.GetRequiredService<IdentityStoreDbContext>();
        var users = services.GetRequiredService<UserManager<MislataUser>>();
        var time = services.GetRequiredService<TimeProvider>();
        var user = await FindAsync(db, caller, id, cancellationToken, tracked: true);
        if (user is null)
        {
            return Problem.NotFound();
        }

        if (blocked && user.Id.ToString() == caller.ActorId)
        {
            return Problem.Of(StatusCodes.Status409Conflict, ErrorCodes.Conflict, "Conflict", "You cannot block yourself.");
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (blocked)
        {
            // Resource servers validate access tokens locally: a durable not-before stops the outstanding ones at once.
            // Unblocking lifts nothing: tokens issued before the block stay refused.
            await services.GetRequiredService<AccessRevocations>().RevokeSubjectAsync(db, user.Id.ToString(), cancellationToken);
        }

        user.BlockedAt = blocked ? user.BlockedAt ?? time.GetUtcNow() : null;
        await users.UpdateAsync(user);
        if (blocked)
        {
            await RevokeEverythingAsync(services, users, user, cancellationToken);
        }

        await services.GetRequiredService<IdentityAudit>().RecordAsync(blocked ? AuditActions.UserBlocked : AuditActions.UserUnblocked, AuditOutcome.Success,
            caller.ActorType, caller.ActorId, user.TenantId, cancellationToken, "user", user.Id.ToString());
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(ToResponse(user, [.. await users.GetRolesAsync(user)], time));
    }

    private static async Task<Results<Ok<UserResponse>, ProblemHttpResult>> ResetMfaAsync(
        HttpContext http, string id, IdentityStoreDbContext db, UserManager<MislataUser> users, IdentityAudit audit, TimeProvider time, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        var user = await FindAsync(db, caller, id, cancellationToken, tracked: true);
        if (user is null)
        {
            return Problem.NotFound();
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // A fresh start for the second factor: its lockout goes with it (the password counter is the password's).
        user.SecondFactorFailedCount = 0;
        user.SecondFactorLockoutEnd = null;
        await users.SetTwoFactorEnabledAsync(user, false);
        await users.ResetAuthenticatorKeyAsync(user);
        await http.RequestServices.GetRequiredService<MislataSignInManager>().ForgetTotpAsync(user);
        await users.ReplaceCodesAsync(user);
        await audit.RecordAsync(AuditActions.MfaReset, AuditOutcome.Success, caller.ActorType, caller.ActorId, user.TenantId, cancellationToken, "user", user.Id.ToString());
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Ok(ToResponse(user, [.. await users.GetRolesAsync(user)], time));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(HttpContext http, string id, IServiceProvider services, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(http);
        var db = services.GetRequiredService<IdentityStoreDbContext>();
        var users = services.GetRequiredService<UserManager<MislataUser>>();
        var user = await FindAsync(db, caller, id, cancellationToken, tracked: true);
        if (user is null)
        {
            return Problem.NotFound();
        }

        if (user.Id.ToString() == caller.ActorId)
        {
            return Problem.Of(StatusCodes.Status409Conflict, ErrorCodes.Conflict, "Conflict", "You cannot delete yourself.");
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await services.GetRequiredService<AccessRevocations>().RevokeSubjectAsync(db, user.Id.ToString(), cancellationToken);
        await RevokeEverythingAsync(services, users, user, cancellationToken);
        await users.DeleteAsync(user);
        await services.GetRequiredService<IdentityAudit>().RecordAsync(AuditActions.UserDeleted, AuditOutcome.Success, caller.ActorType, caller.ActorId, user.TenantId, cancellationToken, "user", user.Id.ToString());
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    /// <summary>Refresh tokens, authorizations and stored access tokens die at once; sessions at the next security-stamp check.</summary>
    private static async Task RevokeEverythingAsync(IServiceProvider services, UserManager<MislataUser> users, MislataUser user, CancellationToken cancellationToken)
    {
        await users.UpdateSecurityStampAsync(user);
        var subject = user.Id.ToString();
        await services.GetRequiredService<IOpenIddictTokenManager>().RevokeBySubjectAsync(subject, cancellationToken);
        await services.GetRequiredService<IOpenIddictAuthorizationManager>().RevokeBySubjectAsync(subject, cancellationToken);
    }

    internal static IQueryable<MislataUser> Visible(IQueryable<MislataUser> query, Caller caller)
    {
        if (caller.IsPlatformAdmin)
        {
            return query;
        }

        var tenant = caller.TenantId ?? Guid.Empty;
        return query.Where(u => u.TenantId != null && u.TenantId == tenant);
    }

    internal static async Task<MislataUser?> FindAsync(IdentityStoreDbContext db, Caller caller, string id, CancellationToken cancellationToken, bool tracked = false)
    {
        if (!Guid.TryParse(id, out var userId))
        {
            return null;
        }

        var query = Visible(tracked ? db.Users : db.Users.AsNoTracking(), caller);
        return await query.FirstOrDefaultAsync(u => u.Id == userId, cancellationToken);
    }

    internal static async Task<Dictionary<Guid, List<string>>> RolesOfAsync(IdentityStoreDbContext db, List<Guid> userIds, CancellationToken cancellationToken)
    {
        var pairs = await db.UserRoles.AsNoTracking()
            .Where(ur => userIds.Contains(ur.UserId))
            .Join(db.Roles, ur => ur.RoleId, r => r.Id, (ur, r) => new { ur.UserId, r.Name })
            .ToListAsync(cancellationToken);
        return pairs.GroupBy(p => p.UserId).ToDictionary(g => g.Key, g => g.Select(p => p.Name!).Order(StringComparer.Ordinal).ToList());
    }

    internal static UserResponse ToResponse(MislataUser user, IReadOnlyList<string> roles, TimeProvider time) =>
        new(user.Id, user.Email!, roles, user.TenantId, Status(user, time), user.TwoFactorEnabled, user.CreatedAt, user.PartnerId);

    private static string Status(MislataUser user, TimeProvider time) =>
        user.BlockedAt is not null ? "blocked"
        : (user.LockoutEnd is { } end && end > time.GetUtcNow()) || (user.SecondFactorLockoutEnd is { } second && second > time.GetUtcNow()) ? "locked"
        : user.PasswordHash is null ? "invited"
        : "active";

    private static Dictionary<string, string[]> IdentityErrors(IdentityResult result) =>
        result.Errors
            .GroupBy(e => e.Code.Contains("Password", StringComparison.Ordinal) ? "password" : e.Code.Contains("Email", StringComparison.Ordinal) || e.Code.Contains("UserName", StringComparison.Ordinal) ? "email" : "user")
            .ToDictionary(g => g.Key, g => g.Select(e => e.Description).ToArray());
}

internal static class UserManagerExtensions
{
    /// <summary>Old recovery codes stop working when MFA is reset.</summary>
    public static Task ReplaceCodesAsync(this UserManager<MislataUser> users, MislataUser user) => users.GenerateNewTwoFactorRecoveryCodesAsync(user, 0);
}
