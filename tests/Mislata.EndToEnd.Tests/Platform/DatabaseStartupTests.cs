using System.Diagnostics;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>A service that starts before PostgreSQL answers waits for it (within its start-up budget) instead of crashing.</summary>
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

        await using var api = ServiceProcess.Start("api", 0, env);

        // It says it is waiting for the database, and is still running, rather than exiting on the first refusal.
        var watch = Stopwatch.StartNew();
        while (!api.HasExited && !api.Output.Contains("PostgreSQL is not reachable yet", StringComparison.Ordinal) && watch.Elapsed < MislataStack.StartTimeout)
        {
            await Task.Delay(100);
        }

        Assert.False(api.HasExited, "the api exited while PostgreSQL was down:\n" + api.Output);
        Assert.Contains("PostgreSQL is not reachable yet", api.Output, StringComparison.Ordinal);

        await postgres.StartAsync();
        await api.WaitLiveAsync(MislataStack.StartTimeout);
    }
}
