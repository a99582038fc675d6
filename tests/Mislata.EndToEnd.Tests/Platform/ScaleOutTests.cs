using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// Issue 13, scale-out: <c>MISLATA_API_REPLICAS=3 ./run.sh</c> (the script itself, its supervisors and its gateway).
/// One api replica is SIGKILLed in the middle of a load of encrypt calls: the gateway passes the requests it had in
/// hand to the other replicas, so every call answers 200 with a payload that decrypts; the supervisor starts the
/// killed replica again and the gateway sends it requests again, without anyone doing anything.
/// </summary>
[ExpectedSeconds(75)]
public sealed class ScaleOutTests
{
    private const int Clients = 8;
    private static readonly TimeSpan LoadDuration = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan KillAfter = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Killing_an_api_replica_under_load_loses_no_encrypt_call_and_it_rejoins_by_itself()
    {
        await using var instance = await RunScriptInstance.StartNewAsync(apiReplicas: 3);

        var status = await instance.RunAsync("status");
        for (var i = 0; i < 3; i++)
        {
            var name = i == 0 ? "api" : $"api-{i}";
            Assert.Contains($"{name}: running (pid {instance.ReplicaPid(name)}, port {instance.ApiPort + i}, restarted 0 times)", status, StringComparison.Ordinal);
        }

        // A tenant on a plan without a tight rate limit, its API key and an AES key.
        var token = await instance.OperatorTokenAsync();
        using var operatorClient = instance.Operator(token);
        var plan = await RunScriptInstance.PostAsync(operatorClient, "/api/v1/admin/plans",
            new { code = "load", name = "Load", requestsPerMinute = 10_000_000, features = Array.Empty<string>() }, HttpStatusCode.Created);
        var tenant = await RunScriptInstance.PostAsync(operatorClient, "/api/v1/admin/tenants",
            new { name = "scale-" + Guid.NewGuid().ToString("N")[..8], planId = plan.GetProperty("id").GetGuid(), adminEmail = "admin@example.com" }, HttpStatusCode.Created);
        var apiKey = await RunScriptInstance.PostAsync(operatorClient, $"/api/v1/admin/tenants/{tenant.GetProperty("id").GetGuid()}/api-keys",
            new { name = "load", rateLimitPerMinute = 1_000_000 }, HttpStatusCode.Created);
        using var tenantClient = instance.WithApiKey(apiKey.GetProperty("key").GetString()!);
        var key = await RunScriptInstance.PostAsync(tenantClient, "/api/v1/keys", new { name = "load", algorithm = "AES-256-GCM" }, HttpStatusCode.Created);
        var keyId = key.GetProperty("id").GetString()!;

        // A creating POST with Idempotency-Key goes through the gateway's retrying location to the same endpoint: the
        // repeat is answered from the api's idempotency record (same key), a write without the header is untouched.
        var idempotencyKey = "create-" + Guid.NewGuid().ToString("N");
        var created = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/v1/keys?unused=1", UriKind.Relative))
            {
                Content = JsonContent.Create(new { name = "idempotent", algorithm = "AES-256-GCM" }),
            };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            using var response = await tenantClient.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Created, $"idempotent create {i}: {(int)response.StatusCode} {body}");
            created.Add(JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!);
        }

        Assert.Equal(created[0], created[1]);
        using (var rotate = new HttpRequestMessage(HttpMethod.Post, new Uri($"/api/v1/keys/{created[0]}/rotate", UriKind.Relative)))
        {
            rotate.Headers.Add("Idempotency-Key", idempotencyKey + "-rotate");
            using var rotated = await tenantClient.SendAsync(rotate);
            Assert.True(rotated.IsSuccessStatusCode, $"rotate: {(int)rotated.StatusCode} {await rotated.Content.ReadAsStringAsync()}");
        }

        // The load: 8 clients, each with its own connections, encrypting distinct plaintexts for 15 s.
        var failures = new ConcurrentBag<string>();
        var results = new ConcurrentBag<(string Plaintext, string Payload, TimeSpan At)>();
        var watch = Stopwatch.StartNew();
        var load = Enumerable.Range(0, Clients).Select(c => Task.Run(async () =>
        {
            using var client = instance.WithApiKey(apiKey.GetProperty("key").GetString()!);
            for (var n = 0; watch.Elapsed < LoadDuration; n++)
            {
                var plaintext = $"client {c} call {n} {Guid.NewGuid()}";
                try
                {
                    using var response = await client.PostAsJsonAsync(new Uri("/api/v1/encrypt", UriKind.Relative), new { plaintext, keyId });
                    var body = await response.Content.ReadAsStringAsync();
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        failures.Add($"{watch.Elapsed.TotalSeconds:F1}s: {(int)response.StatusCode} {body}");
                        continue;
                    }

                    results.Add((plaintext, JsonDocument.Parse(body).RootElement.GetProperty("encryptedPayload").GetString()!, watch.Elapsed));
                }
                catch (HttpRequestException ex)
                {
                    failures.Add($"{watch.Elapsed.TotalSeconds:F1}s: {ex.Message}");
                }
            }
        })).ToList();

        await Task.Delay(KillAfter);
        var victim = instance.ReplicaPid("api-1") ?? throw new InvalidOperationException("api-1 has no pid");
        var killedAt = watch.Elapsed;
        Process.GetProcessById(victim).Kill();
        await Task.WhenAll(load);

        Assert.True(failures.IsEmpty, $"{failures.Count} of {failures.Count + results.Count} calls failed; first: {string.Join(" | ", failures.Take(5))}");
        Assert.True(results.Count(r => r.At > killedAt + TimeSpan.FromSeconds(1)) >= Clients,
            $"the load went on after the kill at {killedAt.TotalSeconds:F1}s: {results.Count(r => r.At > killedAt)} calls after it, {results.Count} in all");

        // Every payload decrypts to its plaintext.
        var all = results.ToList();
        await Parallel.ForEachAsync(all, new ParallelOptions { MaxDegreeOfParallelism = Clients }, async (r, _) =>
        {
            var plain = await RunScriptInstance.PostAsync(tenantClient, "/api/v1/decrypt", new { encryptedPayload = r.Payload }, HttpStatusCode.OK);
            Assert.Equal(r.Plaintext, plain.GetProperty("plaintext").GetString());
        });

        // The supervisor started api-1 again on its port, and the gateway sends it requests again.
        var restartedPid = await EventuallyAsync<int>(() => instance.ReplicaPid("api-1") is { } p && p != victim && RunScriptInstance.IsAlive(p) ? p : null, TimeSpan.FromMinutes(3));
        var live = await EventuallyAsync<bool>(async () =>
        {
            using var direct = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            try
            {
                using var response = await direct.GetAsync(new Uri($"http://127.0.0.1:{instance.ApiPort + 1}/health/live"));
                return response.StatusCode == HttpStatusCode.OK ? (bool?)true : null;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Refused, or not answered within 5 s by a replica still starting on a loaded machine: not yet.
                return null;
            }
        }, TimeSpan.FromMinutes(3));
        Assert.True(live);
        Assert.Equal("1", File.ReadAllText(Path.Combine(instance.State, "run", "api-1.restarts")).Trim());

        var rejoinedAt = DateTimeOffset.UtcNow;
        var servedByRestarted = await EventuallyAsync<bool>(async () =>
        {
            for (var i = 0; i < 12; i++)
            {
                using var response = await tenantClient.PostAsJsonAsync(new Uri("/api/v1/encrypt", UriKind.Relative), new { plaintext = "after", keyId });
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            await Task.Delay(TimeSpan.FromSeconds(1.5)); // the access log is flushed every second
            return File.ReadLines(Path.Combine(instance.State, "nginx", "logs", "access.log"))
                .Select(l => JsonDocument.Parse(l).RootElement)
                .Any(e => e.GetProperty("uri").GetString() == "/api/v1/encrypt" && e.GetProperty("status").GetInt32() == 200
                    && DateTimeOffset.Parse(e.GetProperty("time").GetString()!, System.Globalization.CultureInfo.InvariantCulture) >= rejoinedAt.AddSeconds(-1)
                    && e.GetProperty("upstream").GetString() == $"127.0.0.1:{instance.ApiPort + 1}")
                ? (bool?)true : null;
        }, TimeSpan.FromMinutes(1));
        Assert.True(servedByRestarted);
        Assert.Contains($"api-1: running (pid {restartedPid}, port {instance.ApiPort + 1}, restarted 1 times)", await instance.RunAsync("status"), StringComparison.Ordinal);

        // ./run.sh stop leaves no replica and no supervisor behind.
        var pids = instance.RecordedPids();
        Assert.True(pids.Count >= 2 * (3 + 1 + 1), $"pids recorded: {pids.Count}");
        await instance.RunAsync("stop");
        Assert.DoesNotContain(pids, RunScriptInstance.IsAlive);
    }

    private static async Task<T> EventuallyAsync<T>(Func<T?> probe, TimeSpan within)
        where T : struct =>
        await EventuallyAsync<T>(() => Task.FromResult(probe()), within);

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe, TimeSpan within)
        where T : struct
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            Assert.True(watch.Elapsed < within, $"not within {within}");
            await Task.Delay(250);
        }
    }
}
