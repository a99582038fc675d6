using Microsoft.EntityFrameworkCore;
using Mislata.Core.Tenants;
using Mislata.Identity.Features.Server;
using Mislata.Infrastructure.Identity;
using OpenIddict.Abstractions;
using OpenIddict.Server;

namespace Mislata.Identity.Tests.Server;

/// <summary>
/// The tenant boundary of the authorization server against real PostgreSQL owner rows: a tenant's application serves
/// only its tenant's users, a platform application anyone, an application without owner nobody; suspended or deleted
/// tenants are refused on either side.
/// </summary>
public sealed class ApplicationBoundaryTests : IClassFixture<ApplicationBoundaryTests.OwnerRows>
{
    private static readonly Guid ActiveTenant = Guid.Parse("aaaaaaaa-0000-0000-0000-000000000001");
    private static readonly Guid SuspendedTenant = Guid.Parse("aaaaaaaa-0000-0000-0000-000000000002");
    private static readonly Guid OtherTenant = Guid.Parse("aaaaaaaa-0000-0000-0000-000000000003");
    private static readonly Guid GoneTenant = Guid.Parse("aaaaaaaa-0000-0000-0000-000000000004");
    private static readonly Guid TenantApp = Guid.Parse("bbbbbbbb-0000-0000-0000-000000000001");
    private static readonly Guid SuspendedApp = Guid.Parse("bbbbbbbb-0000-0000-0000-000000000002");
    private static readonly Guid PlatformApp = Guid.Parse("bbbbbbbb-0000-0000-0000-000000000003");
    private static readonly Guid GoneTenantApp = Guid.Parse("bbbbbbbb-0000-0000-0000-000000000004");
    private static readonly Guid OwnerlessApp = Guid.Parse("bbbbbbbb-0000-0000-0000-000000000005");

    private readonly Tenants _tenants = new(new Dictionary<Guid, TenantSummary>
    {
        [ActiveTenant] = new(ActiveTenant, "Acme", TenantStatus.Active, null),
        [SuspendedTenant] = new(SuspendedTenant, "Frozen", TenantStatus.Suspended, null),
        [OtherTenant] = new(OtherTenant, "Other", TenantStatus.Active, null),
    });

    private readonly DbContextOptions<IdentityStoreDbContext> _options;

    /// <summary>One database of owner rows for the whole class (the tests only read it).</summary>
    public ApplicationBoundaryTests(OwnerRows rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        _options = rows.Options;
    }

    private async Task<BoundaryCheck> ApplicationAsync(string id)
    {
        await using var db = new IdentityStoreDbContext(_options);
        return await new ApplicationBoundary(db, _tenants).CheckApplicationAsync(id, CancellationToken.None);
    }

    private async Task<BoundaryCheck> UserAsync(Guid application, Guid? userTenant)
    {
        await using var db = new IdentityStoreDbContext(_options);
        return await new ApplicationBoundary(db, _tenants).CheckUserAsync(application.ToString(), userTenant, CancellationToken.None);
    }

    [Fact]
    public async Task An_application_without_an_owner_row_or_with_a_gone_or_suspended_tenant_takes_part_in_no_grant()
    {
        var ownerless = await ApplicationAsync(OwnerlessApp.ToString());
        Assert.Equal(BoundaryRefusal.NoOwner, ownerless.Refusal);
        Assert.Null(ownerless.Owner);
        Assert.False(ownerless.Allowed);
        Assert.Equal(BoundaryRefusal.NoOwner, (await ApplicationAsync("not-a-guid")).Refusal);

        var gone = await ApplicationAsync(GoneTenantApp.ToString());
        Assert.Equal(BoundaryRefusal.OwnerGone, gone.Refusal);
        Assert.Null(gone.Owner);

        var suspended = await ApplicationAsync(SuspendedApp.ToString());
        Assert.Equal(BoundaryRefusal.OwnerSuspended, suspended.Refusal);
        Assert.Equal(new ApplicationOwnerView(SuspendedTenant, "Frozen"), suspended.Owner);
        Assert.False(suspended.Allowed);
    }

