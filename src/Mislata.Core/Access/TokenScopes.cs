using System.Collections.Frozen;

namespace Mislata.Core.Access;

/// <summary>
/// The one rule for the API scopes an access token may carry: identity applies it when it issues a token, and every
/// service that reads a token applies it again, so the two cannot disagree.
/// A token is bound to a tenant (<c>tenant_id</c>), a partner (<c>partner_id</c>) or the platform (neither).
/// <list type="bullet">
/// <item>A user holds the scopes of their roles within that binding: tenant scopes need a tenant, <c>partner:admin</c>
/// a partner, <c>platform:admin</c> no binding — and with no binding at all the platform-admin role holds every scope
/// (the platform administers tenants and partners).</item>
/// <item>A client (client credentials) holds the scopes it was permitted within its owner's binding: a tenant-owned
/// client only tenant scopes, a platform-owned client any scope; a client bound to a partner none.</item>
/// </list>
/// Holding a scope is not reaching an endpoint: the api also checks the binding an endpoint needs (a partner's portal
/// needs a partner id, whatever the scopes).
/// </summary>
public static class TokenScopes
{
    /// <summary>What a platform credential may hold: every scope (what the platform-admin role gives).</summary>
    public static readonly IReadOnlyList<string> Platform = Scopes.All;

    private static readonly FrozenSet<string> PlatformSet = Platform.ToFrozenSet(StringComparer.Ordinal);
    private static readonly FrozenSet<string> TenantSet = Scopes.Tenant.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The API scopes a user with <paramref name="roles"/> may hold in this binding.</summary>
    public static IReadOnlySet<string> ForUser(IEnumerable<string> roles, Guid? tenantId, Guid? partnerId)
    {
        ArgumentNullException.ThrowIfNull(roles);
        var held = roles.ToList();
        var platformAdmin = held.Contains(Roles.PlatformAdmin, StringComparer.Ordinal);
        return held.SelectMany(Roles.ScopesOf)
            .Where(scope => scope switch
            {
                Scopes.PlatformAdmin => tenantId is null && partnerId is null,
                Scopes.PartnerAdmin => partnerId is not null || (tenantId is null && platformAdmin),
                _ => tenantId is not null || (partnerId is null && platformAdmin),
            })
            .ToFrozenSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// The API scopes a client may hold: those of <paramref name="permitted"/> that its owner's binding allows — tenant
    /// scopes for a client of <paramref name="ownerTenantId"/>, platform scopes for a platform client (no tenant).
    /// </summary>
    public static IReadOnlySet<string> ForClient(IEnumerable<string> permitted, Guid? ownerTenantId)
    {
        ArgumentNullException.ThrowIfNull(permitted);
        var bound = ownerTenantId is null ? PlatformSet : TenantSet;
        return permitted.Where(bound.Contains).ToFrozenSet(StringComparer.Ordinal);
    }

    /// <summary>Client-credentials tokens name the client as their subject (or have none); user tokens name the user.</summary>
    public static bool IsClientToken(string? subject, string? clientId) =>
        string.IsNullOrEmpty(subject) || string.Equals(subject, clientId, StringComparison.Ordinal);

    /// <summary>
    /// The scopes a presented access token counts for: those of its <paramref name="granted"/> scopes that the rule allows
    /// for its kind (user or client) and binding. Anything else in the token is ignored.
    /// </summary>
    public static IReadOnlySet<string> Honoured(
        IEnumerable<string> granted, IEnumerable<string> roles, string? subject, string? clientId, Guid? tenantId, Guid? partnerId)
    {
        ArgumentNullException.ThrowIfNull(granted);
        var scopes = granted.ToList();
        IReadOnlySet<string> allowed = !IsClientToken(subject, clientId) ? ForUser(roles, tenantId, partnerId)
            : partnerId is null ? ForClient(scopes, tenantId)
            : FrozenSet<string>.Empty;
        return scopes.Where(allowed.Contains).ToFrozenSet(StringComparer.Ordinal);
    }
}
