using System.Security.Claims;
using Mislata.Api.Access;
using Mislata.Core.Access;

namespace Mislata.Api.Tests.Access;

/// <summary>The api honours a client-credentials token by the rule identity issues it with (Core <see cref="TokenScopes"/>).</summary>
public sealed class TokenScopesTests
{
    private static ClaimsIdentity ClientToken(string clientId, Guid? tenantId, string scope)
    {
        var claims = new List<Claim>
        {
            new(ClaimNames.Subject, clientId),
            new(ClaimNames.ClientId, clientId),
            new(ClaimNames.Scope, scope),
        };
        if (tenantId is { } tenant)
        {
            claims.Add(new(ClaimNames.TenantId, tenant.ToString()));
        }

        return new ClaimsIdentity(claims);
    }

    [Fact]
    public void A_client_token_counts_at_the_api_for_the_scopes_its_owner_may_hold()
    {
        // A tenant's client: its tenant scopes, never platform or partner ones.
        var tenant = Guid.NewGuid();
        var (caller, refusal) = CallerAuthenticationMiddleware.FromAccessToken(ClientToken("app_1", tenant, "billing:read keys:read platform:admin partner:admin"));
        Assert.Null(refusal);
        Assert.Equal(tenant, caller!.TenantId);
        Assert.Equal(["billing:read", "keys:read"], caller.Scopes.Order(StringComparer.Ordinal));
        Assert.Equal(Core.Audit.AuditActorType.Client, caller.ActorType);

        // A platform client: the platform's scopes, from its owner (no tenant) — its role claim is not what grants them.
        (caller, _) = CallerAuthenticationMiddleware.FromAccessToken(ClientToken("operator", null, "platform:admin audit:read"));
        Assert.Null(caller!.TenantId);
        Assert.Equal(["audit:read", "platform:admin"], caller.Scopes.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Identity_issues_by_the_same_rule_clients_by_owner_and_users_by_roles_in_their_binding()
    {
        string[] permitted = ["billing:read", "platform:admin", "partner:admin", "openid"];
        Assert.Equal(["billing:read"], TokenScopes.ForClient(permitted, Guid.NewGuid()).Order(StringComparer.Ordinal));
        Assert.Equal(["billing:read", "partner:admin", "platform:admin"], TokenScopes.ForClient(permitted, null).Order(StringComparer.Ordinal));

        Assert.Equal(["audit:read", "billing:read", "keys:read"], TokenScopes.ForUser([Roles.Auditor], Guid.NewGuid(), null).Order(StringComparer.Ordinal));
        Assert.Empty(TokenScopes.ForUser([Roles.TenantAdmin], tenantId: null, partnerId: null));
        Assert.Equal([Scopes.PartnerAdmin], TokenScopes.ForUser([Roles.PartnerAdmin], null, Guid.NewGuid()));
        Assert.Equal(Scopes.All.Order(StringComparer.Ordinal), TokenScopes.ForUser([Roles.PlatformAdmin], null, null).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(Scopes.PartnerAdmin, TokenScopes.ForUser([Roles.TenantAdmin, Roles.PlatformAdmin], Guid.NewGuid(), null));

        // What the api honours of a user token is what identity may issue to that user, nothing more.
        var subject = Guid.NewGuid().ToString();
        Assert.Equal(["audit:read"], TokenScopes.Honoured(["openid", "audit:read", "keys:write"], [Roles.Auditor], subject, "app_2", Guid.NewGuid(), null));
    }
}
