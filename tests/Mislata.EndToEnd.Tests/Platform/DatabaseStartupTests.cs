using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// A service that starts before PostgreSQL answers waits for it, without a deadline, instead of crashing; meanwhile its
/// address answers every request 503 with Retry-After (a problem <c>unavailable</c>; health unhealthy) rather than
/// refusing connections, and once PostgreSQL answers the same process becomes live on the same port.
/// </summary>
public sealed class DatabaseStartupTests
{
    [Fact]
    public async Task A_service_started_while_PostgreSQL_is_unreachable_retries_and_comes_up_once_it_answers()
    {
        await using var postgres = await PostgresInstance.StartOwnAsync();
        var database = await postgres.CreateDatabaseAsync("late");
        await postgres.StopAsync();
        await using var redis = await RedisInstance.LaunchAsync();
        var env = new Dictionary<string, string?>
        {
            ["QAPI_MASTER_KEY"] = TestEnvironment.NewMasterKey(),
            ["QAPI_POSTGRES"] = database,
            ["QAPI_REDIS"] = redis.Configuration,
        };

        var port = Processes.FreePort();
        await using var api = ServiceProcess.Start("api", port, env);

        // It says it is waiting for the database, and is still running, rather than exiting on the first refusal.
        var watch = Stopwatch.StartNew();
        while (!api.HasExited && !api.Output.Contains("PostgreSQL is not reachable yet", StringComparison.Ordinal) && watch.Elapsed < MislataStack.StartTimeout)
        {
            await Task.Delay(100);
        }

        Assert.False(api.HasExited, "the api exited while PostgreSQL was down:\n" + api.Output);
        Assert.Contains("PostgreSQL is not reachable yet", api.Output, StringComparison.Ordinal);

        // While it waits, its port answers: 503 with Retry-After, a problem for the API and "starting" for health.
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        using (var keys = await EventuallyAnsweredAsync(client, "/api/v1/keys"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, keys.StatusCode);
            Assert.Equal("application/problem+json", keys.Content.Headers.ContentType?.MediaType);
            Assert.NotNull(keys.Headers.RetryAfter);
            using var problem = JsonDocument.Parse(await keys.Content.ReadAsStringAsync());
            Assert.Equal("unavailable", problem.RootElement.GetProperty("error").GetString());
            Assert.Equal(503, problem.RootElement.GetProperty("status").GetInt32());
        }

        foreach (var health in new[] { "/health/live", "/health/ready" })
        {
            using var response = await client.GetAsync(new Uri(health, UriKind.Relative));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("\"starting\":true", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var pid = api.ProcessId;
        await postgres.StartAsync();
        await api.WaitLiveAsync(MislataStack.StartTimeout);
        Assert.Equal(pid, api.ProcessId);
        Assert.False(api.HasExited);
        using var ready = await client.GetAsync(new Uri("/api/v1/ping", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NoContent, ready.StatusCode);
    }

    /// <summary>The first answer on the port (the responder starts a few seconds into the wait).</summary>
    private static async Task<HttpResponseMessage> EventuallyAnsweredAsync(HttpClient client, string path)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await client.GetAsync(new Uri(path, UriKind.Relative));
            }
            catch (HttpRequestException) when (watch.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(200);
            }
        }
    }
}