    [Fact]
    public async Task A_tenant_application_is_owned_by_its_tenant_and_a_platform_application_by_the_platform()
    {
        var tenant = await ApplicationAsync(TenantApp.ToString());
        Assert.True(tenant.Allowed);
        Assert.Equal(new ApplicationOwnerView(ActiveTenant, "Acme"), tenant.Owner);
        Assert.False(tenant.Owner!.IsPlatform);

        var platform = await ApplicationAsync(PlatformApp.ToString());
        Assert.True(platform.Allowed);
        Assert.Equal(new ApplicationOwnerView(null, ApplicationOwnerView.PlatformName), platform.Owner);
        Assert.True(platform.Owner!.IsPlatform);
    }

    [Fact]
    public async Task A_tenant_application_signs_in_only_active_users_of_its_own_tenant()
    {
        Assert.Equal(BoundaryRefusal.None, (await UserAsync(TenantApp, ActiveTenant)).Refusal);
        Assert.Equal(BoundaryRefusal.OtherTenant, (await UserAsync(TenantApp, OtherTenant)).Refusal);
        Assert.Equal(BoundaryRefusal.OtherTenant, (await UserAsync(TenantApp, null)).Refusal);
        // The application is checked first: a suspended tenant's application refuses even its own users.
        Assert.Equal(BoundaryRefusal.OwnerSuspended, (await UserAsync(SuspendedApp, SuspendedTenant)).Refusal);
        Assert.Equal(BoundaryRefusal.NoOwner, (await UserAsync(OwnerlessApp, ActiveTenant)).Refusal);
    }

    [Fact]
    public async Task A_platform_application_signs_in_any_user_whose_own_tenant_is_active()
    {
        Assert.Equal(BoundaryRefusal.None, (await UserAsync(PlatformApp, null)).Refusal);
        Assert.Equal(BoundaryRefusal.None, (await UserAsync(PlatformApp, OtherTenant)).Refusal);
        Assert.Equal(BoundaryRefusal.UserTenantSuspended, (await UserAsync(PlatformApp, SuspendedTenant)).Refusal);
        var gone = await UserAsync(PlatformApp, GoneTenant);
        Assert.Equal(BoundaryRefusal.UserTenantGone, gone.Refusal);
        Assert.Equal(new ApplicationOwnerView(null, ApplicationOwnerView.PlatformName), gone.Owner);
    }

    [Fact]
    public void Every_refusal_has_its_own_audit_code_and_a_client_description()
    {
        var expected = new Dictionary<BoundaryRefusal, (string Code, string Description)>
        {
            [BoundaryRefusal.None] = ("none", string.Empty),
            [BoundaryRefusal.NoOwner] = ("application_without_owner", "The application is not registered with an owner."),
            [BoundaryRefusal.OwnerGone] = ("application_tenant_gone", "The application is not registered with an owner."),
            [BoundaryRefusal.OwnerSuspended] = ("application_tenant_suspended", "The application's tenant is suspended."),
            [BoundaryRefusal.OtherTenant] = ("other_tenant", "The application signs in only users of its own tenant."),
            [BoundaryRefusal.UserTenantGone] = ("user_tenant_gone", "The user's tenant no longer exists."),
            [BoundaryRefusal.UserTenantSuspended] = ("user_tenant_suspended", "The user's tenant is suspended."),
        };
        foreach (var (refusal, (code, description)) in expected)
        {
            var check = new BoundaryCheck(null, refusal);
            Assert.Equal(code, check.Code);
            Assert.Equal(description, check.Description);
            Assert.Equal(refusal == BoundaryRefusal.None, check.Allowed);
        }
    }

