using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Partners;
using Mislata.Core.Tenants;
using Mislata.Identity.Features.Management;
using Caller = Mislata.Identity.Features.Management.Caller;
using OpenIddict.Abstractions;

namespace Mislata.Identity.Tests.Management;

/// <summary>No role beyond the caller's, and which roles need (or refuse) a tenant or a partner.</summary>
public sealed class RoleRulesTests
{
    private static readonly Guid Tenant = Guid.Parse("cccccccc-0000-0000-0000-000000000001");
    private static readonly Guid MissingTenant = Guid.Parse("cccccccc-0000-0000-0000-000000000009");

    private static Caller CallerWith(bool platformAdmin, params string[] scopes)
    {
        var principal = new ClaimsPrincipal(new ClaimsIdentity("test"));
        principal.SetScopes(scopes);
        return new Caller(principal, "caller-1", AuditActorType.User, platformAdmin ? null : Tenant, platformAdmin);
    }

    private static IServiceProvider Services() => new ServiceCollection()
        .AddSingleton<ITenantDirectory>(new OneTenant())
        .BuildServiceProvider();

    [Fact]
    public void A_caller_may_give_or_take_only_roles_whose_scopes_it_holds_itself()
    {
        var tenantAdmin = CallerWith(false, [.. Scopes.Tenant]);
        var http = new DefaultHttpContext();
        Assert.Null(RoleRules.BeyondCaller(http, tenantAdmin, [Roles.TenantMember, Roles.Auditor, Roles.TenantAdmin]));
        Assert.Empty(http.Response.Headers.WWWAuthenticate.ToString());

        // A member-level caller (e.g. holding users:write only) cannot hand out the auditor role.
        var limited = CallerWith(false, Scopes.UsersWrite, Scopes.KeysRead);
        var result = RoleRules.BeyondCaller(http, limited, [Roles.Auditor, Roles.TenantMember]);
        var problem = Assert.IsType<ProblemHttpResult>(result);
        Assert.Equal(StatusCodes.Status403Forbidden, problem.StatusCode);
        Assert.Equal("insufficient_scope", problem.ProblemDetails.Extensions["error"]);
        string[] missing = ["audit:read", "billing:read", "encryption:write", "secrets:read", "secrets:write"];
        Assert.Equal(missing, Assert.IsType<List<string>>(problem.ProblemDetails.Extensions["missingScopes"]));
        Assert.Equal("Insufficient scope", problem.ProblemDetails.Title);
        Assert.Equal("The role(s) auditor, tenant-member carry scopes this credential does not hold: audit:read billing:read encryption:write secrets:read secrets:write.", problem.ProblemDetails.Detail);
        Assert.Equal("Bearer error=\"insufficient_scope\", scope=\"audit:read billing:read encryption:write secrets:read secrets:write\"", http.Response.Headers.WWWAuthenticate.ToString());

        // A tenant admin cannot make anyone a platform or partner admin.
        Assert.NotNull(RoleRules.BeyondCaller(new DefaultHttpContext(), tenantAdmin, [Roles.PlatformAdmin]));
        Assert.NotNull(RoleRules.BeyondCaller(new DefaultHttpContext(), tenantAdmin, [Roles.PartnerAdmin]));
    }

    [Fact]
    public void A_platform_administrator_may_give_every_role_whatever_its_token_scopes()
    {
        var platform = CallerWith(true);
        Assert.Null(RoleRules.BeyondCaller(new DefaultHttpContext(), platform, [.. Roles.All]));
    }

