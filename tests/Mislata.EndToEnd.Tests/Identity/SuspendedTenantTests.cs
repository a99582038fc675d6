using System.Net;
using System.Net.Http.Headers;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// A suspended tenant's users and applications are refused by identity as they are by the api — authorize, code and
/// refresh, client credentials and the management API — on every replica within a second, until it is reactivated.
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class SuspendedTenantTests(IdentityFixture fixture)
{
    private const string Scope = "openid offline_access users:read";
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(1);
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task A_suspended_tenants_users_and_applications_are_refused_by_identity_until_it_is_reactivated()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var clientId = await Oidc.CreatePublicAppAsync(_stack, op, tenant, Scope);
        var (serviceId, secret) = await CodeFlow.CreateServiceAppAsync(_stack, op, tenant, "users:read");
        using var user = await CodeFlow.SignedInUserAsync(_stack, op, tenant, "tenant-admin");
        var tokens = await CodeFlow.TokensAsync(_stack, user.Browser, clientId, Scope);
        var access = tokens.GetProperty("access_token").GetString()!;
        var refresh = tokens.GetProperty("refresh_token").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await CodeFlow.ClientCredentialsAsync(_stack, serviceId, secret)).Status);

        var (suspended, suspendedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/admin/tenants/{tenant}/suspend", op);
        Assert.True(suspended == HttpStatusCode.OK, suspendedBody.ToString());

        // The management API refuses the user's still-unexpired token on each identity replica within a second.
        foreach (var replica in _stack.Of("identity"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, await CodeFlow.EventuallyAsync(() => ManagementAsync(replica.BaseAddress, access, user.Id), HttpStatusCode.Forbidden, Propagation));
        }

        using var gateway = _stack.Gateway.CreateClient();
        var (_, problem) = await CodeFlow.SendAsync(gateway, HttpMethod.Get, "/api/v1/users/" + user.Id, access);
        Assert.Equal("forbidden", problem);
        var (refreshed, refreshedBody) = await Oidc.RefreshAsync(_stack, clientId, refresh);
        Assert.Equal(HttpStatusCode.BadRequest, refreshed);
        Assert.Equal("invalid_grant", refreshedBody.GetProperty("error").GetString());
        var (service, serviceBody) = await CodeFlow.ClientCredentialsAsync(_stack, serviceId, secret);
        Assert.True(service is HttpStatusCode.BadRequest or HttpStatusCode.Unauthorized, serviceBody.ToString());
        Assert.Contains(serviceBody.GetProperty("error").GetString(), new[] { "unauthorized_client", "invalid_client" });
        Assert.False(serviceBody.TryGetProperty("access_token", out _));
        CodeFlow.AssertDeniedWithoutCode(await CodeFlow.AuthorizeOnceAsync(user.Browser, clientId, Scope));

        var (reactivated, reactivatedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/admin/tenants/{tenant}/reactivate", op);
        Assert.True(reactivated == HttpStatusCode.OK, reactivatedBody.ToString());
        foreach (var replica in _stack.Of("identity"))
        {
            Assert.Equal(HttpStatusCode.OK, await CodeFlow.EventuallyAsync(() => ManagementAsync(replica.BaseAddress, access, user.Id), HttpStatusCode.OK, Propagation));
        }

        // The refusals spent nothing: the same refresh token, the same secret and the same session work again.
        var (again, againBody) = await Oidc.RefreshAsync(_stack, clientId, refresh);
        Assert.True(again == HttpStatusCode.OK, againBody.ToString());
        Assert.Equal(HttpStatusCode.OK, (await CodeFlow.ClientCredentialsAsync(_stack, serviceId, secret)).Status);
        Assert.False(string.IsNullOrEmpty(await Oidc.AuthorizeAsync(user.Browser, clientId, Scope, Oidc.Pkce().Challenge)));
    }

    /// <summary>GET /api/v1/users/{id} straight to one identity replica (not through the gateway's round robin).</summary>
    private static async Task<HttpStatusCode> ManagementAsync(Uri replica, string token, Guid userId)
    {
        using var client = new HttpClient { BaseAddress = replica };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/users/" + userId);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }
}
