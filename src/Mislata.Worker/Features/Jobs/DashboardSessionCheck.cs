using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Authentication;
using Mislata.Infrastructure.Identity;

namespace Mislata.Worker.Features.Jobs;

/// <summary>What the dashboard does with a request.</summary>
internal enum DashboardAccess
{
    /// <summary>No session: to identity's login page.</summary>
    SignIn,

    /// <summary>The session's user is gone, blocked or signed in before a revocation: the session ends, to the login page.</summary>
    SessionEnded,

    /// <summary>A current session of a user who is not (or no longer) a platform admin.</summary>
    Forbidden,

    Allowed,
}

/// <summary>
/// The dashboard trusts identity's session cookie, whose claims were written at sign-in: on every dashboard request
/// the session is checked against the user as stored now — still there, not blocked, same security stamp (changed on
/// block, password reset and revocation), still <c>platform-admin</c> — and against the subject's access not-before
/// (kept in memory by <see cref="AccessRevocations"/>). One indexed query per request; the dashboard is a low-traffic
/// operator page, and no cache means a blocked or demoted admin is refused at the next request.
/// </summary>
internal static partial class DashboardSessionCheck
{
    /// <summary>ASP.NET Core Identity's defaults (<c>IdentityOptions.ClaimsIdentity</c>), which identity keeps.</summary>
    internal const string UserIdClaim = ClaimTypes.NameIdentifier;

    internal const string SecurityStampClaim = "AspNet.Identity.SecurityStamp";

    public static async Task<DashboardAccess> CheckAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var session = await context.AuthenticateAsync(SessionCookie.Scheme);
        if (!session.Succeeded || session.Principal?.Identity?.IsAuthenticated != true)
        {
            return DashboardAccess.SignIn;
        }

        var principal = session.Principal;
        if (!Guid.TryParse(principal.FindFirstValue(UserIdClaim), out var userId) || principal.FindFirstValue(SecurityStampClaim) is not { Length: > 0 } stamp)
        {
            return DashboardAccess.SessionEnded;
        }

        var issuedAt = session.Properties?.IssuedUtc;
        if (context.RequestServices.GetRequiredService<AccessRevocations>().Refuses(userId.ToString(), null, issuedAt))
        {
            return DashboardAccess.SessionEnded;
        }

        var db = context.RequestServices.GetRequiredService<IdentityStoreDbContext>();
        var user = await db.Users.AsNoTracking()
            .Where(u => u.Id == userId)
            .Select(u => new
            {
                u.SecurityStamp,
                u.BlockedAt,
                IsPlatformAdmin = db.UserRoles.Any(ur => ur.UserId == u.Id && db.Roles.Any(r => r.Id == ur.RoleId && r.Name == Roles.PlatformAdmin)),
            })
            .SingleOrDefaultAsync(context.RequestAborted);
        if (user is null || user.BlockedAt is not null || !string.Equals(user.SecurityStamp, stamp, StringComparison.Ordinal))
        {
            return DashboardAccess.SessionEnded;
        }

        return user.IsPlatformAdmin && PlatformAdminDashboardAuthorization.IsPlatformAdmin(principal) ? DashboardAccess.Allowed : DashboardAccess.Forbidden;
    }

    /// <summary>Answers a refused request; true when the request may go on to the dashboard.</summary>
    public static async Task<bool> EnforceAsync(HttpContext context, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(context);
        var access = await CheckAsync(context);
        switch (access)
        {
            case DashboardAccess.Allowed:
                return true;
            case DashboardAccess.SignIn:
                await context.ChallengeAsync(SessionCookie.Scheme);
                return false;
            case DashboardAccess.SessionEnded:
                // The session is dead for identity as well (shared ticket store): remove it, then ask for a new sign-in.
                LogSessionEnded(logger, context.TraceIdentifier);
                await context.SignOutAsync(SessionCookie.Scheme);
                await context.ChallengeAsync(SessionCookie.Scheme);
                return false;
            default:
                LogForbidden(logger, context.TraceIdentifier);
                await context.ForbidAsync(SessionCookie.Scheme);
                return false;
        }
    }

    [LoggerMessage(EventId = 6100, Level = LogLevel.Warning, Message = "Dashboard request {RequestId} refused: the session's user is deleted, blocked or revoked since sign-in")]
    private static partial void LogSessionEnded(ILogger logger, string requestId);

    [LoggerMessage(EventId = 6101, Level = LogLevel.Warning, Message = "Dashboard request {RequestId} refused: the user is not a platform admin")]
    private static partial void LogForbidden(ILogger logger, string requestId);
}