    [Fact]
    public async Task Tenant_roles_need_an_existing_tenant_and_platform_level_roles_a_platform_administrator_without_one()
    {
        var tenantAdmin = CallerWith(false, [.. Scopes.Tenant]);
        var platform = CallerWith(true);

        var errors = new Dictionary<string, string[]>();
        var roles = await RoleRules.ValidateAsync(Services(), tenantAdmin, [Roles.TenantMember, Roles.TenantMember, Roles.Auditor], Tenant, errors, CancellationToken.None);
        Assert.Empty(errors);
        Assert.Equal([Roles.TenantMember, Roles.Auditor], roles);

        errors.Clear();
        await RoleRules.ValidateAsync(Services(), tenantAdmin, null, Tenant, errors, CancellationToken.None);
        Assert.Equal(["At least one role is required."], errors["roles"]);

        errors.Clear();
        await RoleRules.ValidateAsync(Services(), tenantAdmin, ["root", Roles.TenantAdmin], null, errors, CancellationToken.None);
        Assert.Equal(["Unknown role 'root'.", "The role 'tenant-admin' is held inside a tenant: name tenantId."], errors["roles"]);
        Assert.False(errors.ContainsKey("tenantId"));

        errors.Clear();
        await RoleRules.ValidateAsync(Services(), tenantAdmin, [Roles.PlatformAdmin], null, errors, CancellationToken.None);
        Assert.Equal(["Only platform administrators assign the role 'platform-admin'."], errors["roles"]);

        errors.Clear();
        await RoleRules.ValidateAsync(Services(), platform, [Roles.PartnerAdmin], Tenant, errors, CancellationToken.None);
        Assert.Equal(["The role 'partner-admin' is not held inside a tenant."], errors["roles"]);

        errors.Clear();
        await RoleRules.ValidateAsync(Services(), platform, [Roles.PlatformAdmin], null, errors, CancellationToken.None);
        Assert.Empty(errors);

        errors.Clear();
        await RoleRules.ValidateAsync(Services(), platform, [Roles.TenantAdmin], MissingTenant, errors, CancellationToken.None);
        Assert.False(errors.ContainsKey("roles"));
        Assert.Equal(["The tenant does not exist."], errors["tenantId"]);
    }

    [Fact]
    public async Task Only_a_partner_admin_names_a_partner_and_it_must_name_one()
    {
        var services = Services();
        var errors = new Dictionary<string, string[]>();
        await RoleRules.ValidatePartnerAsync(services, [Roles.PartnerAdmin], null, errors, CancellationToken.None);
        Assert.Equal(["A partner-admin acts for one partner: name partnerId."], errors["partnerId"]);

        errors.Clear();
        await RoleRules.ValidatePartnerAsync(services, [Roles.TenantAdmin], Guid.NewGuid(), errors, CancellationToken.None);
        Assert.Equal(["Only a partner-admin is bound to a partner."], errors["partnerId"]);

        errors.Clear();
        await RoleRules.ValidatePartnerAsync(services, [Roles.TenantAdmin], null, errors, CancellationToken.None);
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_partner_admin_must_name_a_partner_that_exists()
    {
        await using var db = new MislataDatabase();
        await db.InitializeAsync();
        var partner = Guid.NewGuid();
        await using (var context = db.Contexts.CreateDbContext())
        {
            context.Set<Partner>().Add(new Partner(partner, "Reseller", null, null, DateTimeOffset.UtcNow));
            await context.SaveChangesAsync();
        }

        await using var services = new ServiceCollection()
            .AddSingleton<ITenantDirectory>(new OneTenant())
            .AddScoped(_ => db.Contexts.CreateDbContext())
            .BuildServiceProvider();
        var errors = new Dictionary<string, string[]>();
        await RoleRules.ValidatePartnerAsync(services, [Roles.PartnerAdmin], partner, errors, CancellationToken.None);
        Assert.Empty(errors);

        await RoleRules.ValidatePartnerAsync(services, [Roles.PartnerAdmin], Guid.NewGuid(), errors, CancellationToken.None);
        Assert.Equal(["The partner does not exist."], errors["partnerId"]);
    }

    private sealed class OneTenant : ITenantDirectory
    {
        public Task<TenantSummary?> FindAsync(Guid tenantId, CancellationToken cancellationToken) =>
            Task.FromResult(tenantId == Tenant ? new TenantSummary(Tenant, "Acme", TenantStatus.Active, null) : null);
    }
}
