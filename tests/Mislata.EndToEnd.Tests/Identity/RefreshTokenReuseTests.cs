using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>Issue 9: a refresh token used twice is a stolen one; the whole family (authorization and tokens) dies.</summary>
[Collection(IdentityCollection.Name)]
public sealed class RefreshTokenReuseTests(IdentityFixture fixture)
{
    private const string Scope = "openid offline_access users:read";
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task Reusing_a_refresh_token_revokes_the_whole_family()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var clientId = await Oidc.CreatePublicAppAsync(_stack, op, tenant, Scope);
        using var user = await CodeFlow.SignedInUserAsync(_stack, op, tenant, "tenant-admin");
        var r1 = (await CodeFlow.TokensAsync(_stack, user.Browser, clientId, Scope)).GetProperty("refresh_token").GetString()!;

        var (first, second) = await Oidc.RefreshAsync(_stack, clientId, r1);
        Assert.True(first == HttpStatusCode.OK, second.ToString());
        var a2 = second.GetProperty("access_token").GetString()!;
        var r2 = second.GetProperty("refresh_token").GetString()!;
        var (me, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users/" + user.Id, a2);
        Assert.Equal(HttpStatusCode.OK, me);

        // R1 again: refused, and with it R2, A2 and the authorization they hang on.
        var (reused, reusedBody) = await Oidc.RefreshAsync(_stack, clientId, r1);
        Assert.Equal(HttpStatusCode.BadRequest, reused);
        Assert.Equal("invalid_grant", reusedBody.GetProperty("error").GetString());
        var (child, childBody) = await Oidc.RefreshAsync(_stack, clientId, r2);
        Assert.Equal(HttpStatusCode.BadRequest, child);
        Assert.Equal("invalid_grant", childBody.GetProperty("error").GetString());
        Assert.False((await Oidc.IntrospectAsync(_stack, a2)).GetProperty("active").GetBoolean());
        var (refusedAtIdentity, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users/" + user.Id, a2);
        Assert.Equal(HttpStatusCode.Unauthorized, refusedAtIdentity);
        Assert.Equal("revoked", await IdentitySql.ScalarAsync(_stack,
            "SELECT string_agg(DISTINCT a.\"Status\", ',') FROM identity.\"OpenIddictAuthorizations\" a " +
            $"JOIN identity.\"OpenIddictApplications\" p ON p.\"Id\" = a.\"ApplicationId\" WHERE p.\"ClientId\" = '{clientId}'"));

        // The legitimate client starts over with a new authorization.
        var fresh = await CodeFlow.TokensAsync(_stack, user.Browser, clientId, Scope);
        Assert.False(string.IsNullOrEmpty(fresh.GetProperty("refresh_token").GetString()));
    }
}
