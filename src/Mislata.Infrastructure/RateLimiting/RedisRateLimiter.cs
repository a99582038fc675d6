using System.Diagnostics.Metrics;
using Mislata.ServiceDefaults.Problems;
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
/// Sliding-window (60 s) request limits shared by every replica: one atomic Lua script checks every bucket against
/// Redis's own clock and records the request in all of them only when all allow it, so the sum of accepted requests over
/// any 60 s never exceeds a limit. Limits of 2,000 requests a minute and more are reserved in leases that the replica
/// spends from memory within <see cref="LeaseLifetime"/>: one request at first, then twice the previous lease each time
/// that one was all spent, or as many as the previous one served when it lapsed with some unspent, up to a thousandth
/// of the tightest limit (at most <see cref="MaxLease"/>) — one round trip per lease instead of per request for a busy
/// caller, and for the many callers of an installation with thousands of tenants each at a few requests a second; no
/// reservation beyond its use for a quiet one. A request leased and never spent still counts. A spent request is
/// recorded at its lease's reservation, so it leaves the window up to one lifetime early: any 60 s may hold at most one
/// lease per replica (the one alive when the window began) beyond the limit. Below 2,000 a minute every
/// request is decided by Redis. When Redis cannot be reached the request is let through (fail-open:
/// availability of the customer's own data first) without waiting for a timeout when the connection is known to be
/// down; every such request is counted (<c>mislata.ratelimit.fail_open</c>, and <c>mislata.dependency.fail_open</c>
/// with check <c>rate_limit</c>), and the outage is logged once by <see cref="DependencyOutages"/>, when it begins, and
/// once when it ends with the number of requests let through — never once per request.
/// </summary>
public sealed class RedisRateLimiter
{
    public const string MeterName = "Mislata.RateLimiting";
    public const string FailOpenCounterName = "mislata.ratelimit.fail_open";

    /// <summary>The largest lease: a thousandth of the tightest limit, between 1 and this.</summary>
    public const int MaxLease = 64;

    /// <summary>
    /// How long reserved requests may be spent from memory: long enough for a caller at a few requests a second to
    /// spend a lease of several (with a 1 s lifetime, 1,000 tenants at 2 requests a second each took a round trip for
    /// about every second request); the bound on a window stays one lease per replica whatever the lifetime.
    /// </summary>
    public static readonly TimeSpan LeaseLifetime = TimeSpan.FromSeconds(5);

    private const int MaxLeases = 100_000;
    private const string KeyPrefix = "mislata:rl:";
    private const long WindowMs = 60_000;

