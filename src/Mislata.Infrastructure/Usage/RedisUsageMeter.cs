using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.ApiKeys;
using Mislata.Core.Usage;
using Mislata.Infrastructure.Persistence;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Usage;

/// <summary>
/// Monthly (UTC calendar month) operation counters in Redis, shared by every replica, without a Redis round trip per
/// operation:
/// <list type="bullet">
/// <item>a plan without an operations limit is counted in process and added to Redis by <see cref="FlushAsync"/>
/// (every second, and at shutdown): the count others see lags by at most one flush interval;</item>
/// <item>a plan with a limit reserves operations from Redis in leases of <see cref="LeaseSize"/> (limit ÷ 1000, 1 to
/// 64) and spends them from memory. The limit is never exceeded (a lease is taken only within it); operations reserved
/// and not yet spent count as used, at most one lease per replica, and are given back at shutdown. Limits up to
/// 1,000 operations a month take leases of one: every operation is decided by Redis itself.</item>
/// </list>
/// Redis holds nothing that cannot be rebuilt: a month's counter that is missing (Redis lost its data, or the month
/// just began) is first seeded from the worker's last roll-up into PostgreSQL (<see cref="IUsageBaseline"/>) with
/// <c>SET NX</c>, so a Redis restart does not hand every tenant a fresh quota; at most the operations since that
/// roll-up (15 minutes) are forgotten. When the baseline cannot be read the operation fails (503) rather than
/// count from zero.
/// </summary>
public sealed partial class RedisUsageMeter(IConnectionMultiplexer redis, IUsageBaseline baseline, TimeProvider time, ILogger<RedisUsageMeter> logger) : IUsageMeter
{
    public const int MaxLease = 64;

    // Reserves up to ARGV[1] operations (at least ARGV[4], the ones asked for now) within the limit ARGV[2] (-1: none).
    // A counter that does not exist answers {-1, 0} and changes nothing: the caller seeds it first.
    private const string ReserveScript = """
        local stored = redis.call('GET', KEYS[1])
        if not stored then return {-1, 0} end
        local current = tonumber(stored)
        local want = tonumber(ARGV[1])
        local need = tonumber(ARGV[4])
        local limit = tonumber(ARGV[2])
        if limit >= 0 then
          if current + need > limit then
            return {0, current}
          end
          want = math.min(want, limit - current)
        end
        local updated = redis.call('INCRBY', KEYS[1], want)
        if updated == want then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3])) end
        return {want, updated}
        """;

