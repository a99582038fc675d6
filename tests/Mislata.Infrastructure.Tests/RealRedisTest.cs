using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests;

/// <summary>A test class with a real Redis server of its own (launched before each test, stopped after) and a connection to it.</summary>
public abstract class RealRedisTest : IAsyncLifetime
{
    private RedisInstance? _redis;
    private IConnectionMultiplexer? _connection;

    protected RedisInstance Redis => _redis ?? throw new InvalidOperationException("Redis is not launched yet.");

    protected IConnectionMultiplexer Connection => _connection ?? throw new InvalidOperationException("Redis is not launched yet.");

    public async Task InitializeAsync()
    {
        _redis = await RedisInstance.LaunchAsync();
        _connection = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
    }

    public async Task DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        await DisposeMoreAsync();
    }

    /// <summary>What a test class disposes besides Redis.</summary>
    protected virtual Task DisposeMoreAsync() => Task.CompletedTask;
}
