using System.Net;
using System.Net.Http.Headers;
using Mislata.EndToEnd.Tests.Identity;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Revocation;

/// <summary>A credential and the requests that prove it works: one on the api (sent to each replica) and one on identity's management API (through the gateway).</summary>
public sealed record Probe(string Token, string ApiPath, string IdentityPath);

/// <summary>Users and applications with outstanding access tokens, and the checks of where those tokens are accepted.</summary>
public static class Credentials
{
    public const string UserScope = "openid users:read apikeys:read";

    /// <summary>A user of <paramref name="tenantId"/> signed in through a tenant application (code + PKCE): (user id, access token).</summary>
    public static async Task<(string UserId, string AccessToken)> SignedInUserAsync(MislataStack stack, string operatorToken, Guid tenantId, string role = "tenant-admin")
    {
        var email = Oidc.NewEmail("revoked");
        var password = Oidc.StrongPassword();
        var user = await Oidc.CreateUserAsync(stack, operatorToken, email, password, [role], tenantId);
        var clientId = await Oidc.CreatePublicAppAsync(stack, operatorToken, tenantId, UserScope);
        using var browser = new Browser(stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
        var (verifier, challenge) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(browser, clientId, UserScope, challenge);
        var (status, tokens) = await Oidc.RedeemAsync(stack, clientId, code, verifier);
        Assert.True(status == HttpStatusCode.OK, $"redeem: {(int)status} {tokens}");
        return (user.GetProperty("id").GetString()!, tokens.GetProperty("access_token").GetString()!);
    }

    public static Probe UserProbe(string userId, string accessToken) => new(accessToken, "/api/v1/api-keys", "/api/v1/users/" + userId);

    /// <summary>A confidential platform application of the operator's (platform:admin, users:read): (application id, client id, secret).</summary>
    public static async Task<(string Id, string ClientId, string Secret)> PlatformApplicationAsync(MislataStack stack, string operatorToken)
    {
        var (status, body, _) = await Oidc.ApiAsync(stack, HttpMethod.Post, "/api/v1/applications", operatorToken,
            new { name = "revocation probe", type = "confidential", scopes = new[] { "platform:admin", "users:read" } });
        Assert.True(status == HttpStatusCode.Created, $"create application: {(int)status} {body}");
        return (body.GetProperty("id").GetString()!, body.GetProperty("clientId").GetString()!, body.GetProperty("clientSecret").GetString()!);
    }

    public static Probe ApplicationProbe(string accessToken) => new(accessToken, "/api/v1/admin/tenants?limit=1", "/api/v1/users?limit=1");

    /// <summary>Every api replica (directly) and identity (through the gateway) answer 200 to the credential.</summary>
    public static async Task AssertAcceptedEverywhereAsync(MislataStack stack, Probe probe)
    {
        ArgumentNullException.ThrowIfNull(probe);
        foreach (var (target, send) in Targets(stack, probe))
        {
            using var response = await send();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{target}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>
    /// Every api replica and identity answer 401 <c>unauthorized</c> within <paramref name="within"/>, all polled at
    /// once from the moment of the call (the change was just made).
    /// </summary>
    public static async Task AssertRefusedEverywhereAsync(MislataStack stack, Probe probe, TimeSpan within)
    {
        ArgumentNullException.ThrowIfNull(probe);
        var results = await Task.WhenAll(Targets(stack, probe).Select(async t => (t.Target, Result: await TenancyFixture.EventuallyAsync(t.Send, HttpStatusCode.Unauthorized, within))));
        foreach (var (target, (status, elapsed, body)) in results)
        {
            Assert.True(status == HttpStatusCode.Unauthorized, $"{target} still answered {(int)status} after {elapsed.TotalMilliseconds:F0} ms: {body}");
            Assert.Contains("\"unauthorized\"", body, StringComparison.Ordinal);
        }
    }

    /// <summary>Waits (polling the clock) until the second after <paramref name="instant"/>: <c>iat</c> counts whole seconds.</summary>
    public static async Task NextSecondAsync(DateTimeOffset instant)
    {
        var next = instant.ToUnixTimeSeconds() + 1;
        while (DateTimeOffset.UtcNow.ToUnixTimeSeconds() < next)
        {
            await Task.Delay(20);
        }
    }

    private static IEnumerable<(string Target, Func<Task<HttpResponseMessage>> Send)> Targets(MislataStack stack, Probe probe)
    {
        foreach (var api in stack.Of("api"))
        {
            yield return ($"api replica :{api.Port} GET {probe.ApiPath}", () => GetAsync(api.BaseAddress, null, probe.ApiPath, probe.Token));
        }

        yield return ($"identity (gateway) GET {probe.IdentityPath}", () => GetAsync(null, stack, probe.IdentityPath, probe.Token));
    }

    private static async Task<HttpResponseMessage> GetAsync(Uri? baseAddress, MislataStack? gateway, string path, string token)
    {
        using var client = gateway is null ? new HttpClient { BaseAddress = baseAddress } : gateway.Gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }
}
