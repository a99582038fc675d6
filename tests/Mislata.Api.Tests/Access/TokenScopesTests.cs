using System.Security.Claims;
using Mislata.Api.Access;
using Mislata.Core.Access;

namespace Mislata.Api.Tests.Access;

/// <summary>The api honours a client-credentials token by the rule identity issues it with (Core <see cref="TokenScopes"/>).</summary>
public sealed class TokenScopesTests
{
    private static ClaimsIdentity ClientToken(string clientId, Guid? tenantId, string scope, params string[] roles)
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

        claims.AddRange(roles.Select(r => new Claim(ClaimNames.Role, r)));
        return new ClaimsIdentity(claims);
    }

    [Fact]
    public void A_tenant_client_token_counts_for_its_tenant_scopes_and_never_for_platform_or_partner_ones()
    {
        var tenant = Guid.NewGuid();
        var (caller, refusal) = CallerAuthenticationMiddleware.FromAccessToken(ClientToken("app_1", tenant, "billing:read keys:read platform:admin partner:admin"));

        Assert.Null(refusal);
        Assert.Equal(tenant, caller!.TenantId);
        Assert.Equal(["billing:read", "keys:read"], caller.Scopes.Order(StringComparer.Ordinal));
        Assert.Equal(Core.Audit.AuditActorType.Client, caller.ActorType);
    }

    [Fact]
    public void A_platform_client_token_counts_for_platform_scopes_but_not_partner_admin()
    {
        var (caller, _) = CallerAuthenticationMiddleware.FromAccessToken(ClientToken("operator", null, "platform:admin audit:read partner:admin", Roles.PlatformAdmin));

        Assert.Null(caller!.TenantId);
        Assert.Equal(["audit:read", "platform:admin"], caller.Scopes.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_user_token_counts_only_for_what_its_roles_give_in_its_binding()
    {
        var tenant = Guid.NewGuid();
        var claims = new ClaimsIdentity(
        [
            new Claim(ClaimNames.Subject, Guid.NewGuid().ToString()),
            new Claim(ClaimNames.ClientId, "app_2"),
            new Claim(ClaimNames.TenantId, tenant.ToString()),
            new Claim(ClaimNames.Role, Roles.Auditor),
            new Claim(ClaimNames.Scope, "openid audit:read billing:read keys:write platform:admin"),
        ]);

        var (caller, _) = CallerAuthenticationMiddleware.FromAccessToken(claims);

        Assert.Equal(["audit:read", "billing:read"], caller!.Scopes.Order(StringComparer.Ordinal));
        Assert.Equal(Core.Audit.AuditActorType.User, caller.ActorType);
    }

    [Fact]
    public void Identity_issues_to_a_tenant_client_only_tenant_scopes_and_to_a_platform_client_no_partner_scope()
    {
        string[] permitted = ["billing:read", "platform:admin", "partner:admin", "openid"];

        Assert.Equal(["billing:read"], TokenScopes.ForClient(permitted, Guid.NewGuid()).Order(StringComparer.Ordinal));
        Assert.Equal(["billing:read", "platform:admin"], TokenScopes.ForClient(permitted, null).Order(StringComparer.Ordinal));
        Assert.Empty(TokenScopes.ForUser([Roles.TenantAdmin], tenantId: null, partnerId: null));
        Assert.Equal([Scopes.PartnerAdmin], TokenScopes.ForUser([Roles.PartnerAdmin], null, Guid.NewGuid()));
    }
}
