using System.Diagnostics.Metrics;
using StackExchange.Redis;

namespace Mislata.Infrastructure.RateLimiting;

/// <summary>One limit to hold: a bucket name (e.g. <c>key:{id}</c>, <c>tenant:{id}</c>) and its requests per minute.</summary>
public readonly record struct RateLimitBucket(string Name, int PerMinute);

/// <summary>The outcome, with the figures of the tightest bucket for the <c>RateLimit-*</c> headers.</summary>
public readonly record struct RateLimitDecision(bool Allowed, int Limit, int Remaining, int ResetSeconds)
{
    public static RateLimitDecision Unlimited { get; } = new(true, 0, 0, 0);
}

/// <summary>
/// Sliding-window (60 s) request limits shared by every replica: one atomic Lua script per request checks every bucket
/// against Redis's own clock and records the request in all of them only when all allow it, so the sum of accepted
/// requests over any 60 s never exceeds a limit. When Redis cannot be reached the request is let through (fail-open:
/// availability of the customer's own data first) without waiting for a timeout when the connection is known to be
/// down; every such request is counted (<c>mislata.ratelimit.fail_open</c>) and a warning is logged at most every
/// <see cref="LogInterval"/> with the number let through since the last one.
/// </summary>
public sealed partial class RedisRateLimiter
{
    public const string MeterName = "Mislata.RateLimiting";
    public const string FailOpenCounterName = "mislata.ratelimit.fail_open";

    /// <summary>One warning per interval during an outage, not one per request.</summary>
    public static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(30);

    private const string KeyPrefix = "mislata:rl:";
    private const long WindowMs = 60_000;

    private const string Script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local window = tonumber(ARGV[1])
        local counts = {}
        for i = 1, #KEYS do
          redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
          local c = redis.call('ZCARD', KEYS[i])
          counts[i] = c
          local limit = tonumber(ARGV[2 + i])
          if c >= limit then
            local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
            local reset = window
            if oldest[2] then reset = tonumber(oldest[2]) + window - now end
            return {0, limit, 0, reset}
          end
        end
        local best = 0
        local bestRemaining = -1
        for i = 1, #KEYS do
          redis.call('ZADD', KEYS[i], now, ARGV[2])
          redis.call('PEXPIRE', KEYS[i], window)
          local remaining = tonumber(ARGV[2 + i]) - counts[i] - 1
          if best == 0 or remaining < bestRemaining then best = i; bestRemaining = remaining end
        end
        local oldest = redis.call('ZRANGE', KEYS[best], 0, 0, 'WITHSCORES')
        return {1, tonumber(ARGV[2 + best]), bestRemaining, tonumber(oldest[2]) + window - now}
        """;

    private const long NeverReported = long.MinValue;

    private readonly IConnectionMultiplexer _redis;
    private readonly TimeProvider _time;
    private readonly ILogger<RedisRateLimiter> _logger;
    private readonly Counter<long> _failOpen;
    private long _lastReport = NeverReported;
    private long _unreported;

    public RedisRateLimiter(IConnectionMultiplexer redis, IMeterFactory meters, TimeProvider time, ILogger<RedisRateLimiter> logger)
    {
        ArgumentNullException.ThrowIfNull(meters);
        _redis = redis;
        _time = time;
        _logger = logger;
        _failOpen = meters.Create(MeterName).CreateCounter<long>(FailOpenCounterName, "{request}", "Requests let through without a rate-limit check because Redis was unavailable");
    }

    public async Task<RateLimitDecision> AcquireAsync(IReadOnlyList<RateLimitBucket> buckets)
    {
        ArgumentNullException.ThrowIfNull(buckets);
        if (buckets.Count == 0)
        {
            return RateLimitDecision.Unlimited;
        }

        var keys = new RedisKey[buckets.Count];
        var args = new RedisValue[buckets.Count + 2];
        args[0] = WindowMs;
        args[1] = Guid.NewGuid().ToString("N");
        for (var i = 0; i < buckets.Count; i++)
        {
            keys[i] = KeyPrefix + buckets[i].Name;
            args[i + 2] = buckets[i].PerMinute;
        }

        if (!_redis.IsConnected)
        {
            return FailOpen("disconnected", null);
        }

        try
        {
            var result = (RedisResult[])(await _redis.GetDatabase().ScriptEvaluateAsync(Script, keys, args))!;
            var resetMs = (long)result[3];
            return new RateLimitDecision((int)result[0] == 1, (int)result[1], Math.Max(0, (int)result[2]), (int)Math.Max(1, (resetMs + 999) / 1000));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return FailOpen(ex is TimeoutException ? "timeout" : "error", ex);
        }
    }

    private RateLimitDecision FailOpen(string reason, Exception? exception)
    {
        _failOpen.Add(1, new KeyValuePair<string, object?>("reason", reason));
        Interlocked.Increment(ref _unreported);
        var now = _time.GetTimestamp();
        var last = Interlocked.Read(ref _lastReport);
        if ((last == NeverReported || _time.GetElapsedTime(last, now) >= LogInterval) &&
            Interlocked.CompareExchange(ref _lastReport, now, last) == last)
        {
            LogFailOpen(_logger, reason, Interlocked.Exchange(ref _unreported, 0), exception);
        }

        return RateLimitDecision.Unlimited;
    }

    [LoggerMessage(EventId = 5200, Level = LogLevel.Warning, Message = "Rate limits not enforced (fail-open): Redis is unavailable ({Reason}); {Requests} request(s) let through since the last report")]
    private static partial void LogFailOpen(ILogger logger, string reason, long requests, Exception? exception);
}
