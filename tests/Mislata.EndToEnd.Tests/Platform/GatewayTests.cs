using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Platform;

[Collection(StackCollection.Name)]
public sealed class GatewayTests(StackFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task Aggregate_health_is_200_with_all_three_services_healthy()
    {
        using var client = _stack.Gateway.CreateClient();
        using var response = await client.GetAsync(new Uri("/health", UriKind.Relative));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", body.GetProperty("status").GetString());
        foreach (var service in new[] { "identity", "api", "worker" })
        {
            var entry = body.GetProperty("services").GetProperty(service);
            Assert.Equal("Healthy", entry.GetProperty("status").GetString());
            Assert.Equal("Healthy", entry.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString());
            Assert.Equal("Healthy", entry.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString());
        }
    }

    [Theory]
    [InlineData("identity")]
    [InlineData("api")]
    [InlineData("worker")]
    public async Task Each_service_answers_its_own_readiness_through_the_gateway(string service)
    {
        using var client = _stack.Gateway.CreateClient();
        using var response = await client.GetAsync(new Uri("/health/" + service, UriKind.Relative));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", body.GetProperty("status").GetString());
        Assert.True(body.GetProperty("checks").TryGetProperty("postgres", out _));
        Assert.True(body.GetProperty("checks").TryGetProperty("redis", out _));
    }

    [Fact]
    public async Task Ping_answers_204_without_credentials()
    {
        using var client = _stack.Gateway.CreateClient();
        using var response = await client.GetAsync(new Uri("/api/v1/ping", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    [Fact]
    public async Task Plain_http_redirects_to_https()
    {
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false });
        using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{_stack.Gateway.HttpPort}/api/v1/ping?x=1"));

        Assert.Equal(HttpStatusCode.MovedPermanently, response.StatusCode);
        Assert.Equal($"https://127.0.0.1:{_stack.Gateway.HttpsPort}/api/v1/ping?x=1", response.Headers.Location?.ToString());
    }

    [Fact]
    public async Task Responses_carry_security_headers_and_one_request_id()
    {
        using var client = _stack.Gateway.CreateClient();
        using var response = await client.GetAsync(new Uri("/api/v1/ping", UriKind.Relative));

        Assert.Contains("max-age=", Assert.Single(response.Headers.GetValues("Strict-Transport-Security")), StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
        Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.Matches("^[0-9a-f]{32}$", Assert.Single(response.Headers.GetValues("X-Request-ID")));
        Assert.False(response.Headers.Contains("Server") && response.Headers.Server.ToString().Contains('/', StringComparison.Ordinal), "the server header must not reveal a version");
    }

    [Fact]
    public async Task A_well_formed_caller_request_id_is_propagated_to_the_service_and_its_problems()
    {
        using var client = _stack.Gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/does-not-exist");
        request.Headers.Add("X-Request-ID", "e2e-trace-42");
        using var response = await client.SendAsync(request);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal("e2e-trace-42", Assert.Single(response.Headers.GetValues("X-Request-ID")));
        Assert.Equal("e2e-trace-42", body.GetProperty("traceId").GetString());
    }

    [Fact]
    public async Task Unknown_api_path_is_a_404_problem()
    {
        using var client = _stack.Gateway.CreateClient();
        using var response = await client.GetAsync(new Uri("/api/v1/no-such-thing", UriKind.Relative));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("not_found", body.GetProperty("error").GetString());
        Assert.Equal(404, body.GetProperty("status").GetInt32());
        Assert.Equal("/api/v1/no-such-thing", body.GetProperty("instance").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("traceId").GetString()));
    }

    [Theory]
    [InlineData("/api/v1/keys", 1024 * 1024 + 1)]
    [InlineData("/api/v1/encrypt/batch", 8 * 1024 * 1024 + 1)]
    public async Task Oversized_bodies_get_413_payload_too_large(string path, int size)
    {
        using var client = _stack.Gateway.CreateClient();
        using var content = new ByteArrayContent(new byte[size]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await client.PostAsync(new Uri(path, UriKind.Relative), content);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("payload_too_large", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_batch_body_over_1_MiB_but_under_8_MiB_passes_the_gateway()
    {
        using var client = _stack.Gateway.CreateClient();
        using var content = new ByteArrayContent(new byte[2 * 1024 * 1024]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await client.PostAsync(new Uri("/api/v1/encrypt/batch", UriKind.Relative), content);

        Assert.NotEqual(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.True((int)response.StatusCode < 500, $"got {(int)response.StatusCode}");
    }

    [Fact]
    public async Task Hangfire_dashboard_under_jobs_needs_a_platform_admin_signed_in_at_identity()
    {
        using var browser = new Identity.Browser(_stack);
        var anonymous = await browser.GetAsync("/jobs");
        Assert.Equal(HttpStatusCode.Redirect, anonymous.Status);
        Assert.Equal("/account/login", anonymous.Location?.AbsolutePath);

        // The worker reads identity's session (shared key ring and session store) after the admin signs in.
        var login = await browser.FollowAsync(anonymous);
        var dashboard = await Identity.Oidc.SignInAsync(browser, login, _stack.AdminEmail, _stack.AdminPassword);

        Assert.Equal(HttpStatusCode.OK, dashboard.Status);
        Assert.Contains("Mislata jobs", dashboard.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_openapi_document_and_the_browsable_docs_are_served()
    {
        using var client = _stack.Gateway.CreateClient();
        using var document = await client.GetAsync(new Uri("/api/v1/openapi.json", UriKind.Relative));
        var root = JsonDocument.Parse(await document.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.OK, document.StatusCode);
        Assert.StartsWith("3.1", root.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        Assert.Equal("Mislata API", root.GetProperty("info").GetProperty("title").GetString());
        var paths = root.GetProperty("paths");
        foreach (var path in new[] { "/api/v1/ping", "/api/v1/api-keys", "/api/v1/admin/tenants", "/api/v1/admin/license", "/api/v1/audit/verify", "/api/v1/billing/usage", "/api/v1/keys", "/api/v1/keys/{id}/public", "/api/v1/keys/jwks", "/api/v1/keys/import",
            "/api/v1/encrypt", "/api/v1/decrypt", "/api/v1/encrypt/batch", "/api/v1/decrypt/batch", "/api/v1/rewrap", "/api/v1/datakey",
            "/api/v1/sign", "/api/v1/verify", "/api/v1/hmac", "/api/v1/hmac/verify", "/api/v1/random" })
        {
            Assert.True(paths.TryGetProperty(path, out _), path + " is not documented");
        }

        using var docs = await client.GetAsync(new Uri("/api/docs/", UriKind.Relative));
        var html = await docs.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
        Assert.Equal("text/html", docs.Content.Headers.ContentType?.MediaType);
        Assert.Contains("api/v1/openapi.json", html, StringComparison.Ordinal);
        Assert.Contains("\"telemetry\":false", html, StringComparison.Ordinal);
    }
}
