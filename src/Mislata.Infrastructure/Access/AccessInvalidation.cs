using Mislata.ServiceDefaults.Problems;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Access;

/// <summary>
/// Tells every replica to forget cached access data (API key records, tenant status and plan) at once, over Redis
/// pub/sub. Caches also expire on a short TTL, the safety net for a lost message.
/// </summary>
public sealed partial class AccessInvalidation(IConnectionMultiplexer redis, ILogger<AccessInvalidation> logger, DependencyOutages? outages = null)
{
    public static readonly RedisChannel Channel = RedisChannel.Literal("mislata:access:invalidate");

    /// <summary>Raised for local and remote invalidations: <c>key:{id}</c>, <c>tenant:{id}</c>, <c>plans</c>, <c>licence</c>, <c>all</c>.</summary>
    public event Action<string>? Invalidated;

    public async Task PublishAsync(string message)
    {
        // Local first: the replica that made the change never serves stale data, even when Redis is down.
        Raise(message);
        if (!redis.IsConnected)
        {
            // Not worth waiting for a timeout: every replica reloads and clears its caches when the connection is back.
            // Part of the Redis outage, logged once for it (DependencyOutages), not once per change.
            if (outages is null)
            {
                LogPublishSkipped(logger);
            }
            else
            {
                outages.ReportDown(DependencyOutages.Redis, "access invalidations not published; other replicas catch up when it is back");
            }

            return;
        }

        try
        {
            await redis.GetSubscriber().PublishAsync(Channel, message);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            if (outages is null)
            {
                LogPublishFailed(logger, ex);
            }
            else
            {
                outages.ReportDown(DependencyOutages.Redis, "an access invalidation was not published: " + ex.GetType().Name);
            }
        }
    }

    public static string ApiKey(Guid id) => "key:" + id.ToString("N");

    public static string Tenant(Guid id) => "tenant:" + id.ToString("N");

    public const string Plans = "plans";

    /// <summary>The installed licence or its revocation changed: every replica reloads it.</summary>
    public const string Licence = "licence";

    public const string All = "all";

    internal void Raise(string message) => Invalidated?.Invoke(message);

    [LoggerMessage(EventId = 5100, Level = LogLevel.Warning, Message = "Could not publish an access invalidation; other replicas rely on the cache TTL")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Warning, Message = "Redis is disconnected: an access invalidation was not published; other replicas catch up when it is back")]
    private static partial void LogPublishSkipped(ILogger logger);
}

/// <summary>
/// Subscribes to the invalidation channel; a lost or restored connection clears every cache and reloads the access
/// revocations (messages may have been missed).
/// </summary>
public sealed partial class AccessInvalidationSubscriber(IConnectionMultiplexer redis, AccessInvalidation invalidation, ILogger<AccessInvalidationSubscriber> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionFailed += OnConnectionChange;
        redis.ConnectionRestored += OnConnectionChange;
        try
        {
            await redis.GetSubscriber().SubscribeAsync(AccessInvalidation.Channel, (_, message) =>
            {
                if (message.HasValue)
                {
                    invalidation.Raise(message.ToString());
                }
            });
        }
        catch (RedisException ex)
        {
            // The multiplexer re-subscribes when it reconnects.
            LogSubscribeFailed(logger, ex);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionFailed -= OnConnectionChange;
        redis.ConnectionRestored -= OnConnectionChange;
        return Task.CompletedTask;
    }

    private void OnConnectionChange(object? sender, ConnectionFailedEventArgs e) => invalidation.Raise(AccessInvalidation.All);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Warning, Message = "Could not subscribe to access invalidations at start")]
    private static partial void LogSubscribeFailed(ILogger logger, Exception exception);
}
