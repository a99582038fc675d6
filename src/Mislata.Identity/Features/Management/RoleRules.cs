using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Core.Partners;
using Mislata.Core.Tenants;
using Mislata.Infrastructure.Persistence;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Identity.Features.Management;

/// <summary>Who may hold which role, and who may hand it out.</summary>
internal static class RoleRules
{
    /// <summary>
    /// No privilege beyond the caller's: every role a caller gives (or takes away) must carry only scopes the caller
    /// holds itself; platform administrators hold them all. Null when allowed, else 403 <c>insufficient_scope</c>
    /// naming the missing scopes (and <c>missingScopes</c>).
    /// </summary>
    public static ProblemHttpResult? BeyondCaller(HttpContext http, Caller caller, IReadOnlyCollection<string> changedRoles)
    {
        if (caller.IsPlatformAdmin)
        {
            return null;
        }

        var missing = changedRoles.SelectMany(Roles.ScopesOf).Where(s => !caller.Scopes.Contains(s)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (missing.Count == 0)
        {
            return null;
        }

        http.Response.Headers.WWWAuthenticate = $"Bearer error=\"insufficient_scope\", scope=\"{string.Join(' ', missing)}\"";
        var problem = new ProblemDetails
        {
            Status = StatusCodes.Status403Forbidden,
            Title = "Insufficient scope",
            Detail = $"The role(s) {string.Join(", ", changedRoles.Order(StringComparer.Ordinal))} carry scopes this credential does not hold: {string.Join(' ', missing)}.",
        };
        problem.Extensions["error"] = ErrorCodes.InsufficientScope;
        problem.Extensions["missingScopes"] = missing;
        return TypedResults.Problem(problem);
    }

    public static async Task<List<string>> ValidateAsync(IServiceProvider services, Caller caller, IReadOnlyList<string>? requested, Guid? tenantId, Dictionary<string, string[]> errors, CancellationToken cancellationToken)
    {
        var roles = (requested ?? []).Distinct(StringComparer.Ordinal).ToList();
        var problems = new List<string>();
        if (roles.Count == 0)
        {
            problems.Add("At least one role is required.");
        }

        foreach (var role in roles)
        {
            if (!Roles.All.Contains(role, StringComparer.Ordinal))
            {
                problems.Add($"Unknown role '{role}'.");
            }
            else if (Roles.IsTenantRole(role) && tenantId is null)
            {
                problems.Add($"The role '{role}' is held inside a tenant: name tenantId.");
            }
            else if (!Roles.IsTenantRole(role) && !caller.IsPlatformAdmin)
            {
                problems.Add($"Only platform administrators assign the role '{role}'.");
            }
            else if (!Roles.IsTenantRole(role) && tenantId is not null)
            {
                problems.Add($"The role '{role}' is not held inside a tenant.");
            }
        }

        if (problems.Count > 0)
        {
            errors["roles"] = [.. problems];
        }

        if (tenantId is { } id && await services.GetRequiredService<ITenantDirectory>().FindAsync(id, cancellationToken) is null)
        {
            errors["tenantId"] = ["The tenant does not exist."];
        }

        return roles;
    }

    /// <summary>A <c>partner-admin</c> acts for exactly one existing partner; nobody else names one.</summary>
    public static async Task ValidatePartnerAsync(IServiceProvider services, IReadOnlyList<string> roles, Guid? partnerId, Dictionary<string, string[]> errors, CancellationToken cancellationToken)
    {
        var isPartnerAdmin = roles.Contains(Roles.PartnerAdmin, StringComparer.Ordinal);
        if (isPartnerAdmin && partnerId is null)
        {
            errors["partnerId"] = ["A partner-admin acts for one partner: name partnerId."];
        }
        else if (!isPartnerAdmin && partnerId is not null)
        {
            errors["partnerId"] = ["Only a partner-admin is bound to a partner."];
        }
        else if (partnerId is { } id &&
            !await services.GetRequiredService<MislataDbContext>().Set<Partner>().AnyAsync(p => p.Id == id, cancellationToken))
        {
            errors["partnerId"] = ["The partner does not exist."];
        }
    }
}
