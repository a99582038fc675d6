using System.Security.Claims;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Mislata.Api.Access;
using Mislata.Core.Access;
using Mislata.Core.Audit;

namespace Mislata.Api.Tests.Access;

/// <summary>
/// The pure access rules of Core (roles → scopes, token bindings, the caller's credential identity) and the api's
/// decisions built on them (audience of an endpoint, claims of an access token, where tokens come from).
/// </summary>
public sealed class AccessRulesTests
{
    private static readonly Guid Tenant = Guid.Parse("11111111-1111-1111-1111-111111111111");
    private static readonly Guid Partner = Guid.Parse("22222222-2222-2222-2222-222222222222");

    private static Caller CallerOf(Guid? tenantId = null, Guid? partnerId = null, Guid? apiKeyId = null, params string[] scopes) => new()
    {
        Kind = apiKeyId is null ? CredentialKind.AccessToken : CredentialKind.ApiKey,
        ActorType = AuditActorType.User,
        ActorId = "actor-1",
        TenantId = tenantId,
        PartnerId = partnerId,
        ApiKeyId = apiKeyId,
        Scopes = scopes.ToHashSet(StringComparer.Ordinal),
    };

    private static string[] Sorted(IEnumerable<string> scopes) => [.. scopes.Order(StringComparer.Ordinal)];

    [Fact]
    public void Each_role_maps_to_exactly_the_scopes_of_API_md()
    {
        Assert.Equal(Sorted(Scopes.All), Sorted(Roles.ScopesOf(Roles.PlatformAdmin)));
        Assert.Equal([Scopes.PartnerAdmin], Roles.ScopesOf(Roles.PartnerAdmin));
        Assert.Equal(Sorted(Scopes.Tenant), Sorted(Roles.ScopesOf(Roles.TenantAdmin)));
        Assert.Equal(["encryption:write", "keys:read", "secrets:read", "secrets:write"], Sorted(Roles.ScopesOf(Roles.TenantMember)));
        Assert.Equal(["audit:read", "billing:read", "keys:read"], Sorted(Roles.ScopesOf(Roles.Auditor)));
        Assert.Empty(Roles.ScopesOf("superuser"));
        Assert.Empty(Roles.ScopesOf("Tenant-Admin"));

        // The tenant set is every scope but the two platform-level ones, each once.
        Assert.Equal(19, Scopes.Tenant.Count);
        Assert.Equal(Scopes.Tenant.Count, Scopes.Tenant.Distinct(StringComparer.Ordinal).Count());
        Assert.DoesNotContain(Scopes.PartnerAdmin, Scopes.Tenant);
        Assert.DoesNotContain(Scopes.PlatformAdmin, Scopes.Tenant);
        Assert.Equal(21, Scopes.All.Count);
        Assert.Equal([.. Scopes.Tenant, Scopes.PartnerAdmin, Scopes.PlatformAdmin], Scopes.All);
    }

    [Fact]
    public void Only_the_three_tenant_roles_need_a_tenant()
    {
        Assert.True(Roles.IsTenantRole(Roles.TenantAdmin));
        Assert.True(Roles.IsTenantRole(Roles.TenantMember));
        Assert.True(Roles.IsTenantRole(Roles.Auditor));
        Assert.False(Roles.IsTenantRole(Roles.PlatformAdmin));
        Assert.False(Roles.IsTenantRole(Roles.PartnerAdmin));
        Assert.False(Roles.IsTenantRole("unknown"));
        Assert.Equal(5, Roles.All.Count);
    }

    [Fact]
    public void A_scope_is_known_only_when_spelled_exactly_as_in_API_md()
    {
        Assert.True(Scopes.IsKnown("keys:read"));
        Assert.True(Scopes.IsKnown("platform:admin"));
        Assert.True(Scopes.IsKnown("partner:admin"));
        Assert.False(Scopes.IsKnown("KEYS:READ"));
        Assert.False(Scopes.IsKnown("openid"));
        Assert.False(Scopes.IsKnown(string.Empty));
    }

