using StackExchange.Redis;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// Least privilege in Redis: each service connects as its own ACL user (deploy/redis/users.conf.template) limited to
/// its key patterns and channels, without the dangerous commands; the default user is the operator's.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class RedisUserTests(StackFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    public static TheoryData<string, string> DangerousCommands()
    {
        var data = new TheoryData<string, string>();
        foreach (var service in new[] { "identity", "api", "worker" })
        {
            foreach (var command in new[] { "FLUSHALL", "FLUSHDB", "CONFIG GET *", "CONFIG SET appendonly no", "KEYS *", "ACL LIST", "ACL SETUSER planted on >x +@all ~*", "REPLICAOF NO ONE", "MODULE LIST", "CLIENT LIST", "SCRIPT FLUSH" })
            {
                data.Add(service, command);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(DangerousCommands))]
    public async Task A_service_user_cannot_run_dangerous_commands(string service, string command)
    {
        await using var redis = await ConnectAsAsync(service);
        var parts = command.Split(' ');
        var denied = await Assert.ThrowsAsync<RedisServerException>(() => redis.GetDatabase().ExecuteAsync(parts[0], parts[1..]));
        Assert.StartsWith("NOPERM", denied.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> OtherServicesKeys() => new()
    {
        // (service, command, key): keys of another service, or keys the service may only read.
        { "api", "GET", "mislata:cache:session:someone" },
        { "api", "SET", "mislata:hangfire:recurring-jobs" },
        { "api", "SET", "mislata:access:blocked:someone" },
        { "api", "SET", "elsewhere" },
        { "worker", "GET", "mislata:idem:someone" },
        { "worker", "SET", "mislata:usage:ops:someone" },
        { "worker", "SET", "mislata:rl:someone" },
        { "worker", "GET", "mislata:cache:other" },
        { "worker", "DEL", "mislata:access:blocked:someone" },
        { "identity", "GET", "mislata:hangfire:recurring-jobs" },
        { "identity", "SET", "mislata:usage:ops:someone" },
        { "identity", "SET", "elsewhere" },
    };

    [Theory]
    [MemberData(nameof(OtherServicesKeys))]
    public async Task A_service_user_cannot_touch_keys_outside_its_patterns(string service, string command, string key)
    {
        await using var redis = await ConnectAsAsync(service);
        object[] args = command == "SET" ? [key, "planted"] : [key];
        var denied = await Assert.ThrowsAsync<RedisServerException>(() => redis.GetDatabase().ExecuteAsync(command, args));
        Assert.StartsWith("NOPERM", denied.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string[]> EntropyPoolCommandsDenied() => new()
    {
        // The api only pops the sealed QRNG pool and reads its length and the filler's status (a Redis 7 selector).
        { "api", ["RPUSH", "mislata:entropy:pool", "planted"] },
        { "api", ["LPUSH", "mislata:entropy:pool", "planted"] },
        { "api", ["LRANGE", "mislata:entropy:pool", "0", "-1"] },
        { "api", ["LTRIM", "mislata:entropy:pool", "0", "0"] },
        { "api", ["DEL", "mislata:entropy:pool"] },
        { "api", ["HSET", "mislata:entropy:status", "healthy", "1"] },
        { "api", ["SET", "mislata:entropy:filler", "x"] },
        { "api", ["GET", "mislata:entropy:filler"] },
        { "api", ["SET", "mislata:jobs:lock:master-key-rotation", "x"] },
        { "identity", ["SET", "mislata:jobs:lock:master-key-rotation", "x"] },
        { "identity", ["LPOP", "mislata:entropy:pool"] },
        { "identity", ["HGETALL", "mislata:entropy:status"] },
    };

    [Theory]
    [MemberData(nameof(EntropyPoolCommandsDenied))]
    public async Task Only_the_worker_fills_the_entropy_pool(string service, string[] command)
    {
        await using var redis = await ConnectAsAsync(service);
        var denied = await Assert.ThrowsAsync<RedisServerException>(() => redis.GetDatabase().ExecuteAsync(command[0], command[1..]));
        Assert.StartsWith("NOPERM", denied.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_worker_pushes_and_trims_the_entropy_pool_and_the_api_pops_it()
    {
        const string probe = "mislata:entropy:pool";
        await using var worker = await ConnectAsAsync("worker");
        await using var api = await ConnectAsAsync("api");
        await using var admin = await ConnectionMultiplexer.ConnectAsync(_stack.Redis.Configuration);
        var before = await admin.GetDatabase().ListRangeAsync(probe);
        await admin.GetDatabase().KeyDeleteAsync(probe);
        try
        {
            var w = worker.GetDatabase();
            Assert.Equal(3, await w.ListRightPushAsync(probe, ["a", "b", "c"]));
            await w.ListTrimAsync(probe, -2, -1);
            Assert.True(await w.HashSetAsync("mislata:entropy:status-e2e-probe", "k", "v"));
            Assert.True(await w.KeyDeleteAsync("mislata:entropy:status-e2e-probe"));
            var a = api.GetDatabase();
            Assert.Equal(2, await a.ListLengthAsync(probe));
            Assert.Equal("b", (string?)await a.ListLeftPopAsync(probe));
        }
        finally
        {
            // The pool holds sealed blocks only; give back what the stack's worker had put there.
            await admin.GetDatabase().KeyDeleteAsync(probe);
            if (before.Length > 0)
            {
                await admin.GetDatabase().ListRightPushAsync(probe, before);
            }
        }
    }

    [Theory]
    [InlineData("identity", "mislata:hangfire:JobFetchChannel")]
    [InlineData("api", "mislata:hangfire:JobFetchChannel")]
    [InlineData("worker", "elsewhere")]
    public async Task A_service_user_cannot_publish_outside_its_channels(string service, string channel)
    {
        await using var redis = await ConnectAsAsync(service);
        var denied = await Assert.ThrowsAsync<RedisServerException>(() => redis.GetDatabase().ExecuteAsync("PUBLISH", channel, "x"));
        Assert.StartsWith("NOPERM", denied.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("identity", "mislata:cache:e2e-probe")]
    [InlineData("api", "mislata:rl:e2e-probe")]
    [InlineData("worker", "mislata:hangfire:e2e-probe")]
    public async Task A_service_user_reaches_its_own_keys(string service, string key)
    {
        await using var redis = await ConnectAsAsync(service);
        var db = redis.GetDatabase();
        Assert.True(await db.StringSetAsync(key, "1", TimeSpan.FromMinutes(1)));
        Assert.Equal("1", (string?)await db.StringGetAsync(key));
        Assert.True(await db.KeyDeleteAsync(key));
    }

    private async Task<ConnectionMultiplexer> ConnectAsAsync(string service)
    {
        var options = ConfigurationOptions.Parse(_stack.Redis.ConfigurationFor(service));
        options.AbortOnConnectFail = true;

        // Lets the client send what an attacker holding these credentials would: the server must refuse it.
        options.AllowAdmin = true;
        return await ConnectionMultiplexer.ConnectAsync(options);
    }
}
