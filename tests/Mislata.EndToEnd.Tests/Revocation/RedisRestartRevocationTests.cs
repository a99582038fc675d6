using System.Net;
using Mislata.EndToEnd.Tests.Identity;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Revocation;

/// <summary>
/// Issue 9 "Redis restarted under traffic", on a stack of its own (two api replicas, a Redis the test stops): an API
/// key revoked, a user blocked and an application re-keyed while Redis was down — so nothing could be announced —
/// are refused by every replica once Redis is back; meanwhile rate limits fail open, and that is logged.
/// </summary>
[ExpectedSeconds(65)]
public sealed class RedisRestartRevocationTests : IAsyncLifetime
{
    private MislataStack? _stack;

    private MislataStack Stack => _stack!;

    public async Task InitializeAsync() => _stack = await MislataStack.StartAsync(new StackOptions { ApiReplicas = 2 });

    public async Task DisposeAsync()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }
    }

    [Fact]
    public async Task Revocations_made_while_Redis_was_down_are_honoured_by_every_replica_once_it_is_back()
    {
        var op = await Oidc.OperatorTokenAsync(Stack);
        var tenantId = await Oidc.CreateTenantAsync(Stack, op);
        var (keyId, key) = await CreateKeyAsync(op, tenantId, ["apikeys:read"]);
        var (_, adminKey) = await CreateKeyAsync(op, tenantId, ["apikeys:read", "apikeys:write"]);
        var (userId, userToken) = await Credentials.SignedInUserAsync(Stack, op, tenantId);
        var user = Credentials.UserProbe(userId, userToken);
        var (appId, clientId, secret) = await Credentials.PlatformApplicationAsync(Stack, op);
        var app = Credentials.ApplicationProbe(await Oidc.ClientCredentialsAsync(Stack, clientId, secret));
        await Credentials.AssertAcceptedEverywhereAsync(Stack, user);
        await Credentials.AssertAcceptedEverywhereAsync(Stack, app);
        foreach (var replica in Stack.Of("api"))
        {
            Assert.Equal(HttpStatusCode.OK, await WithKeyAsync(replica.BaseAddress, key));
        }

        await Stack.Redis.StopAsync();

        // Traffic goes on: the key still works on every replica (rate limits fail open), and the outage is logged (once).
        foreach (var replica in Stack.Of("api"))
        {
            Assert.Equal(HttpStatusCode.OK, await WithKeyAsync(replica.BaseAddress, key));
        }

        await EventuallyLoggedAsync("Dependency redis is unavailable", TimeSpan.FromSeconds(10));

        // Revoke, block and re-key while nothing can be announced.
        using (var admin = new HttpClient { BaseAddress = Stack.Of("api").First().BaseAddress })
        {
            admin.DefaultRequestHeaders.Add("X-Api-Key", adminKey);
            using var revoked = await admin.DeleteAsync(new Uri($"/api/v1/api-keys/{keyId}", UriKind.Relative));
            Assert.True(revoked.IsSuccessStatusCode, $"revoke: {(int)revoked.StatusCode} {await revoked.Content.ReadAsStringAsync()}");
        }

        var (blocked, blockBody, _) = await Oidc.ApiAsync(Stack, HttpMethod.Post, $"/api/v1/users/{userId}/block", op);
        Assert.True(blocked == HttpStatusCode.OK, $"block: {(int)blocked} {blockBody}");
        var (rotated, rotateBody, _) = await Oidc.ApiAsync(Stack, HttpMethod.Post, $"/api/v1/applications/{appId}/secret", op);
        Assert.True(rotated == HttpStatusCode.OK, $"rotate: {(int)rotated} {rotateBody}");

        await Stack.Redis.StartAsync();
        await WaitReadyAsync(TimeSpan.FromSeconds(30));

        // Within a second or two of the reconnection, every replica refuses all three.
        var within = TimeSpan.FromSeconds(2);
        await Credentials.AssertRefusedEverywhereAsync(Stack, user, within);
        await Credentials.AssertRefusedEverywhereAsync(Stack, app, within);
        foreach (var replica in Stack.Of("api"))
        {
            var (status, elapsed, body) = await TenancyFixture.EventuallyAsync(() => SendWithKeyAsync(replica.BaseAddress, key), HttpStatusCode.Unauthorized, within);
            Assert.True(status == HttpStatusCode.Unauthorized, $"revoked key on :{replica.Port}: {(int)status} after {elapsed.TotalMilliseconds:F0} ms {body}");
        }
    }

    private async Task<(Guid Id, string Key)> CreateKeyAsync(string operatorToken, Guid tenantId, string[] scopes)
    {
        var (status, body, _) = await Oidc.ApiAsync(Stack, HttpMethod.Post, $"/api/v1/admin/tenants/{tenantId}/api-keys", operatorToken,
            new { name = "key-" + Guid.NewGuid().ToString("N")[..8], scopes });
        Assert.True(status == HttpStatusCode.Created, $"create key: {(int)status} {body}");
        return (body.GetProperty("id").GetGuid(), body.GetProperty("key").GetString()!);
    }

    private static async Task<HttpStatusCode> WithKeyAsync(Uri replica, string key)
    {
        using var response = await SendWithKeyAsync(replica, key);
        return response.StatusCode;
    }

    private static async Task<HttpResponseMessage> SendWithKeyAsync(Uri replica, string key)
    {
        using var client = new HttpClient { BaseAddress = replica };
        client.DefaultRequestHeaders.Add("X-Api-Key", key);
        var response = await client.GetAsync(new Uri("/api/v1/api-keys", UriKind.Relative));
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    /// <summary>Every api replica's readiness (PostgreSQL and Redis) answers 200: the Redis connection is back.</summary>
    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var watch = System.Diagnostics.Stopwatch.StartNew();
        foreach (var replica in Stack.Of("api"))
        {
            while (true)
            {
                try
                {
                    using var response = await client.GetAsync(new Uri(replica.BaseAddress, "/health/ready"));
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        break;
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }

                Assert.True(watch.Elapsed < timeout, $"api :{replica.Port} not ready {timeout} after Redis started");
                await Task.Delay(50);
            }
        }
    }

    private async Task EventuallyLoggedAsync(string text, TimeSpan within)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (!Stack.Of("api").Any(s => s.Output.Contains(text, StringComparison.Ordinal)))
        {
            Assert.True(watch.Elapsed < within, $"no api replica logged '{text}'");
            await Task.Delay(50);
        }
    }
}