    // Adds a count (or gives back unspent reservations: negative), never below zero; a counter that does not exist
    // answers -1 and changes nothing: the caller seeds it first.
    private const string AddScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        local updated = redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
        if updated < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL'); updated = 0 end
        if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
        return updated
        """;

    // AddScript for many counters at once: ARGV holds each key's count and TTL in turn; answers each key's total, -1 for
    // a counter that does not exist (left unchanged: the caller seeds it, then adds).
    private const string AddManyScript = """
        local totals = {}
        for i = 1, #KEYS do
          if redis.call('EXISTS', KEYS[i]) == 0 then
            totals[i] = -1
          else
            local updated = redis.call('INCRBY', KEYS[i], tonumber(ARGV[2 * i - 1]))
            if updated < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL'); updated = 0 end
            if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2 * i])) end
            totals[i] = updated
          end
        end
        return totals
        """;

    /// <summary>Counters one flush script adds to: with thousands of tenants a flush is a few scripts, not one per tenant.</summary>
    private const int FlushChunk = 256;

    private readonly ConcurrentDictionary<(Guid Tenant, DateTimeOffset Period), Account> _accounts = new();

    /// <summary>How many operations one reservation takes for a plan's monthly <paramref name="limit"/>.</summary>
    public static int LeaseSize(long limit) => (int)Math.Clamp(limit / 1000, 1, MaxLease);

    public async Task<OperationsConsumption> TryConsumeOperationsAsync(Guid tenantId, long? limit, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var (start, end) = CurrentPeriod();
        var account = _accounts.GetOrAdd((tenantId, start), _ => new Account());
        if (limit is null)
        {
            return new OperationsConsumption(true, account.AddUnflushed(count), null, end);
        }

        if (account.TrySpend(count, out var used))
        {
            return new OperationsConsumption(true, used, limit, end);
        }

        var need = count - account.Reserved;
        var want = Math.Max(need, LeaseSize(limit.Value));
        var key = Key(tenantId, start);
        RedisValue[] arguments = [want, limit.Value, Ttl(end), Math.Max(need, 1)];
        var result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(ReserveScript, [key], arguments))!;
        if ((long)result[0] < 0)
        {
            await SeedAsync(tenantId, start, cancellationToken);
            result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(ReserveScript, [key], arguments))!;
        }

        var granted = (long)result[0] >= 0
            ? (long)result[0]
            : throw new TimeoutException("The operations counter could not be created in Redis.");
        var total = (long)result[1];
        if (granted == 0)
        {
            return new OperationsConsumption(false, total, limit, end);
        }

        account.AddReserved(granted, total);
        return account.TrySpend(count, out used)
            ? new OperationsConsumption(true, used, limit, end)
            : new OperationsConsumption(false, total, limit, end);
    }

    public async Task<long> OperationsThisPeriodAsync(Guid tenantId, CancellationToken cancellationToken)
    {
        var start = CurrentPeriod().Start;
        var value = await redis.GetDatabase().StringGetAsync(Key(tenantId, start));
        if (!value.HasValue)
        {
            await SeedAsync(tenantId, start, cancellationToken);
            value = await redis.GetDatabase().StringGetAsync(Key(tenantId, start));
        }

        var stored = value.HasValue ? (long)value : 0;
        return _accounts.TryGetValue((tenantId, start), out var account) ? stored + account.Unflushed : stored;
    }

    public (DateTimeOffset Start, DateTimeOffset End) CurrentPeriod()
    {
        var now = time.GetUtcNow();
        var start = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return (start, start.AddMonths(1));
    }

    /// <summary>
    /// Adds the operations of unlimited plans counted since the last flush to Redis (one pipelined script per
    /// <see cref="FlushChunk"/> tenants);
    /// with <paramref name="releaseReservations"/> (shutdown) also gives back reserved operations not spent. Accounts
    /// of past months are dropped once flushed. A failed write keeps its count for the next flush.
    /// </summary>
    public async Task<int> FlushAsync(bool releaseReservations, CancellationToken cancellationToken)
    {
        var current = CurrentPeriod().Start;
        var writes = new List<(KeyValuePair<(Guid Tenant, DateTimeOffset Period), Account> Entry, long Delta)>();
        foreach (var entry in _accounts)
        {
            var delta = entry.Value.TakeUnflushed() - (releaseReservations ? entry.Value.TakeReserved() : 0);
            if (delta != 0)
            {
                writes.Add((entry, delta));
            }
            else if (entry.Key.Period < current && entry.Value.Idle)
            {
                _accounts.TryRemove(entry);
            }
        }

        if (writes.Count == 0)
        {
            return 0;
        }

        var batch = redis.GetDatabase().CreateBatch();
        var chunks = new List<(int Start, int Count, Task<RedisResult> Task)>();
        for (var start = 0; start < writes.Count; start += FlushChunk)
        {
            var count = Math.Min(FlushChunk, writes.Count - start);
            var keys = new RedisKey[count];
            var arguments = new RedisValue[count * 2];
            for (var i = 0; i < count; i++)
            {
                var (entry, delta) = writes[start + i];
                keys[i] = Key(entry.Key.Tenant, entry.Key.Period);
                arguments[2 * i] = delta;
                arguments[(2 * i) + 1] = Ttl(entry.Key.Period.AddMonths(1));
            }

            chunks.Add((start, count, batch.ScriptEvaluateAsync(AddManyScript, keys, arguments)));
        }

        try
        {
            batch.Execute();
        }
        catch (Exception ex)
        {
            // Redis is down and fails fast (BacklogPolicy.FailFast): nothing was sent; every count waits for the next flush.
            foreach (var (entry, delta) in writes)
            {
                KeepForNextFlush(entry.Value, delta);
            }

            FlushFailed(ex);
            return 0;
        }

        var written = 0;
        foreach (var (start, count, task) in chunks)
        {
            RedisResult[] totals;
            try
            {
                totals = (RedisResult[])(await task.WaitAsync(cancellationToken))!;
            }
            catch (Exception ex)
            {
                for (var i = start; i < start + count; i++)
                {
                    KeepForNextFlush(writes[i].Entry.Value, writes[i].Delta);
                }

                FlushFailed(ex);
                continue;
            }

            for (var i = 0; i < count; i++)
            {
                var (entry, delta) = writes[start + i];
                try
                {
                    if ((long)totals[i] < 0)
                    {
                        // The counter is gone (Redis lost it): seed it from the last roll-up, then add.
                        await SeedAsync(entry.Key.Tenant, entry.Key.Period, cancellationToken);
                        await redis.GetDatabase().ScriptEvaluateAsync(AddScript, [Key(entry.Key.Tenant, entry.Key.Period)], [delta, Ttl(entry.Key.Period.AddMonths(1))]);
                    }

                    written++;
                }
                catch (Exception ex)
                {
                    // Any failure keeps the count: seeding reads PostgreSQL, which during an outage fails as whatever
                    // Entity Framework wraps it in (an InvalidOperationException from its execution strategy, not a
                    // DbException) — letting that escape stopped the whole api (BackgroundServiceExceptionBehavior).
                    KeepForNextFlush(entry.Value, delta);
                    FlushFailed(ex);
                }
            }
        }

        if (written > 0)
        {
            Volatile.Write(ref _flushFailing, 0);
        }

        return written;
    }

    /// <summary>A count that was not written waits for the next flush; reservations not given back simply lapse with the month.</summary>
    private static void KeepForNextFlush(Account account, long delta)
    {
        if (delta > 0)
        {
            account.AddUnflushed(delta);
        }
    }

    private int _flushFailing;

    /// <summary>One warning per Redis outage (the first failed flush), not one per second.</summary>
    private void FlushFailed(Exception exception)
    {
        if (Interlocked.Exchange(ref _flushFailing, 1) == 0)
        {
            LogFlushFailed(logger, exception.GetType().Name);
        }
    }

    /// <summary>Creates a missing counter with the month's last rolled-up count (never lowers one that exists).</summary>
    private async Task SeedAsync(Guid tenantId, DateTimeOffset periodStart, CancellationToken cancellationToken)
    {
        var operations = await baseline.OperationsAsync(tenantId, DateOnly.FromDateTime(periodStart.UtcDateTime), cancellationToken);
        if (await redis.GetDatabase().StringSetAsync(Key(tenantId, periodStart), operations, TimeSpan.FromSeconds(Ttl(periodStart.AddMonths(1))), When.NotExists) && operations > 0)
        {
            LogSeeded(logger, tenantId, operations);
        }
    }

    private long Ttl(DateTimeOffset periodEnd) => (long)(periodEnd - time.GetUtcNow()).TotalSeconds + (35L * 24 * 3600);

    internal static RedisKey Key(Guid tenantId, DateTimeOffset periodStart) =>
        "mislata:usage:ops:" + tenantId.ToString("N") + ":" + periodStart.ToString("yyyyMM", CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = 5403, Level = LogLevel.Information, Message = "The operations counter of tenant {TenantId} was missing from Redis; seeded with {Operations} from the last roll-up")]
    private static partial void LogSeeded(ILogger logger, Guid tenantId, long operations);

    [LoggerMessage(EventId = 5402, Level = LogLevel.Warning, Message = "Operation counts not written to Redis ({ErrorType}); kept for the next flush")]
    private static partial void LogFlushFailed(ILogger logger, string errorType);

    /// <summary>One tenant's month in this process: operations reserved and not spent, and counts not yet in Redis.</summary>
    private sealed class Account
    {
        private readonly Lock _lock = new();
        private long _reserved;
        private long _lastTotal;
        private long _unflushed;

        public long Reserved
        {
            get { lock (_lock) { return _reserved; } }
        }

        public long Unflushed => Interlocked.Read(ref _unflushed);

        public bool Idle => Unflushed == 0 && Reserved == 0;

        public long AddUnflushed(long count) => Interlocked.Add(ref _unflushed, count);

        public long TakeUnflushed() => Interlocked.Exchange(ref _unflushed, 0);

        public long TakeReserved()
        {
            lock (_lock)
            {
                var reserved = _reserved;
                _reserved = 0;
                return reserved;
            }
        }

        public void AddReserved(long granted, long total)
        {
            lock (_lock)
            {
                _reserved += granted;
                _lastTotal = Math.Max(_lastTotal, total);
            }
        }

        /// <summary>Spends <paramref name="count"/> reserved operations; <paramref name="used"/>: the month's count as last seen, less what is still reserved.</summary>
        public bool TrySpend(int count, out long used)
        {
            lock (_lock)
            {
                used = _lastTotal - _reserved + count;
                if (_reserved < count)
                {
                    return false;
                }

                _reserved -= count;
                return true;
            }
        }
    }
}

/// <summary>Writes <see cref="RedisUsageMeter"/>'s in-process counts every second, and gives back unspent reservations at shutdown.</summary>
public sealed class UsageMeterFlusher(RedisUsageMeter meter, TimeProvider time, ILogger<UsageMeterFlusher> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly Health.BackgroundRounds _rounds = new(logger, nameof(UsageMeterFlusher));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await _rounds.RunAsync(ct => meter.FlushAsync(releaseReservations: false, ct), stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await _rounds.RunAsync(ct => meter.FlushAsync(releaseReservations: true, ct), cancellationToken);
    }
}

/// <summary>Active (not revoked) API keys of a tenant, for the <c>maxApiKeys</c> quota.</summary>
public sealed class ApiKeyCounter(MislataDbContext db) : ITenantResourceCounter
{
    public string Resource => "apiKeys";

    public async Task<long> CountAsync(Guid tenantId, CancellationToken cancellationToken) =>
        await db.Set<ApiKey>().LongCountAsync(k => k.TenantId == tenantId && k.RevokedAt == null, cancellationToken);
}

/// <summary>A tenant's users (identity schema), for the plan's <c>maxUsers</c> and <c>/billing/usage</c>.</summary>
public sealed class IdentityUserCounter(Identity.IdentityStoreDbContext db) : ITenantResourceCounter
{
    public string Resource => "users";

    public async Task<long> CountAsync(Guid tenantId, CancellationToken cancellationToken) =>
        await db.Users.LongCountAsync(u => u.TenantId == tenantId, cancellationToken);
}