    // ARGV: window ms, member id, operations wanted (a lease, ≥ 1), then one limit per key. Grants the lease only in
    // full measure of what every bucket still holds (at least one request), records each granted request in every
    // bucket, and answers {allowed, limit, remaining, reset ms, granted} for the tightest bucket.
    private const string Script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local window = tonumber(ARGV[1])
        local grant = tonumber(ARGV[3])
        local counts = {}
        for i = 1, #KEYS do
          redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
          local c = redis.call('ZCARD', KEYS[i])
          counts[i] = c
          local limit = tonumber(ARGV[3 + i])
          if c >= limit then
            local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
            local reset = window
            if oldest[2] then reset = tonumber(oldest[2]) + window - now end
            return {0, limit, 0, reset, 0}
          end
          grant = math.min(grant, limit - c)
        end
        local best = 0
        local bestRemaining = -1
        for i = 1, #KEYS do
          for j = 1, grant do
            redis.call('ZADD', KEYS[i], now, ARGV[2] .. ':' .. j)
          end
          redis.call('PEXPIRE', KEYS[i], window)
          local remaining = tonumber(ARGV[3 + i]) - counts[i] - grant
          if best == 0 or remaining < bestRemaining then best = i; bestRemaining = remaining end
        end
        local oldest = redis.call('ZRANGE', KEYS[best], 0, 0, 'WITHSCORES')
        return {1, tonumber(ARGV[3 + best]), bestRemaining, tonumber(oldest[2]) + window - now, grant}
        """;


    private readonly IConnectionMultiplexer _redis;
    private readonly TimeProvider _time;
    private readonly DependencyOutages _outages;
    private readonly Counter<long> _failOpen;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lease> _leases = new(StringComparer.Ordinal);

    public RedisRateLimiter(IConnectionMultiplexer redis, IMeterFactory meters, TimeProvider time, DependencyOutages outages)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(outages);
        _redis = redis;
        _time = time;
        _outages = outages;
        _failOpen = meters.Create(MeterName).CreateCounter<long>(FailOpenCounterName, "{request}", "Requests let through without a rate-limit check because Redis was unavailable");
    }

    /// <summary>How many requests one round trip reserves for a bucket set whose tightest limit is <paramref name="perMinute"/>.</summary>
    public static int LeaseSize(int perMinute) => Math.Clamp(perMinute / 1000, 1, MaxLease);

    public async Task<RateLimitDecision> AcquireAsync(IReadOnlyList<RateLimitBucket> buckets)
    {
        ArgumentNullException.ThrowIfNull(buckets);
        if (buckets.Count == 0)
        {
            return RateLimitDecision.Unlimited;
        }

        var tightest = int.MaxValue;
        foreach (var bucket in buckets)
        {
            tightest = Math.Min(tightest, bucket.PerMinute);
        }

        var cap = LeaseSize(tightest);
        var leaseKey = cap > 1 ? LeaseKey(buckets) : null;
        Lease? held = null;
        if (leaseKey is not null && _leases.TryGetValue(leaseKey, out held) && held.TrySpend(_time.GetTimestamp(), out var fromLease))
        {
            return fromLease;
        }

        // A lease follows the caller's own rate: one request, then twice the last lease each time that one was all
        // spent, or what the last one served in its lifetime, up to the cap. A caller idle for two lifetimes starts at one.
        var want = held?.NextSize(_time.GetTimestamp(), cap) ?? 1;

        var keys = new RedisKey[buckets.Count];
        var args = new RedisValue[buckets.Count + 3];
        args[0] = WindowMs;
        args[1] = Guid.NewGuid().ToString("N");
        args[2] = want;
        for (var i = 0; i < buckets.Count; i++)
        {
            keys[i] = KeyPrefix + buckets[i].Name;
            args[i + 3] = buckets[i].PerMinute;
        }

        if (!_redis.IsConnected)
        {
            return FailOpen("disconnected");
        }

        try
        {
            var result = (RedisResult[])(await _redis.GetDatabase().ScriptEvaluateAsync(Script, keys, args))!;
            var resetMs = (long)result[3];
            var decision = new RateLimitDecision((int)result[0] == 1, (int)result[1], Math.Max(0, (int)result[2]), (int)Math.Max(1, (resetMs + 999) / 1000));
            var granted = (int)result[4];
            if (leaseKey is not null && granted > 0)
            {
                if (_leases.Count >= MaxLeases)
                {
                    SweepLeases();
                }

                // Requests still held by a concurrent reservation join this one (none is lost), under the older
                // reservation's time: a lease never outlives its oldest request's lifetime. A lease all spent holds
                // none: the new one has its own full lifetime.
                var now = _time.GetTimestamp();
                _leases.AddOrUpdate(
                    leaseKey,
                    _ => new Lease(granted - 1, granted, decision, now, _time),
                    (_, existing) => !existing.Expired(now) && existing.TakeAll() is > 0 and var held
                        ? new Lease(held + granted - 1, granted, decision, existing.ReservedAt, _time)
                        : new Lease(granted - 1, granted, decision, now, _time));
                return decision with { Remaining = decision.Remaining + granted - 1 };
            }

            return decision;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return FailOpen(ex is TimeoutException ? "timeout" : "error");
        }
    }

    private static string LeaseKey(IReadOnlyList<RateLimitBucket> buckets)
    {
        var key = new System.Text.StringBuilder();
        foreach (var bucket in buckets)
        {
            key.Append(bucket.Name).Append('=').Append(bucket.PerMinute).Append(';');
        }

        return key.ToString();
    }

    private void SweepLeases()
    {
        var now = _time.GetTimestamp();
        foreach (var entry in _leases)
        {
            if (entry.Value.Expired(now))
            {
                _leases.TryRemove(entry);
            }
        }

        if (_leases.Count >= MaxLeases)
        {
            _leases.Clear();
        }
    }

    /// <summary>
    /// Requests reserved in Redis (recorded in every bucket at the reservation's time) and not yet spent by this replica,
    /// usable for <see cref="LeaseLifetime"/>: unspent ones are simply not used (they still count).
    /// </summary>
    private sealed class Lease(int requests, int size, RateLimitDecision atReservation, long reservedAt, TimeProvider time)
    {
        private int _left = requests;

        public long ReservedAt => reservedAt;

        /// <summary>How many requests the reservation took.</summary>
        public int Size => size;

        /// <summary>
        /// The next lease's size: twice this one when all of it was spent, as many as it served when it lapsed with some
        /// unspent, one when it is older than two lifetimes (the caller was idle); never above <paramref name="cap"/>.
        /// </summary>
        public int NextSize(long now, int cap)
        {
            if (time.GetElapsedTime(reservedAt, now) >= LeaseLifetime * 2)
            {
                return 1;
            }

            var left = Volatile.Read(ref _left);
            return left <= 0 ? Math.Min(cap, size * 2) : Math.Clamp(size - left, 1, cap);
        }

        public bool Expired(long now) => time.GetElapsedTime(reservedAt, now) >= LeaseLifetime;

        /// <summary>Takes every request left (they move to a newer lease).</summary>
        public int TakeAll() => Interlocked.Exchange(ref _left, 0);

        public bool TrySpend(long now, out RateLimitDecision decision)
        {
            decision = default;
            if (Expired(now))
            {
                return false;
            }

            int left;
            do
            {
                left = Volatile.Read(ref _left);
                if (left <= 0)
                {
                    return false;
                }
            }
            while (Interlocked.CompareExchange(ref _left, left - 1, left) != left);

            // What the tightest bucket held at the reservation, less the requests of this lease spent since.
            decision = atReservation with { Remaining = atReservation.Remaining + left - 1 };
            return true;
        }
    }

    private RateLimitDecision FailOpen(string reason)
    {
        _failOpen.Add(1, new KeyValuePair<string, object?>("reason", reason));
        _outages.CountFailOpen(DependencyOutages.Redis, "rate_limit");
        return RateLimitDecision.Unlimited;
    }
}
