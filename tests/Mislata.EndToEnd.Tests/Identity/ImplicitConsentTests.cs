using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>Implicit consent skips the consent page: only a platform admin may give it to an application.</summary>
[Collection(IdentityCollection.Name)]
public sealed class ImplicitConsentTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    private static object ImplicitApp(Guid? tenantId = null) => new
    {
        name = "implicit", type = "public", consentType = "implicit", redirectUris = new[] { "https://evil.example/cb" },
        scopes = new[] { "openid", "offline_access", "keys:read" }, tenantId,
    };

    [Fact]
    public async Task Implicit_consent_is_refused_to_a_tenant_api_key_on_create_and_patch()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (keyCreated, keyBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/admin/tenants/{tenant}/api-keys", op,
            new { name = "apps", scopes = new[] { "applications:read", "applications:write", "keys:read" } });
        Assert.True(keyCreated == HttpStatusCode.Created, keyBody.ToString());
        var key = keyBody.GetProperty("key").GetString()!;

        // The request of the attack, verbatim.
        var (refused, refusedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", key, ImplicitApp());
        Assert.Equal(HttpStatusCode.Forbidden, refused);
        Assert.Equal("forbidden", refusedBody.GetProperty("error").GetString());

        // The same key may still make an application that asks its users for consent, but not turn it implicit.
        var (created, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", key, new
        {
            name = "explicit", type = "public", redirectUris = new[] { Oidc.RedirectUri }, scopes = new[] { "openid", "keys:read" },
        });
        Assert.True(created == HttpStatusCode.Created, app.ToString());
        var id = app.GetProperty("id").GetString();
        var (patched, patchedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Patch, "/api/v1/applications/" + id, key, new { consentType = "implicit" });
        Assert.Equal(HttpStatusCode.Forbidden, patched);
        Assert.Equal("forbidden", patchedBody.GetProperty("error").GetString());

        var (_, list, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/applications", key);
        var stored = Assert.Single(list.GetProperty("data").EnumerateArray());
        Assert.Equal("explicit", stored.GetProperty("consentType").GetString());
    }

    [Fact]
    public async Task Implicit_consent_is_refused_to_a_tenant_admin_token_and_allowed_to_a_platform_admin()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);

        // A tenant admin signed in through a platform application that may manage applications.
        // (keys:read too: changing an application re-checks that the caller holds each of its scopes.)
        const string scope = "openid applications:read applications:write keys:read";
        var portal = await Oidc.CreatePublicAppAsync(_stack, op, null, scope);
        using var admin = await CodeFlow.SignedInUserAsync(_stack, op, tenant, "tenant-admin");
        var adminToken = (await CodeFlow.TokensAsync(_stack, admin.Browser, portal, scope)).GetProperty("access_token").GetString()!;

        var (refused, refusedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", adminToken, ImplicitApp());
        Assert.Equal(HttpStatusCode.Forbidden, refused);
        Assert.Equal("forbidden", refusedBody.GetProperty("error").GetString());

        // The platform admin gives it; the tenant admin then sees it, renames it, but may not move where it redirects.
        var (created, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, ImplicitApp(tenant));
        Assert.True(created == HttpStatusCode.Created, app.ToString());
        var id = app.GetProperty("id").GetString();
        var (_, fetched, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/applications/" + id, adminToken);
        Assert.Equal("implicit", fetched.GetProperty("consentType").GetString());
        var (moved, movedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Patch, "/api/v1/applications/" + id, adminToken,
            new { redirectUris = new[] { "https://elsewhere.example/cb" } });
        Assert.Equal(HttpStatusCode.Forbidden, moved);
        Assert.Equal("forbidden", movedBody.GetProperty("error").GetString());
        var (renamed, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Patch, "/api/v1/applications/" + id, adminToken, new { name = "renamed" });
        Assert.Equal(HttpStatusCode.OK, renamed);
        var (_, list, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/applications", adminToken);
        Assert.Equal([id], list.GetProperty("data").EnumerateArray().Select(a => a.GetProperty("id").GetString()));
    }
}
