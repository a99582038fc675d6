using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Operations;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// Dependency outages under a running platform with its own PostgreSQL (issue 16): Redis down does not stop the
/// requests that do not need it, PostgreSQL down or read-only answers 503 with <c>Retry-After</c> (never 500) only
/// where it is needed, and everything works again afterwards without restarting a service.
/// </summary>
[ExpectedSeconds(50)]
public sealed partial class DependencyOutageTests(OwnPostgresFixture fixture) : IClassFixture<OwnPostgresFixture>
{
    private const int Rounds = 20;

    private static Uri U(string path) => new(path, UriKind.Relative);

    [Fact]
    public async Task While_redis_is_down_api_key_reads_and_audited_writes_succeed_and_what_needs_redis_answers_503_at_once()
    {
        using var client = await TenantClientAsync("keys:read", "keys:write", "apikeys:write");

        var pids = fixture.Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList();
        var statuses = new List<int>();
        var created = new List<Guid>();
        await fixture.Stack.Redis.StopAsync();
        try
        {
            for (var i = 0; i < Rounds; i++)
            {
                using var read = await client.GetAsync(U("/api/v1/keys"));
                statuses.Add((int)read.StatusCode);
                if (i % 4 == 0)
                {
                    using var write = await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = $"redis-down-{i}", algorithm = "AES-256-GCM" });
                    statuses.Add((int)write.StatusCode);
                    if (write.StatusCode == HttpStatusCode.Created)
                    {
                        created.Add(JsonDocument.Parse(await write.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid());
                    }
                }
            }

            // A create with Idempotency-Key needs Redis (its record): 503 with Retry-After, not a wait and not a 500.
            using var request = new HttpRequestMessage(HttpMethod.Post, U("/api/v1/api-keys")) { Content = JsonContent.Create(new { name = "idempotent", scopes = new[] { "keys:read" } }) };
            request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
            using var idempotent = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, idempotent.StatusCode);
            Assert.NotNull(idempotent.Headers.RetryAfter);
            Assert.Equal("unavailable", await TenancyFixture.ErrorCodeAsync(idempotent));
        }
        finally
        {
            await fixture.Stack.Redis.StartAsync();
        }

        // Every request that does not need Redis succeeded (the count of successes, not their timing).
        Assert.True(statuses.All(s => s is 200 or 201), $"with Redis down: {string.Join(", ", statuses)}");
        Assert.Equal(Rounds / 4, created.Count);

        await fixture.Stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        foreach (var id in created)
        {
            using var read = await client.GetAsync(U($"/api/v1/keys/{id}"));
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        }

        Assert.Equal(pids, fixture.Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList());
    }

    [Fact]
    public async Task While_postgres_is_down_a_read_and_a_write_answer_503_with_retry_after_and_both_work_again_without_restart()
    {
        using var client = await TenantClientAsync("keys:read", "keys:write");

        // No monthly operations counter in Redis (as for a tenant's first operations, or after Redis lost its data): the
        // writes below are counted in process before they are refused, and the api's usage flush (every second) has to
        // read the roll-up from PostgreSQL to create the counter while PostgreSQL is down. A failure there once stopped
        // the whole api (an exception out of a background service); RedisUsageMeterTests covers each exception shape.
        await using (var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(fixture.Stack.Redis.Configuration + ",allowAdmin=true"))
        {
            var server = redis.GetServer(redis.GetEndPoints()[0]);
            await foreach (var key in server.KeysAsync(pattern: "mislata:usage:ops:*"))
            {
                await redis.GetDatabase().KeyDeleteAsync(key);
            }
        }

        var pids = fixture.Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList();
        await fixture.Stack.Postgres.StopAsync();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                using var read = await client.GetAsync(U("/api/v1/keys"));
                using var write = await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = $"down-{i}", algorithm = "AES-256-GCM" });
                foreach (var response in new[] { read, write })
                {
                    var body = await response.Content.ReadAsStringAsync();
                    Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{response.RequestMessage!.Method} with PostgreSQL down: {(int)response.StatusCode} {body}");
                    Assert.NotNull(response.Headers.RetryAfter);
                    Assert.Equal("unavailable", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
                }
            }

            // Several rounds of every background loop (usage and key-usage flushes, revocation reload, probes) meet
            // the outage; every service process is still running at the end of it.
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.True(fixture.Stack.ExitedServices().Length == 0, $"a service exited while PostgreSQL was down:\n{fixture.Stack.ExitedServices()}");
        }
        finally
        {
            await fixture.Stack.Postgres.StartAsync();
        }

        var (status, _, text) = await TenancyFixture.EventuallyAsync(() => client.GetAsync(U("/api/v1/keys")), HttpStatusCode.OK, TimeSpan.FromSeconds(30));
        Assert.True(status == HttpStatusCode.OK, $"a read once PostgreSQL is back: {(int)status} {text}\n{fixture.Stack.ExitedServices()}");
        (status, _, text) = await TenancyFixture.EventuallyAsync(
            () => client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "back-" + Guid.NewGuid().ToString("N")[..6], algorithm = "AES-256-GCM" }),
            HttpStatusCode.Created, TimeSpan.FromSeconds(30));
        Assert.True(status == HttpStatusCode.Created, $"a write once PostgreSQL is back: {(int)status} {text}\n{fixture.Stack.ExitedServices()}");
        Assert.Equal(pids, fixture.Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList());
    }

    [Fact]
    public async Task After_a_postgres_restart_that_no_request_saw_the_first_requests_succeed_at_once()
    {
        using var client = await TenantClientAsync("keys:read", "keys:write", "encryption:write");
        using var operatorClient = fixture.Operator();
        var tenant = await fixture.CreateTenantAsync();

        // Every service holds pooled connections to the server that is now restarted: they are all dead afterwards.
        await fixture.Stack.Postgres.StopAsync();
        await fixture.Stack.Postgres.StartAsync();

        // No retry: a client must not pay for the restart with a 503 once PostgreSQL answers.
        using (var apiKey = await operatorClient.PostAsJsonAsync(U($"/api/v1/admin/tenants/{tenant}/api-keys"), new { name = "after-restart", scopes = new[] { "keys:read" } }))
        {
            Assert.True(apiKey.StatusCode == HttpStatusCode.Created, $"the first API key after the restart: {(int)apiKey.StatusCode} {await apiKey.Content.ReadAsStringAsync()}");
        }

        Guid keyId;
        using (var key = await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "after-restart", algorithm = "AES-256-GCM" }))
        {
            var body = await key.Content.ReadAsStringAsync();
            Assert.True(key.StatusCode == HttpStatusCode.Created, $"the first key after the restart: {(int)key.StatusCode} {body}");
            keyId = JsonDocument.Parse(body).RootElement.GetProperty("id").GetGuid();
        }

        // The audit log writes through its own connections of the same pool.
        using (var encrypted = await client.PostAsJsonAsync(U("/api/v1/encrypt"), new { plaintext = "after restart", keyId }))
        {
            Assert.True(encrypted.StatusCode == HttpStatusCode.OK, $"the first encrypt after the restart: {(int)encrypted.StatusCode} {await encrypted.Content.ReadAsStringAsync()}");
        }

        using var read = await client.GetAsync(U("/api/v1/keys"));
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }

    /// <summary>A new tenant's API key client with <paramref name="scopes"/>, its key already authenticated once (cached).</summary>
    private async Task<HttpClient> TenantClientAsync(params string[] scopes)
    {
        // No plan limit in the way of the tests' writes (keys, API keys) and steady reads.
        var tenant = await fixture.CreateTenantAsync("enterprise");
        // The tests' own traffic (steady reads beside the writes) stays far below the key's rate limit.
        var (_, apiKey) = await fixture.CreateKeyAsync(tenant, scopes, rateLimitPerMinute: 1_000_000);
        var client = fixture.WithKey(apiKey);
        client.Timeout = TimeSpan.FromMinutes(2);
        using var warm = await client.GetAsync(U("/api/v1/keys"));
        Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        return client;
    }
}
