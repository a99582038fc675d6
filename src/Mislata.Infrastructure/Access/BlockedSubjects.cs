using System.Collections.Concurrent;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Access;

/// <summary>
/// Users blocked while their access tokens are still valid. Resource servers validate tokens locally, so a block
/// must reach them another way: identity records the subject in Redis for longer than any access token lives and
/// announces it on the invalidation channel; every replica keeps the list in memory (no network call per request)
/// and reloads it at start and after a lost Redis connection.
/// </summary>
public sealed partial class BlockedSubjects : IHostedService
{
    /// <summary>Longer than the access-token lifetime (15 minutes) plus clock skew.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(20);

    private const string KeyPrefix = "mislata:access:blocked:";
    private const string BlockMessage = "subject-blocked:";
    private const string UnblockMessage = "subject-unblocked:";

    private readonly ConcurrentDictionary<string, DateTimeOffset> _until = new(StringComparer.Ordinal);
    private readonly IConnectionMultiplexer _redis;
    private readonly AccessInvalidation _invalidation;
    private readonly TimeProvider _time;
    private readonly ILogger<BlockedSubjects> _logger;

    public BlockedSubjects(IConnectionMultiplexer redis, AccessInvalidation invalidation, TimeProvider time, ILogger<BlockedSubjects> logger)
    {
        ArgumentNullException.ThrowIfNull(invalidation);
        _redis = redis;
        _invalidation = invalidation;
        _time = time;
        _logger = logger;
        invalidation.Invalidated += OnInvalidated;
    }

    public bool IsBlocked(string? subject) =>
        subject is not null && _until.TryGetValue(subject, out var until) && until > _time.GetUtcNow();

    /// <summary>Refuses the subject's outstanding access tokens on every replica. Throws when Redis cannot record it.</summary>
    public async Task BlockAsync(string subject)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        await _redis.GetDatabase().StringSetAsync(KeyPrefix + subject, "1", Window);
        _until[subject] = _time.GetUtcNow() + Window;
        await _invalidation.PublishAsync(BlockMessage + subject);
    }

    public async Task UnblockAsync(string subject)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        await _redis.GetDatabase().KeyDeleteAsync(KeyPrefix + subject);
        _until.TryRemove(subject, out _);
        await _invalidation.PublishAsync(UnblockMessage + subject);
    }

    public async Task StartAsync(CancellationToken cancellationToken) => await ReloadAsync();

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void OnInvalidated(string message)
    {
        if (message.StartsWith(BlockMessage, StringComparison.Ordinal))
        {
            _until[message[BlockMessage.Length..]] = _time.GetUtcNow() + Window;
        }
        else if (message.StartsWith(UnblockMessage, StringComparison.Ordinal))
        {
            _until.TryRemove(message[UnblockMessage.Length..], out _);
        }
        else if (message == AccessInvalidation.All)
        {
            // Messages may have been missed while Redis was away: read the list again.
            _ = ReloadAsync();
        }
    }

    private async Task ReloadAsync()
    {
        try
        {
            var db = _redis.GetDatabase();
            foreach (var endpoint in _redis.GetEndPoints())
            {
                var server = _redis.GetServer(endpoint);
                if (!server.IsConnected || server.IsReplica)
                {
                    continue;
                }

                await foreach (var key in server.KeysAsync(db.Database, KeyPrefix + "*"))
                {
                    var ttl = await db.KeyTimeToLiveAsync(key);
                    if (ttl is { } left)
                    {
                        _until[key.ToString()[KeyPrefix.Length..]] = _time.GetUtcNow() + left;
                    }
                }
            }
        }
        catch (RedisException ex)
        {
            LogReloadFailed(_logger, ex.GetType().Name);
        }
    }

    [LoggerMessage(EventId = 5102, Level = LogLevel.Warning, Message = "Could not read the blocked subjects from Redis ({ErrorType}); keeping the ones in memory")]
    private static partial void LogReloadFailed(ILogger logger, string errorType);
}