    /// <summary>The introspection check for a client id: its application (by the OpenIddict manager), then its owner row.</summary>
    private async Task<OpenIddictServerEvents.ValidateIntrospectionRequestContext> IntrospectAsync(string? clientId)
    {
        var (applications, fake) = Fake<IOpenIddictApplicationManager>.Create();
        var known = new Dictionary<string, Guid>(StringComparer.Ordinal)
        {
            ["tenant-app"] = TenantApp,
            ["suspended-app"] = SuspendedApp,
            ["platform-app"] = PlatformApp,
            ["ownerless-app"] = OwnerlessApp,
        };
        fake.On(nameof(IOpenIddictApplicationManager.FindByClientIdAsync), a => new ValueTask<object?>(known.TryGetValue((string)a[0]!, out var id) ? id : null))
            .On(nameof(IOpenIddictApplicationManager.GetIdAsync), a => new ValueTask<string?>(a[0]!.ToString()));
        var context = new OpenIddictServerEvents.ValidateIntrospectionRequestContext(new OpenIddictServerTransaction
        {
            EndpointType = OpenIddictServerEndpointType.Introspection,
            Options = new OpenIddictServerOptions(),
            Request = new OpenIddictRequest { ClientId = clientId },
            Logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
        });
        Assert.Equal(string.IsNullOrEmpty(clientId) ? null : clientId, context.ClientId);
        await using var db = new IdentityStoreDbContext(_options);
        await new RequirePlatformOwnerForIntrospection(applications, new ApplicationBoundary(db, _tenants)).HandleAsync(context);
        return context;
    }

    [Fact]
    public async Task Only_a_platform_application_may_introspect_tokens()
    {
        Assert.False((await IntrospectAsync("platform-app")).IsRejected);

        foreach (var clientId in new[] { "tenant-app", "suspended-app", "ownerless-app", "unknown-app", string.Empty, null })
        {
            var context = await IntrospectAsync(clientId);
            Assert.True(context.IsRejected, clientId);
            Assert.Equal(OpenIddictConstants.Errors.InvalidClient, context.Error);
            Assert.Equal("This client may not introspect tokens.", context.ErrorDescription);
        }

        await using (var db = new IdentityStoreDbContext(_options))
        {
            await Assert.ThrowsAsync<ArgumentNullException>(() => new ApplicationBoundary(db, _tenants).CheckUserAsync((ApplicationOwnerView)null!, ActiveTenant, CancellationToken.None));
        }

        await Assert.ThrowsAsync<ArgumentNullException>(async () =>
            await new RequirePlatformOwnerForIntrospection(Fake<IOpenIddictApplicationManager>.Create().Instance, new ApplicationBoundary(null!, _tenants)).HandleAsync(null!));
    }

    private sealed class Tenants(Dictionary<Guid, TenantSummary> tenants) : ITenantDirectory
    {
        public Task<TenantSummary?> FindAsync(Guid tenantId, CancellationToken cancellationToken) =>
            Task.FromResult(tenants.GetValueOrDefault(tenantId));
    }

    public sealed class OwnerRows : IAsyncLifetime
    {
        private PostgresInstance? _postgres;

        public DbContextOptions<IdentityStoreDbContext> Options { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            _postgres = await PostgresInstance.SharedOrOwnAsync();
            var connectionString = await _postgres.CreateDatabaseAsync("idboundary");
            var builder = new DbContextOptionsBuilder<IdentityStoreDbContext>()
                .UseNpgsql(connectionString, n => n.MigrationsHistoryTable("__EFMigrationsHistory", IdentityStoreDbContext.Schema));
            builder.UseOpenIddict<Guid>();
            Options = builder.Options;
            await using var db = new IdentityStoreDbContext(Options);
            await db.Database.MigrateAsync();
            var now = DateTimeOffset.UtcNow;
            db.ApplicationOwners.AddRange(
                new ApplicationOwner { ApplicationId = TenantApp, TenantId = ActiveTenant, CreatedAt = now },
                new ApplicationOwner { ApplicationId = SuspendedApp, TenantId = SuspendedTenant, CreatedAt = now },
                new ApplicationOwner { ApplicationId = PlatformApp, TenantId = null, CreatedAt = now },
                new ApplicationOwner { ApplicationId = GoneTenantApp, TenantId = GoneTenant, CreatedAt = now });
            await db.SaveChangesAsync();
        }

        public async Task DisposeAsync()
        {
            if (_postgres is not null)
            {
                await _postgres.DisposeAsync();
            }
        }
    }
}
