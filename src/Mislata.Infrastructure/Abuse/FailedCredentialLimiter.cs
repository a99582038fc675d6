using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using Mislata.ServiceDefaults.Problems;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Abuse;

/// <summary>How many failing credentials one client source may present per minute before it is refused (429) unheard.</summary>
public sealed class FailedCredentialOptions
{
    public const string Section = "FailedCredentials";

    [Range(1, 1_000_000)]
    public int PerMinute { get; set; } = 60;
}

/// <summary>
/// Failing credentials per client source and minute, counted in Redis across every replica of every service; the
/// decision to refuse is kept in memory, so the check on the request path costs no network call. A replica learns that
/// a source is over the limit from the count Redis returns for the failure it records itself: a source blocked by one
/// replica is refused by another after at most one more failure there. Redis down: nothing is refused (fail-open, the
/// services' own checks still hold); each failure let through is counted (<c>mislata.dependency.fail_open</c>, check
/// <c>failed_credentials</c>) and the outage is logged once by <see cref="DependencyOutages"/>, not once per request.
/// </summary>
public sealed class FailedCredentialLimiter(
    IConnectionMultiplexer redis,
    IOptions<FailedCredentialOptions> options,
    TimeProvider time,
    DependencyOutages outages)
{
    internal const string KeyPrefix = "mislata:abuse:failed:";
    private const long WindowMs = 60_000;
    private const int MaxBlockedSources = 100_000;

    private const string CountScript = """
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return n
        """;

    private readonly ConcurrentDictionary<string, DateTimeOffset> _blockedUntil = new(StringComparer.Ordinal);

    public int PerMinute => options.Value.PerMinute;

    /// <summary>Memory only: whether <paramref name="source"/> reached the limit in the current minute, and for how long it stays refused.</summary>
    public bool IsOverLimit(string source, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (!_blockedUntil.TryGetValue(source, out var until))
        {
            return false;
        }

        var left = until - time.GetUtcNow();
        if (left > TimeSpan.Zero)
        {
            retryAfter = left;
            return true;
        }

        _blockedUntil.TryRemove(KeyValuePair.Create(source, until));
        return false;
    }

    /// <summary>Counts one failing credential of <paramref name="source"/>; at the limit the source is refused until the minute ends.</summary>
    public async Task RecordFailureAsync(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var now = time.GetUtcNow();
        var window = now.ToUnixTimeMilliseconds() / WindowMs;
        long failures;
        try
        {
            failures = (long)await redis.GetDatabase().ScriptEvaluateAsync(
                CountScript, [(RedisKey)(KeyPrefix + source + ":" + window)], [WindowMs * 2]);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            outages.CountFailOpen(DependencyOutages.Redis, "failed_credentials");
            return;
        }

        if (failures >= options.Value.PerMinute)
        {
            Block(source, DateTimeOffset.FromUnixTimeMilliseconds((window + 1) * WindowMs), now);
        }
    }

    private void Block(string source, DateTimeOffset until, DateTimeOffset now)
    {
        if (_blockedUntil.Count >= MaxBlockedSources)
        {
            foreach (var (key, value) in _blockedUntil)
            {
                if (value <= now)
                {
                    _blockedUntil.TryRemove(KeyValuePair.Create(key, value));
                }
            }

            if (_blockedUntil.Count >= MaxBlockedSources)
            {
                // Bounded memory: with this many sources refused at once, one more is counted in Redis but not
                // refused here until earlier entries expire.
                return;
            }
        }

        _blockedUntil[source] = until;
    }
}
