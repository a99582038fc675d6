using System.Net;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>Stops and restarts Redis and PostgreSQL under a running platform: readiness follows, no service restarts.</summary>
public sealed class ResilienceTests : IAsyncLifetime
{
    private MislataStack? _stack;

    private MislataStack Stack => _stack!;

    public async Task InitializeAsync() => _stack = await MislataStack.StartAsync(new StackOptions { OwnPostgres = true });

    public async Task DisposeAsync()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }
    }

    [Fact]
    public async Task Health_follows_redis_and_postgres_going_down_and_coming_back()
    {
        var pids = Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList();

        await Stack.Redis.StopAsync();
        var (_, downBody) = await Stack.WaitHealthAsync(HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(10));
        AssertDependencyNamed(downBody, "redis");
        await Stack.Redis.StartAsync();
        await Stack.WaitHealthAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(30));

        await Stack.Postgres.StopAsync();
        (_, downBody) = await Stack.WaitHealthAsync(HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(10));
        AssertDependencyNamed(downBody, "postgres");
        await Stack.Postgres.StartAsync();
        await Stack.WaitHealthAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(30));

        Assert.All(Stack.Services, s => Assert.False(s.HasExited, $"{s.Name} exited"));
        // No service restarted: the same processes, not merely the same ports.
        Assert.Equal(pids, Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList());
    }

    private static void AssertDependencyNamed(string body, string dependency)
    {
        var services = JsonDocument.Parse(body).RootElement.GetProperty("services");
        var named = services.EnumerateObject().Count(s =>
            s.Value.GetProperty("checks").TryGetProperty(dependency, out var check) &&
            check.GetProperty("status").GetString() == "Unhealthy");
        Assert.True(named >= 1, $"no service names {dependency} as unhealthy: {body}");
    }
}
