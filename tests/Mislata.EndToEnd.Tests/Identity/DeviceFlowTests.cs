using System.Net;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// The device authorization grant (RFC 8628), issue 17: a device asks for a code, a person signs in on the
/// verification page in a browser and allows it, and the device's polling then gets tokens for that person. Denial,
/// a wrong code and another tenant's user are refused.
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class DeviceFlowTests(IdentityFixture fixture)
{
    private const string DeviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code";
    private readonly MislataStack _stack = fixture.Stack;

    private async Task<(Guid Tenant, string ClientId, string Email, string Password)> SetUpAsync(string op)
    {
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var email = Oidc.NewEmail("device");
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, op, email, password, ["tenant-admin"], tenant);
        var (status, created, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, new
        {
            name = "Terminal", type = "public", deviceFlow = true, scopes = new[] { "openid", "offline_access", "keys:read" }, tenantId = tenant,
        });
        Assert.True(status == HttpStatusCode.Created, created.ToString());
        return (tenant, created.GetProperty("clientId").GetString()!, email, password);
    }

    private Task<(HttpStatusCode Status, JsonElement Body)> StartAsync(string clientId, string scope = "openid offline_access keys:read") =>
        Oidc.PostFormAsync(_stack, "/connect/device", new Dictionary<string, string> { ["client_id"] = clientId, ["scope"] = scope });

    private Task<(HttpStatusCode Status, JsonElement Body)> PollAsync(string clientId, string deviceCode) =>
        Oidc.TokenAsync(_stack, new Dictionary<string, string> { ["grant_type"] = DeviceCodeGrant, ["client_id"] = clientId, ["device_code"] = deviceCode });

    [Fact]
    public async Task A_person_allows_a_device_on_the_verification_page_and_the_device_gets_their_tokens()
    {
        var discovery = JsonDocument.Parse(await _stack.Gateway.CreateClient().GetStringAsync(new Uri("/.well-known/openid-configuration", UriKind.Relative))).RootElement;
        Assert.Equal(new Uri(_stack.Gateway.BaseAddress, "connect/device").ToString(), discovery.GetProperty("device_authorization_endpoint").GetString());
        Assert.Contains(DeviceCodeGrant, discovery.GetProperty("grant_types_supported").EnumerateArray().Select(e => e.GetString()));

        var op = await Oidc.OperatorTokenAsync(_stack);
        var (tenant, clientId, email, password) = await SetUpAsync(op);
        var (started, device) = await StartAsync(clientId);
        Assert.True(started == HttpStatusCode.OK, device.ToString());
        var deviceCode = device.GetProperty("device_code").GetString()!;
        var userCode = device.GetProperty("user_code").GetString()!;
        Assert.Equal(new Uri(_stack.Gateway.BaseAddress, "connect/verify").ToString(), device.GetProperty("verification_uri").GetString());

        // Before anyone allows it, the device is told to keep polling.
        var (pending, pendingBody) = await PollAsync(clientId, deviceCode);
        Assert.Equal(HttpStatusCode.BadRequest, pending);
        Assert.Equal("authorization_pending", pendingBody.GetProperty("error").GetString());

        // The person opens the verification page, is sent to sign in, comes back, enters the code and allows.
        using var browser = new Browser(_stack);
        var login = await browser.NavigateAsync("/connect/verify");
        Assert.NotNull(login.Document.QuerySelector("input[name=password]"));
        var entry = await Oidc.SignInAsync(browser, login, email, password);
        Assert.NotNull(entry.Document.QuerySelector("input[name=user_code]"));

        var wrong = await browser.SubmitAsync(entry, new Dictionary<string, string> { ["user_code"] = "WRONG-CODE" });
        Assert.Equal(HttpStatusCode.BadRequest, wrong.Status);
        Assert.NotNull(wrong.Document.QuerySelector("#error"));

        var consent = await browser.SubmitAsync(entry, new Dictionary<string, string> { ["user_code"] = userCode });
        Assert.Equal("Terminal", consent.Document.QuerySelector("#application")?.TextContent);
        Assert.Contains("keys:read", consent.Document.QuerySelector("#scopes")?.TextContent ?? string.Empty, StringComparison.Ordinal);
        var done = await browser.FollowAsync(await browser.SubmitAsync(consent, submitName: "submit", submitValue: "accept"));
        Assert.Equal("allowed", done.Document.QuerySelector("#result")?.GetAttribute("data-result"));

        var (granted, tokens) = await PollAsync(clientId, deviceCode);
        Assert.True(granted == HttpStatusCode.OK, tokens.ToString());
        var access = new JsonWebToken(tokens.GetProperty("access_token").GetString());
        Assert.Equal(tenant.ToString(), access.GetClaim("tenant_id").Value);
        Assert.Equal(clientId, access.GetClaim("client_id").Value);
        Assert.False(string.IsNullOrEmpty(tokens.GetProperty("refresh_token").GetString()));
        var (keys, keysBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/keys", tokens.GetProperty("access_token").GetString());
        Assert.True(keys == HttpStatusCode.OK, keysBody.ToString());

        // The device code is good once.
        var (again, againBody) = await PollAsync(clientId, deviceCode);
        Assert.NotEqual(HttpStatusCode.OK, again);
        Assert.Equal("invalid_grant", againBody.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_denied_device_and_another_tenants_user_get_no_tokens()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (_, clientId, email, password) = await SetUpAsync(op);

        // Denied by its own user.
        var (_, device) = await StartAsync(clientId);
        using (var browser = new Browser(_stack))
        {
            var entry = await Oidc.SignInAsync(browser, await browser.NavigateAsync("/connect/verify"), email, password);
            var consent = await browser.NavigateAsync("/connect/verify?user_code=" + Uri.EscapeDataString(device.GetProperty("user_code").GetString()!));
            var done = await browser.FollowAsync(await browser.SubmitAsync(consent, submitName: "submit", submitValue: "deny"));
            Assert.Equal("denied", done.Document.QuerySelector("#result")?.GetAttribute("data-result"));
            Assert.NotNull(entry);
        }

        var (denied, deniedBody) = await PollAsync(clientId, device.GetProperty("device_code").GetString()!);
        Assert.NotEqual(HttpStatusCode.OK, denied);
        Assert.Equal("access_denied", deniedBody.GetProperty("error").GetString());

        // A user of another tenant never approves this tenant's application.
        var otherTenant = await Oidc.CreateTenantAsync(_stack, op);
        var otherEmail = Oidc.NewEmail("device-other");
        var otherPassword = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, op, otherEmail, otherPassword, ["tenant-admin"], otherTenant);
        var (_, second) = await StartAsync(clientId);
        using (var browser = new Browser(_stack))
        {
            await Oidc.SignInAsync(browser, await browser.NavigateAsync("/connect/verify"), otherEmail, otherPassword);
            var page = await browser.NavigateAsync("/connect/verify?user_code=" + Uri.EscapeDataString(second.GetProperty("user_code").GetString()!));
            Assert.Null(page.Document.QuerySelector("button[value=accept]"));
            Assert.Equal("refused", page.Document.QuerySelector("#result")?.GetAttribute("data-result"));
        }

        var (refused, refusedBody) = await PollAsync(clientId, second.GetProperty("device_code").GetString()!);
        Assert.NotEqual(HttpStatusCode.OK, refused);
        Assert.Equal("access_denied", refusedBody.GetProperty("error").GetString());

        // An application without deviceFlow cannot start one.
        var (service, serviceSecret) = await CodeFlow.CreateServiceAppAsync(_stack, op, otherTenant, "billing:read");
        var (notAllowed, _) = await Oidc.PostFormAsync(_stack, "/connect/device", new Dictionary<string, string> { ["client_id"] = service, ["client_secret"] = serviceSecret, ["scope"] = "billing:read" });
        Assert.NotEqual(HttpStatusCode.OK, notAllowed);
    }
}