    [Fact]
    public void A_user_holds_tenant_scopes_only_with_a_tenant_and_platform_admin_only_without_any_binding()
    {
        // A platform admin bound to a tenant holds only tenant scopes there.
        Assert.Equal(Sorted(Scopes.Tenant), Sorted(TokenScopes.ForUser([Roles.PlatformAdmin], Tenant, null)));
        // A platform admin bound to a partner holds partner:admin, nothing else.
        Assert.Equal([Scopes.PartnerAdmin], Sorted(TokenScopes.ForUser([Roles.PlatformAdmin], null, Partner)));
        // A partner admin without a partner binding holds nothing; a tenant member with a partner binding nothing.
        Assert.Empty(TokenScopes.ForUser([Roles.PartnerAdmin], null, null));
        Assert.Empty(TokenScopes.ForUser([Roles.TenantMember], null, Partner));
        // A tenant admin who is also a partner admin, bound to both: tenant scopes and partner:admin, never platform:admin.
        var both = TokenScopes.ForUser([Roles.TenantAdmin, Roles.PartnerAdmin], Tenant, Partner);
        Assert.Equal(Sorted([.. Scopes.Tenant, Scopes.PartnerAdmin]), Sorted(both));
        // Roles are matched exactly.
        Assert.Empty(TokenScopes.ForUser(["PLATFORM-ADMIN"], null, null));
        Assert.Throws<ArgumentNullException>(() => TokenScopes.ForUser(null!, null, null));
        Assert.Throws<ArgumentNullException>(() => TokenScopes.ForClient(null!, null));
        Assert.Throws<ArgumentNullException>(() => TokenScopes.Honoured(null!, [], null, null, null, null));
    }

    [Fact]
    public void A_token_is_a_client_token_when_its_subject_is_missing_or_is_the_client_id()
    {
        Assert.True(TokenScopes.IsClientToken(null, "app"));
        Assert.True(TokenScopes.IsClientToken(string.Empty, "app"));
        Assert.True(TokenScopes.IsClientToken("app", "app"));
        Assert.False(TokenScopes.IsClientToken("APP", "app"));
        Assert.False(TokenScopes.IsClientToken("user-1", "app"));
        Assert.False(TokenScopes.IsClientToken("user-1", null));
    }

    [Fact]
    public void A_client_token_bound_to_a_partner_counts_for_no_scope_and_a_user_token_for_its_roles_only()
    {
        Assert.Empty(TokenScopes.Honoured(["partner:admin", "keys:read"], [], "app", "app", null, Partner));
        Assert.Equal(["keys:read"], Sorted(TokenScopes.Honoured(["keys:read", "platform:admin"], [], "app", "app", Tenant, null)));
        Assert.Equal(["keys:read", "platform:admin"], Sorted(TokenScopes.Honoured(["keys:read", "platform:admin", "openid"], [], null, "app", null, null)));
        // A user's granted scopes beyond their roles are dropped, even if a client could hold them.
        Assert.Equal(["keys:read"], Sorted(TokenScopes.Honoured(["keys:read", "keys:write"], [Roles.TenantMember], "user-1", "app", Tenant, null)));
        Assert.Same(TokenScopes.Platform, Scopes.All);
    }

    [Fact]
    public void The_credential_identity_of_an_api_key_is_its_id_and_of_a_token_its_subject()
    {
        var keyId = Guid.Parse("33333333-3333-3333-3333-333333333333");
        Assert.Equal("key:33333333333333333333333333333333", CallerOf(apiKeyId: keyId).CredentialId);
        Assert.Equal("sub:actor-1", CallerOf().CredentialId);
        Assert.True(CallerOf(scopes: "keys:read").Has("keys:read"));
        Assert.False(CallerOf(scopes: "keys:read").Has("keys:write"));
    }

    [Fact]
    public void An_audit_event_carries_the_actor_its_address_and_request_id()
    {
        var actor = new RequestActor(AuditActorType.ApiKey, "key-1", "203.0.113.9", "req-1");
        var details = new Dictionary<string, string> { ["k"] = "v" };
        var e = actor.Event(Tenant, "key.create", "key", "key-9", AuditOutcome.Denied, "forbidden", details);
        Assert.Equal(Tenant, e.TenantId);
        Assert.Equal(AuditActorType.ApiKey, e.ActorType);
        Assert.Equal("key-1", e.ActorId);
        Assert.Equal("key.create", e.Action);
        Assert.Equal("key", e.ResourceType);
        Assert.Equal("key-9", e.ResourceId);
        Assert.Equal(AuditOutcome.Denied, e.Outcome);
        Assert.Equal("forbidden", e.ErrorCode);
        Assert.Equal("203.0.113.9", e.SourceIp);
        Assert.Equal("req-1", e.RequestId);
        Assert.Same(details, e.Details);

        var system = RequestActor.System.Event(null, "x", null, null);
        Assert.Equal(AuditActorType.System, system.ActorType);
        Assert.Equal("system", system.ActorId);
        Assert.Equal(AuditOutcome.Success, system.Outcome);
        Assert.Null(system.SourceIp);
    }

