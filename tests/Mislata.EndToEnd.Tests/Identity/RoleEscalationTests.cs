using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>No privilege beyond the caller's: a role given to a user carries only scopes the caller holds (issue 8, attack 2).</summary>
[Collection(IdentityCollection.Name)]
public sealed class RoleEscalationTests(IdentityFixture fixture)
{
    private static readonly string[] TenantMemberScopes = ["keys:read", "encryption:write", "secrets:read", "secrets:write"];

    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task A_credential_cannot_create_a_user_with_a_role_beyond_its_scopes()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var usersOnly = await AccountsKit.TenantKeyAsync(_stack, operatorToken, tenant, "users:read", "users:write");
        var email = Oidc.NewEmail("escalate");

        var (status, body, headers) = await AccountsKit.SendAsync(_stack, HttpMethod.Post, "/api/v1/users", usersOnly,
            new { email, password = Oidc.StrongPassword(), roles = new[] { "tenant-admin" } });

        Assert.True(status == HttpStatusCode.Forbidden, $"{(int)status} {body}");
        Assert.Equal("insufficient_scope", body.GetProperty("error").GetString());
        var missing = body.GetProperty("missingScopes").EnumerateArray().Select(s => s.GetString()).ToList();
        Assert.Contains("keys:write", missing);
        Assert.Contains("apikeys:write", missing);
        Assert.DoesNotContain("users:write", missing);
        Assert.Contains("keys:write", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("insufficient_scope", headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Equal(0L, await AccountsKit.ScalarAsync(_stack, $"SELECT count(*) FROM identity.\"AspNetUsers\" WHERE \"NormalizedEmail\" = '{email.ToUpperInvariant()}'"));

        // Holding a role's scopes is enough to give it: the rule is "no more than yours", not "nothing".
        var memberGiver = await AccountsKit.TenantKeyAsync(_stack, operatorToken, tenant, ["users:read", "users:write", .. TenantMemberScopes]);
        var (allowed, allowedBody, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Post, "/api/v1/users", memberGiver,
            new { email = Oidc.NewEmail("member"), password = Oidc.StrongPassword(), roles = new[] { "tenant-member" } });
        Assert.True(allowed == HttpStatusCode.Created, $"{(int)allowed} {allowedBody}");
    }

    [Fact]
    public async Task A_credential_cannot_patch_a_user_to_a_role_beyond_its_scopes()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var user = await Oidc.CreateUserAsync(_stack, operatorToken, Oidc.NewEmail("patched"), Oidc.StrongPassword(), ["tenant-member"], tenant);
        var userId = user.GetProperty("id").GetString();
        var memberGiver = await AccountsKit.TenantKeyAsync(_stack, operatorToken, tenant, ["users:read", "users:write", .. TenantMemberScopes]);

        var (status, body, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Patch, "/api/v1/users/" + userId, memberGiver, new { roles = new[] { "tenant-member", "tenant-admin" } });

        Assert.True(status == HttpStatusCode.Forbidden, $"{(int)status} {body}");
        Assert.Equal("insufficient_scope", body.GetProperty("error").GetString());
        Assert.Contains("roles:write", body.GetProperty("missingScopes").EnumerateArray().Select(s => s.GetString()));
        var (_, after, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users/" + userId, operatorToken);
        Assert.Equal(new[] { "tenant-member" }, after.GetProperty("roles").EnumerateArray().Select(r => r.GetString()!).ToArray());
    }

    [Fact]
    public async Task A_credential_cannot_assign_a_role_beyond_its_scopes_through_the_roles_api()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var user = await Oidc.CreateUserAsync(_stack, operatorToken, Oidc.NewEmail("assigned"), Oidc.StrongPassword(), ["tenant-member"], tenant);
        var userId = user.GetProperty("id").GetString();
        var rolesOnly = await AccountsKit.TenantKeyAsync(_stack, operatorToken, tenant, "roles:read", "roles:write", "users:read");

        var (status, body, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Put, $"/api/v1/roles/tenant-admin/members/{userId}", rolesOnly);

        Assert.True(status == HttpStatusCode.Forbidden, $"{(int)status} {body}");
        Assert.Equal("insufficient_scope", body.GetProperty("error").GetString());
        Assert.Contains("users:write", body.GetProperty("missingScopes").EnumerateArray().Select(s => s.GetString()));
        var (_, after, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users/" + userId, operatorToken);
        Assert.Equal(new[] { "tenant-member" }, after.GetProperty("roles").EnumerateArray().Select(r => r.GetString()!).ToArray());

        // The auditor's scopes in hand, the auditor role can be given.
        var auditorGiver = await AccountsKit.TenantKeyAsync(_stack, operatorToken, tenant, "roles:read", "roles:write", "audit:read", "keys:read", "billing:read");
        var (allowed, allowedBody, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Put, $"/api/v1/roles/auditor/members/{userId}", auditorGiver);
        Assert.True(allowed == HttpStatusCode.NoContent, $"{(int)allowed} {allowedBody}");
    }
}
