using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

[Collection(IdentityCollection.Name)]
public sealed class ManagementApiTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task Without_a_token_it_is_401_problem_with_www_authenticate()
    {
        var (status, body, headers) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users", null);
        var (bad, badBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/applications", "not-a-token");

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("unauthorized", body.GetProperty("error").GetString());
        Assert.StartsWith("Bearer", headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, bad);
        Assert.Equal("unauthorized", badBody.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_tenant_admin_manages_only_its_tenant_and_a_missing_scope_is_403()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenantA = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var tenantB = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var userB = await Oidc.CreateUserAsync(_stack, operatorToken, Oidc.NewEmail("b"), Oidc.StrongPassword(), ["tenant-member"], tenantB);

        // A confidential service application of tenant A, with users:* (and the auditor's scopes it hands out) but not roles:*.
        var (created, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", operatorToken, new
        {
            name = "tenant A service", type = "confidential", scopes = new[] { "users:read", "users:write", "applications:read", "audit:read", "keys:read", "billing:read" }, tenantId = tenantA,
        });
        Assert.Equal(HttpStatusCode.Created, created);
        var tokenA = await Oidc.ClientCredentialsAsync(_stack, app.GetProperty("clientId").GetString()!, app.GetProperty("clientSecret").GetString()!);

        var (other, otherBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users/" + userB.GetProperty("id").GetString(), tokenA);
        Assert.Equal(HttpStatusCode.NotFound, other);
        Assert.Equal("not_found", otherBody.GetProperty("error").GetString());

        var (mine, mineBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/users", tokenA, new { email = Oidc.NewEmail("a"), password = Oidc.StrongPassword(), roles = new[] { "auditor" } });
        Assert.Equal(HttpStatusCode.Created, mine);
        Assert.Equal(tenantA.ToString(), mineBody.GetProperty("tenantId").GetString());

        var (list, listBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users?limit=100", tokenA);
        Assert.Equal(HttpStatusCode.OK, list);
        Assert.All(listBody.GetProperty("data").EnumerateArray(), u => Assert.Equal(tenantA.ToString(), u.GetProperty("tenantId").GetString()));

        var (escalate, escalateBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/users", tokenA, new { email = Oidc.NewEmail("x"), password = Oidc.StrongPassword(), roles = new[] { "platform-admin" } });
        Assert.Equal(HttpStatusCode.BadRequest, escalate);
        Assert.Equal("validation_failed", escalateBody.GetProperty("error").GetString());
        Assert.True(escalateBody.GetProperty("errors").TryGetProperty("roles", out _));

        var (scope, scopeBody, scopeHeaders) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/roles", tokenA);
        Assert.Equal(HttpStatusCode.Forbidden, scope);
        Assert.Equal("insufficient_scope", scopeBody.GetProperty("error").GetString());
        Assert.Contains("insufficient_scope", scopeHeaders.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validation_errors_name_the_fields_and_lists_page_with_a_cursor()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var (invalid, invalidBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/users", operatorToken, new { email = "not-an-email", password = "short", roles = new[] { "nobody" } });
        Assert.Equal(HttpStatusCode.BadRequest, invalid);
        Assert.Equal("validation_failed", invalidBody.GetProperty("error").GetString());
        Assert.True(invalidBody.GetProperty("errors").TryGetProperty("email", out _));
        Assert.True(invalidBody.GetProperty("errors").TryGetProperty("roles", out _));

        // Users and applications can only be made for tenants that exist.
        var (ghostUser, ghostUserBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/users", operatorToken,
            new { email = Oidc.NewEmail("ghost"), password = Oidc.StrongPassword(), roles = new[] { "tenant-member" }, tenantId = Guid.NewGuid() });
        Assert.Equal(HttpStatusCode.BadRequest, ghostUser);
        Assert.True(ghostUserBody.GetProperty("errors").TryGetProperty("tenantId", out _));
        var (ghostApp, ghostAppBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", operatorToken,
            new { name = "ghost", type = "confidential", scopes = new[] { "keys:read" }, tenantId = Guid.NewGuid() });
        Assert.Equal(HttpStatusCode.BadRequest, ghostApp);
        Assert.True(ghostAppBody.GetProperty("errors").TryGetProperty("tenantId", out _));

        var tenant = await Oidc.CreateTenantAsync(_stack, operatorToken);
        for (var i = 0; i < 3; i++)
        {
            await Oidc.CreateUserAsync(_stack, operatorToken, Oidc.NewEmail("page" + i), Oidc.StrongPassword(), ["tenant-member"], tenant);
        }

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var (status, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, $"/api/v1/users?tenantId={tenant}&limit=2" + (cursor is null ? string.Empty : "&cursor=" + cursor), operatorToken);
            Assert.Equal(HttpStatusCode.OK, status);
            seen.AddRange(body.GetProperty("data").EnumerateArray().Select(u => u.GetProperty("email").GetString()!));
            cursor = body.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);

        Assert.Equal(3, seen.Distinct().Count());
        var (bad, badBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users?limit=1000", operatorToken);
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Equal("validation_failed", badBody.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Application_secrets_are_shown_once_and_rotate()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var (_, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", operatorToken, new { name = "svc", type = "confidential", scopes = new[] { "keys:read" }, tenantId = await Oidc.CreateTenantAsync(_stack, operatorToken) });
        var id = app.GetProperty("id").GetString();
        var clientId = app.GetProperty("clientId").GetString()!;
        var firstSecret = app.GetProperty("clientSecret").GetString()!;

        var (_, fetched, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/applications/" + id, operatorToken);
        Assert.False(fetched.TryGetProperty("clientSecret", out _));
        var (_, rotated, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/applications/{id}/secret", operatorToken);
        var secondSecret = rotated.GetProperty("clientSecret").GetString()!;

        var (old, _) = await Oidc.TokenAsync(_stack, new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = firstSecret });
        Assert.Equal(HttpStatusCode.Unauthorized, old);
        Assert.False(string.IsNullOrEmpty(await Oidc.ClientCredentialsAsync(_stack, clientId, secondSecret)));
    }
}