    [Fact]
    public void An_endpoint_refuses_callers_outside_its_audience()
    {
        var tenantCaller = CallerOf(Tenant, scopes: "keys:read");
        var partnerCaller = CallerOf(partnerId: Partner, scopes: "partner:admin");
        var operatorCaller = CallerOf(scopes: "platform:admin");
        var unboundWithoutPlatform = CallerOf(scopes: "keys:read");

        Assert.Null(CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.Tenant, tenantCaller));
        Assert.Equal("This endpoint needs a tenant credential.", CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.Tenant, operatorCaller));
        Assert.Equal("This endpoint needs a tenant credential.", CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.Tenant, partnerCaller));

        Assert.Null(CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.TenantOrPlatform, tenantCaller));
        Assert.Null(CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.TenantOrPlatform, operatorCaller));
        Assert.Equal("This endpoint needs a tenant credential.", CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.TenantOrPlatform, unboundWithoutPlatform));
        Assert.Equal("This endpoint needs a tenant credential.", CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.TenantOrPlatform, partnerCaller));

        Assert.Null(CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.Partner, partnerCaller));
        Assert.Equal("This endpoint needs a partner administrator credential.", CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.Partner, tenantCaller));
        Assert.Equal("This endpoint needs a partner administrator credential.", CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.Partner, operatorCaller));

        Assert.Null(CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.Platform, operatorCaller));
        Assert.Equal("This endpoint is for platform operators.", CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.Platform, tenantCaller));
        Assert.Equal("This endpoint is for platform operators.", CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.Platform, partnerCaller));

        // Any credential: every kind of caller, even one without the platform scope or a binding.
        foreach (var caller in new[] { tenantCaller, partnerCaller, operatorCaller, unboundWithoutPlatform })
        {
            Assert.Null(CallerAuthenticationMiddleware.AudienceProblem(CallerAudience.Any, caller));
        }
    }

    [Fact]
    public void The_default_per_credential_limit_comes_from_the_RateLimits_section_and_is_at_least_one()
    {
        static IConfiguration With(params (string Key, string Value)[] pairs) =>
            new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

        Assert.Equal(6_000, RateLimitOptions.FromConfiguration(With()).DefaultPerCredential);
        Assert.Equal(250_000, RateLimitOptions.FromConfiguration(With(("RateLimits:DefaultPerCredential", "250000"))).DefaultPerCredential);
        Assert.Equal(1, RateLimitOptions.FromConfiguration(With(("RateLimits:DefaultPerCredential", "1"))).DefaultPerCredential);
        foreach (var refused in new[] { "0", "-5" })
        {
            var e = Assert.Throws<InvalidOperationException>(() => RateLimitOptions.FromConfiguration(With(("RateLimits:DefaultPerCredential", refused))));
            Assert.Contains("RateLimits:DefaultPerCredential", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Only_the_credential_check_asks_for_no_scope()
    {
        Assert.True(new AccessRequirement(Scopes.KeysRead, CallerAudience.Tenant).NeedsScope);
        Assert.False(new AccessRequirement(string.Empty, CallerAudience.Any).NeedsScope);

        // A scoped endpoint cannot be declared without its scope by mistake.
        var endpoints = new Microsoft.AspNetCore.Builder.RouteHandlerBuilder([]);
        Assert.ThrowsAny<ArgumentException>(() => endpoints.RequireScope(""));
        Assert.ThrowsAny<ArgumentException>(() => endpoints.RequireScope(null!));
    }

    private static ClaimsIdentity Token(params (string Type, string Value)[] claims) => new(claims.Select(c => new Claim(c.Type, c.Value)));

    [Fact]
    public void An_access_token_without_subject_or_with_a_malformed_binding_is_not_a_credential()
    {
        Assert.Equal((null, "access_token_without_subject"), CallerAuthenticationMiddleware.FromAccessToken(Token((ClaimNames.Scope, "keys:read"))));
        Assert.Equal((null, "access_token_without_subject"), CallerAuthenticationMiddleware.FromAccessToken(Token((ClaimNames.Subject, ""), (ClaimNames.ClientId, ""))));
        Assert.Equal((null, "access_token_bad_tenant"), CallerAuthenticationMiddleware.FromAccessToken(Token((ClaimNames.Subject, "u"), (ClaimNames.TenantId, "not-a-guid"))));
        Assert.Equal((null, "access_token_bad_partner"), CallerAuthenticationMiddleware.FromAccessToken(Token((ClaimNames.Subject, "u"), (ClaimNames.PartnerId, "not-a-guid"))));

        // An empty binding claim is no binding.
        var (caller, refusal) = CallerAuthenticationMiddleware.FromAccessToken(Token((ClaimNames.Subject, "u"), (ClaimNames.TenantId, ""), (ClaimNames.PartnerId, "")));
        Assert.Null(refusal);
        Assert.Null(caller!.TenantId);
        Assert.Null(caller.PartnerId);
    }

    [Fact]
    public void A_user_token_names_the_user_and_a_client_token_the_client_as_actor()
    {
        var (user, _) = CallerAuthenticationMiddleware.FromAccessToken(Token(
            (ClaimNames.Subject, "user-7"), (ClaimNames.ClientId, "dashboard"), (ClaimNames.TenantId, Tenant.ToString()),
            (ClaimNames.Role, Roles.TenantMember), (ClaimNames.Scope, "keys:read  keys:write"), (ClaimNames.Scope, "secrets:read")));
        Assert.Equal(CredentialKind.AccessToken, user!.Kind);
        Assert.Equal(AuditActorType.User, user.ActorType);
        Assert.Equal("user-7", user.ActorId);
        Assert.Equal("dashboard", user.ClientId);
        Assert.Equal(Tenant, user.TenantId);
        Assert.Null(user.ApiKeyId);
        Assert.Equal(["keys:read", "secrets:read"], Sorted(user.Scopes));

        var (client, _) = CallerAuthenticationMiddleware.FromAccessToken(Token((ClaimNames.ClientId, "svc"), (ClaimNames.PartnerId, Partner.ToString())));
        Assert.Equal(AuditActorType.Client, client!.ActorType);
        Assert.Equal("svc", client.ActorId);
        Assert.Equal(Partner, client.PartnerId);
        Assert.Empty(client.Scopes);
    }

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void Tokens_are_accepted_only_from_an_absolute_http_jwks_with_a_configured_issuer()
    {
        var none = AccessTokenOptions.FromConfiguration(Config());
        Assert.Null(none.JwksUri);
        Assert.Null(none.Issuer);

        var derived = AccessTokenOptions.FromConfiguration(Config(("QAPI_PUBLIC_URL", "https://mislata.example/"), ("QAPI_IDENTITY_URL", "http://identity:8080/")));
        Assert.Equal("https://mislata.example", derived.Issuer);
        Assert.Equal(new Uri("http://identity:8080/.well-known/jwks"), derived.JwksUri);

        var explicitJwks = AccessTokenOptions.FromConfiguration(Config(("QAPI_PUBLIC_URL", "https://m.example"), ("QAPI_JWKS_URL", "https://keys.example/jwks"), ("QAPI_IDENTITY_URL", "http://identity:8080")));
        Assert.Equal(new Uri("https://keys.example/jwks"), explicitJwks.JwksUri);

        Assert.Throws<OptionsValidationException>(() => AccessTokenOptions.FromConfiguration(Config(("QAPI_PUBLIC_URL", "https://m.example"), ("QAPI_JWKS_URL", "ftp://keys.example/jwks"))));
        Assert.Throws<OptionsValidationException>(() => AccessTokenOptions.FromConfiguration(Config(("QAPI_PUBLIC_URL", "https://m.example"), ("QAPI_JWKS_URL", "/relative/jwks"))));
        Assert.Throws<OptionsValidationException>(() => AccessTokenOptions.FromConfiguration(Config(("QAPI_IDENTITY_URL", "http://identity:8080"))));
        Assert.Throws<OptionsValidationException>(() => AccessTokenOptions.FromConfiguration(Config(("QAPI_PUBLIC_URL", " "), ("QAPI_JWKS_URL", "http://identity/jwks"))));
        Assert.Throws<ArgumentNullException>(() => AccessTokenOptions.FromConfiguration(null!));
    }
}
