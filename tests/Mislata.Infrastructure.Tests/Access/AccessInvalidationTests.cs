using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Mislata.Infrastructure.Access;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests.Access;

/// <summary>
/// Access invalidations over a real Redis: raised on the replica that made the change first (even with Redis down),
/// then on every subscribed replica; a lost or restored connection makes a replica forget everything (<c>all</c>).
/// </summary>
public sealed class AccessInvalidationTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private RedisInstance? _redis;

    public async Task InitializeAsync() => _redis = await RedisInstance.LaunchAsync();

    public async Task DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private sealed class Replica : IAsyncDisposable
    {
        private Replica(ConnectionMultiplexer connection)
        {
            Connection = connection;
            Invalidation = new AccessInvalidation(connection, NullLogger<AccessInvalidation>.Instance);
            Subscriber = new AccessInvalidationSubscriber(connection, Invalidation, NullLogger<AccessInvalidationSubscriber>.Instance);
            Invalidation.Invalidated += Received.Enqueue;
        }

        public ConnectionMultiplexer Connection { get; }

        public AccessInvalidation Invalidation { get; }

        public AccessInvalidationSubscriber Subscriber { get; }

        public ConcurrentQueue<string> Received { get; } = new();

        public static async Task<Replica> StartAsync(string configuration)
        {
            var replica = new Replica(await ConnectionMultiplexer.ConnectAsync(configuration + ",abortConnect=false,connectRetry=1,connectTimeout=1000"));
            await replica.Subscriber.StartAsync(CancellationToken.None);
            return replica;
        }

        public async Task<bool> EventuallyReceivesAsync(string message)
        {
            var watch = Stopwatch.StartNew();
            while (!Received.Contains(message))
            {
                if (watch.Elapsed > Patience)
                {
                    return false;
                }

                await Task.Delay(20);
            }

            return true;
        }

        public async ValueTask DisposeAsync()
        {
            await Subscriber.StopAsync(CancellationToken.None);
            await Connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_invalidation_is_raised_at_once_on_the_replica_that_made_it_and_then_on_every_subscribed_replica()
    {
        await using var a = await Replica.StartAsync(_redis!.Configuration);
        await using var b = await Replica.StartAsync(_redis.Configuration);
        var tenant = AccessInvalidation.Tenant(Guid.NewGuid());

        await a.Invalidation.PublishAsync(tenant);

        // Locally before PublishAsync returns, not through the channel.
        Assert.Contains(tenant, a.Received);
        Assert.True(await b.EventuallyReceivesAsync(tenant));
    }

    [Fact]
    public async Task With_Redis_disconnected_the_replica_that_made_the_change_still_forgets_it_and_publishing_does_not_throw()
    {
        await using var down = await ConnectionMultiplexer.ConnectAsync("127.0.0.1:1,abortConnect=false,connectTimeout=200,connectRetry=0");
        var invalidation = new AccessInvalidation(down, NullLogger<AccessInvalidation>.Instance);
        var received = new List<string>();
        invalidation.Invalidated += received.Add;
        var subscriber = new AccessInvalidationSubscriber(down, invalidation, NullLogger<AccessInvalidationSubscriber>.Instance);
        await subscriber.StartAsync(CancellationToken.None);

        var key = AccessInvalidation.ApiKey(Guid.NewGuid());
        await invalidation.PublishAsync(key);

        Assert.Equal([key], received);
        await subscriber.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_lost_and_a_restored_connection_each_make_a_replica_forget_everything_until_it_stops()
    {
        await using var replica = await Replica.StartAsync(_redis!.Configuration);
        // The multiplexer may report its own connections coming up just after the start: only what follows counts.
        replica.Received.Clear();

        await _redis.StopAsync();
        Assert.True(await replica.EventuallyReceivesAsync(AccessInvalidation.All), "no 'all' after the connection was lost");
        replica.Received.Clear();

        await _redis.StartAsync();
        Assert.True(await replica.EventuallyReceivesAsync(AccessInvalidation.All), "no 'all' after the connection was restored");

        // After the replica stopped, a connection change is no longer its business.
        await replica.Subscriber.StopAsync(CancellationToken.None);
        replica.Received.Clear();
        await _redis.StopAsync();
        var watch = Stopwatch.StartNew();
        while (replica.Connection.IsConnected && watch.Elapsed < Patience)
        {
            await Task.Delay(20);
        }

        Assert.False(replica.Connection.IsConnected);
        Assert.DoesNotContain(AccessInvalidation.All, replica.Received);
        await _redis.StartAsync();
    }

    [Fact]
    public async Task A_message_published_by_another_service_on_the_channel_reaches_the_replica_as_it_is()
    {
        await using var replica = await Replica.StartAsync(_redis!.Configuration);
        await using var other = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);

        // The subscription is confirmed by Redis before StartAsync returns: the publish reaches exactly one subscriber.
        Assert.Equal(1, await other.GetSubscriber().PublishAsync(RedisChannel.Literal("mislata:access:invalidate"), AccessInvalidation.Plans));
        Assert.True(await replica.EventuallyReceivesAsync(AccessInvalidation.Plans));
    }
}
