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
public sealed class DependencyOutageTests(OwnPostgresFixture fixture) : IClassFixture<OwnPostgresFixture>
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
    public async Task While_postgres_is_read_only_writes_answer_503_and_reads_go_on_and_writes_work_again_after()
    {
        using var client = await TenantClientAsync("keys:read", "keys:write");
        using (var before = await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "before", algorithm = "AES-256-GCM" }))
        {
            Assert.Equal(HttpStatusCode.Created, before.StatusCode);
        }

        var pids = fixture.Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList();
        // As a standby or a full disk would: every new transaction is read-only (sessions pick it up on the reload).
        await fixture.ExecuteAsync("ALTER SYSTEM SET default_transaction_read_only = on");
        await fixture.ExecuteAsync("SELECT pg_reload_conf()");
        var reads = new List<int>();
        try
        {
            var (status, _, body) = await TenancyFixture.EventuallyAsync(
                () => client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "read-only", algorithm = "AES-256-GCM" }),
                HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30));
            Assert.True(status == HttpStatusCode.ServiceUnavailable, $"a write with PostgreSQL read-only: {(int)status} {body}");
            Assert.Equal("unavailable", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());

            for (var i = 0; i < Rounds; i++)
            {
                using var read = await client.GetAsync(U("/api/v1/keys"));
                reads.Add((int)read.StatusCode);
                if (i % 5 == 0)
                {
                    using var write = await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = $"read-only-{i}", algorithm = "AES-256-GCM" });
                    Assert.Equal(HttpStatusCode.ServiceUnavailable, write.StatusCode);
                    Assert.NotNull(write.Headers.RetryAfter);
                }
            }
        }
        finally
        {
            await fixture.ExecuteAsync("ALTER SYSTEM RESET default_transaction_read_only");
            await fixture.ExecuteAsync("SELECT pg_reload_conf()");
        }

        Assert.True(reads.All(s => s == 200), $"reads with PostgreSQL read-only: {string.Join(", ", reads)}");
        var (after, _, afterBody) = await TenancyFixture.EventuallyAsync(
            () => client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "after-" + Guid.NewGuid().ToString("N")[..6], algorithm = "AES-256-GCM" }),
            HttpStatusCode.Created, TimeSpan.FromSeconds(30));
        Assert.True(after == HttpStatusCode.Created, $"a write once PostgreSQL takes writes again: {(int)after} {afterBody}");
        // Nothing acknowledged was lost, nothing refused was half-written: "before" and the "after-" key, no "read-only".
        using var list = await client.GetAsync(U("/api/v1/keys?limit=100"));
        var names = JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement.GetProperty("data").EnumerateArray()
            .Select(k => k.GetProperty("name").GetString()!).ToList();
        Assert.Contains("before", names);
        Assert.DoesNotContain(names, n => n.StartsWith("read-only", StringComparison.Ordinal));
        Assert.Equal(pids, fixture.Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList());
    }

    [Fact]
    public async Task While_postgres_is_down_a_read_and_a_write_answer_503_with_retry_after_and_both_work_again_without_restart()
    {
        using var client = await TenantClientAsync("keys:read", "keys:write");

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
        }
        finally
        {
            await fixture.Stack.Postgres.StartAsync();
        }

        var (status, _, text) = await TenancyFixture.EventuallyAsync(() => client.GetAsync(U("/api/v1/keys")), HttpStatusCode.OK, TimeSpan.FromSeconds(30));
        Assert.True(status == HttpStatusCode.OK, $"a read once PostgreSQL is back: {(int)status} {text}");
        (status, _, text) = await TenancyFixture.EventuallyAsync(
            () => client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "back-" + Guid.NewGuid().ToString("N")[..6], algorithm = "AES-256-GCM" }),
            HttpStatusCode.Created, TimeSpan.FromSeconds(30));
        Assert.True(status == HttpStatusCode.Created, $"a write once PostgreSQL is back: {(int)status} {text}");
        Assert.Equal(pids, fixture.Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList());
    }

    /// <summary>A new tenant's API key client with <paramref name="scopes"/>, its key already authenticated once (cached).</summary>
    private async Task<HttpClient> TenantClientAsync(params string[] scopes)
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, apiKey) = await fixture.CreateKeyAsync(tenant, scopes);
        var client = fixture.WithKey(apiKey);
        client.Timeout = TimeSpan.FromMinutes(2);
        using var warm = await client.GetAsync(U("/api/v1/keys"));
        Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        return client;
    }
}
