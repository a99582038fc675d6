using System.Net;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Abuse;

/// <summary>
/// The services' failed-credential limit (60 failing credentials per source and minute, shared by every api and
/// identity replica through Redis): a source over it is answered 429 before its credential is looked at, and other
/// sources are not affected. Failures are audited once per source, credential prefix and minute, with the count.
/// </summary>
[Collection(FloodCollection.Name)]
public sealed class FailedCredentialLimitTests(AbuseFixture fixture)
{
    private const int PerMinute = 60;
    private const string ServiceDetail = "Too many failed credentials from this address";

    [Fact]
    public async Task A_source_over_the_failed_credential_limit_gets_429_on_api_and_identity_and_another_source_does_not()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, validKey) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "users:read"]);
        using var attacker = SourceAddress.Client(fixture.Stack, "127.0.0.4");
        await SourceAddress.StartOfAMinuteWithAsync(TimeSpan.FromSeconds(25));

        // Bad keys one after another: 401 until the limit is reached on some replica, then 429.
        var unauthorized = 0;
        HttpResponseMessage? limited = null;
        for (var i = 0; i < PerMinute + 20 && limited is null; i++)
        {
            var response = await attacker.SendAsync(SourceAddress.WithKey(HttpMethod.Get, "/api/v1/api-keys", SourceAddress.UnknownApiKey()));
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
                break;
            }

            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            unauthorized++;
            response.Dispose();
        }

        Assert.True(limited is not null, $"no 429 after {unauthorized} failing credentials from one source");
        // Each api replica learns that the source is over the limit from the count of the failure it records itself.
        var apiReplicas = fixture.ApiReplicas.Count;
        Assert.InRange(unauthorized, PerMinute, PerMinute + apiReplicas - 1);
        using (limited)
        {
            var detail = await SourceAddress.AssertRateLimitedAsync(limited, maxRetryAfterSeconds: 60);
            Assert.StartsWith(ServiceDetail, detail, StringComparison.Ordinal);
        }

        // Identity counts in the same Redis: its first failure from this source already finds it over the limit, so
        // the next request is refused before identity looks at the key — and before OpenIddict authenticates a client.
        using (var first = await attacker.SendAsync(SourceAddress.WithKey(HttpMethod.Get, "/api/v1/users", SourceAddress.UnknownApiKey())))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, first.StatusCode);
        }

        using (var second = await attacker.SendAsync(SourceAddress.WithKey(HttpMethod.Get, "/api/v1/users", validKey)))
        {
            Assert.StartsWith(ServiceDetail, await SourceAddress.AssertRateLimitedAsync(second, maxRetryAfterSeconds: 60), StringComparison.Ordinal);
        }

        using (var token = await attacker.PostAsync(new Uri("/connect/token", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = fixture.Stack.BootstrapClientId,
            ["client_secret"] = fixture.Stack.BootstrapClientSecret,
        })))
        {
            Assert.StartsWith(ServiceDetail, await SourceAddress.AssertRateLimitedAsync(token, maxRetryAfterSeconds: 60), StringComparison.Ordinal);
        }

        // Another source at the same moment: its bad key is an ordinary 401 and its good key works.
        using var other = fixture.WithKey(SourceAddress.UnknownApiKey());
        using (var bad = await other.GetAsync(new Uri("/api/v1/api-keys", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        }

        using var good = fixture.WithKey(validKey);
        foreach (var path in new[] { "/api/v1/api-keys", "/api/v1/users" })
        {
            using var ok = await good.GetAsync(new Uri(path, UriKind.Relative));
            Assert.True(ok.StatusCode == HttpStatusCode.OK, $"{path}: {(int)ok.StatusCode} {await ok.Content.ReadAsStringAsync()}");
        }
    }

    [Fact]
    public async Task Failed_client_authentication_at_the_token_endpoint_counts_towards_the_limit()
    {
        using var attacker = SourceAddress.Client(fixture.Stack, "127.0.0.6");
        await SourceAddress.StartOfAMinuteWithAsync(TimeSpan.FromSeconds(25));

        // Paced below the gateway's own token-endpoint rate (10 r/s), so only the services' limit can answer 429.
        var refused = 0;
        HttpResponseMessage? limited = null;
        for (var i = 0; i < PerMinute + 10 && limited is null; i++)
        {
            var started = DateTime.UtcNow;
            var response = await attacker.PostAsync(new Uri("/connect/token", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials",
                ["client_id"] = fixture.Stack.BootstrapClientId,
                ["client_secret"] = "wrong-" + TestEnvironment.RandomToken(16),
            }));
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
                break;
            }

            var body = await response.Content.ReadAsStringAsync();
            Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("error").GetString() == "invalid_client", $"{(int)response.StatusCode} {body}");
            refused++;
            response.Dispose();
            var pause = TimeSpan.FromMilliseconds(110) - (DateTime.UtcNow - started);
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause);
            }
        }

        Assert.True(limited is not null, $"no 429 after {refused} failed client authentications from one source");
        Assert.Equal(PerMinute, refused);
        using (limited)
        {
            Assert.StartsWith(ServiceDetail, await SourceAddress.AssertRateLimitedAsync(limited, maxRetryAfterSeconds: 60), StringComparison.Ordinal);
        }

        // The right secret from another source still gets a token.
        Assert.False(string.IsNullOrEmpty(await fixture.OperatorTokenAsync()));
    }
}
