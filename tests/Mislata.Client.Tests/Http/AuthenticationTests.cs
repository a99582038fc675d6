using System.Net;
using Microsoft.Extensions.Time.Testing;

namespace Mislata.Client.Tests.Http;

/// <summary>Client credentials: one token for concurrent callers, renewed before expiry and after a 401; a caller's own token provider.</summary>
public sealed class AuthenticationTests
{
    private const string Usage = """
        {"tenantId":"5f0c6d1e-0000-4000-8000-000000000001","plan":"community","periodStart":"2026-01-01T00:00:00Z","periodEnd":"2026-02-01T00:00:00Z",
         "operations":{"used":1,"limit":null},"apiKeys":{"used":1,"limit":5},"keys":{"used":0,"limit":5},"secrets":{"used":0,"limit":5},
         "users":{"used":null,"limit":null},"requestsPerMinute":60}
        """;

    private static Func<HttpRequestMessage, HttpResponseMessage> Api(Func<int> nextToken, Func<string?, bool>? accept = null) => request =>
    {
        if (request.RequestUri!.AbsolutePath == "/connect/token")
        {
            var body = request.Content!.ReadAsStringAsync().GetAwaiter().GetResult();
            Assert.Contains("grant_type=client_credentials", body, StringComparison.Ordinal);
            Assert.Contains("client_id=svc", body, StringComparison.Ordinal);
            Assert.Contains("scope=billing%3Aread", body, StringComparison.Ordinal);
            return StubHandler.Json(HttpStatusCode.OK, $$"""{"access_token":"token-{{nextToken()}}","token_type":"Bearer","expires_in":600}""");
        }

        return accept is null || accept(request.Headers.Authorization?.Parameter)
            ? StubHandler.Json(HttpStatusCode.OK, Usage)
            : StubHandler.Problem(HttpStatusCode.Unauthorized, "unauthorized");
    };

    private static void ClientCredentials(MislataClientOptions o)
    {
        o.ApiKey = null;
        o.ClientCredentials = new ClientCredentialsOptions { ClientId = "svc", ClientSecret = "s3cret", Scope = "billing:read" };
    }

    [Fact]
    public async Task Concurrent_calls_share_one_token_fetch()
    {
        var issued = 0;
        var stub = new StubHandler(Api(() => Interlocked.Increment(ref issued)));
        var (client, services) = StubHandler.Client(stub, ClientCredentials);
        await using var _ = services;

        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.Billing.UsageAsync()));

        Assert.Equal(1, issued);
        Assert.All(stub.Seen.Where(s => s.Path.StartsWith("/api/", StringComparison.Ordinal)), s => Assert.Equal("Bearer token-1", s.Authorization));
    }

    [Fact]
    public async Task The_token_is_renewed_before_it_expires()
    {
        var issued = 0;
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var stub = new StubHandler(Api(() => Interlocked.Increment(ref issued)));
        var (client, services) = StubHandler.Client(stub, ClientCredentials, time);
        await using var _ = services;

        await client.Billing.UsageAsync();
        time.Advance(TimeSpan.FromSeconds(530)); // 600 s lifetime, renewed 60 s before: still fresh
        await client.Billing.UsageAsync();
        Assert.Equal(1, issued);
        time.Advance(TimeSpan.FromSeconds(15)); // 545 s: within the renewal margin
        await client.Billing.UsageAsync();
        Assert.Equal(2, issued);
        Assert.Equal("Bearer token-2", stub.Seen.Last().Authorization);
    }

    [Fact]
    public async Task A_refused_token_is_renewed_once_and_the_call_sent_again()
    {
        var issued = 0;
        var stub = new StubHandler(Api(() => Interlocked.Increment(ref issued), token => token != "token-1"));
        var (client, services) = StubHandler.Client(stub, ClientCredentials);
        await using var _ = services;

        var usage = await client.Billing.UsageAsync();

        Assert.Equal("community", usage.Plan);
        Assert.Equal(2, issued);
    }

    [Fact]
    public async Task A_refused_client_secret_is_an_unauthorized_exception_without_the_secret()
    {
        var stub = new StubHandler(_ => StubHandler.Json(HttpStatusCode.BadRequest, """{"error":"invalid_client","error_description":"The client credentials are invalid."}"""));
        var (client, services) = StubHandler.Client(stub, ClientCredentials);
        await using var _ = services;

        var e = await Assert.ThrowsAsync<MislataApiException>(() => client.Billing.UsageAsync());

        Assert.Equal((401, "unauthorized", "invalid_client"), (e.Status, e.Error, e.Title));
        Assert.DoesNotContain("s3cret", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_caller_token_provider_is_asked_for_every_call()
    {
        var asked = 0;
        var stub = new StubHandler(_ => StubHandler.Json(HttpStatusCode.OK, Usage));
        var (client, services) = StubHandler.Client(stub, o =>
        {
            o.ApiKey = null;
            o.TokenProvider = _ => ValueTask.FromResult("caller-" + Interlocked.Increment(ref asked));
        });
        await using var _ = services;

        await client.Billing.UsageAsync();
        await client.Billing.UsageAsync();

        Assert.Equal(new string?[] { "Bearer caller-1", "Bearer caller-2" }, stub.Seen.Select(s => s.Authorization).ToArray());
    }

    [Fact]
    public void Exactly_one_credential_must_be_configured()
    {
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        Assert.Throws<InvalidOperationException>(() => services.AddMislataClient(o => o.BaseAddress = new Uri("http://x/")));
        Assert.Throws<InvalidOperationException>(() => services.AddMislataClient(o =>
        {
            o.BaseAddress = new Uri("http://x/");
            o.ApiKey = "qapi_x";
            o.TokenProvider = _ => ValueTask.FromResult("t");
        }));
        Assert.Throws<InvalidOperationException>(() => services.AddMislataClient(o => o.ApiKey = "qapi_x"));
    }
}
