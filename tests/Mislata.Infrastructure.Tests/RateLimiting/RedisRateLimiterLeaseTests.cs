using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Infrastructure.RateLimiting;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests.RateLimiting;

/// <summary>The sliding-window limiter against a real Redis: exact below 2,000 a minute, leases above, never looser than the limit.</summary>
public sealed class RedisRateLimiterLeaseTests : RealRedisTest
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 14, 12, 0, 0, TimeSpan.Zero));
    private readonly string _credential = "cred:" + Guid.NewGuid().ToString("N");
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    protected override async Task DisposeMoreAsync() => await _services.DisposeAsync();

    private RedisRateLimiter NewReplica() => new(Connection, _services.GetRequiredService<IMeterFactory>(), _time,
        new Mislata.ServiceDefaults.Problems.DependencyOutages(_services.GetRequiredService<IMeterFactory>(), NullLogger<Mislata.ServiceDefaults.Problems.DependencyOutages>.Instance, _time));

    private Task<long> RecordedAsync(string bucket) => Connection.GetDatabase().SortedSetLengthAsync("mislata:rl:" + bucket);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1_999, 1)]
    [InlineData(2_000, 2)]
    [InlineData(6_000, 6)]
    [InlineData(64_000, 64)]
    [InlineData(int.MaxValue, 64)]
    public void Lease_size_is_a_thousandth_of_the_tightest_limit_between_1_and_64(int perMinute, int expected) =>
        Assert.Equal(expected, RedisRateLimiter.LeaseSize(perMinute));

    [Fact]
    public async Task Below_2000_a_minute_every_request_is_decided_by_Redis_across_replicas()
    {
        var (a, b) = (NewReplica(), NewReplica());
        RateLimitBucket[] buckets = [new(_credential, 3)];
        for (var i = 0; i < 3; i++)
        {
            var decision = await (i % 2 == 0 ? a : b).AcquireAsync(buckets);
            Assert.True(decision.Allowed);
            Assert.Equal((3, 2 - i), (decision.Limit, decision.Remaining));
            Assert.Equal(i + 1, await RecordedAsync(_credential));
        }

        var refused = await a.AcquireAsync(buckets);
        Assert.False(refused.Allowed);
        Assert.InRange(refused.ResetSeconds, 1, 60);
        Assert.False((await b.AcquireAsync(buckets)).Allowed);
        Assert.Equal(3, await RecordedAsync(_credential));
    }

    [Fact]
    public async Task A_busy_caller_s_leases_double_up_to_64_and_every_answer_counts_down_exactly()
    {
        var limiter = NewReplica();
        RateLimitBucket[] buckets = [new(_credential, 64_000)];
        for (var i = 0; i < 200; i++)
        {
            var decision = await limiter.AcquireAsync(buckets);
            Assert.True(decision.Allowed);
            Assert.Equal((64_000, 64_000 - 1 - i), (decision.Limit, decision.Remaining));
        }

        // Leases of 1, 2, 4, 8, 16, 32, then 64: 255 requests reserved for 200 made, in 9 round trips.
        Assert.Equal(255, await RecordedAsync(_credential));
    }

    [Fact]
    public async Task A_quiet_caller_reserves_one_request_at_a_time()
    {
        var limiter = NewReplica();
        RateLimitBucket[] buckets = [new(_credential, 64_000)];
        for (var i = 0; i < 5; i++)
        {
            Assert.True((await limiter.AcquireAsync(buckets)).Allowed);
            _time.Advance(RedisRateLimiter.LeaseLifetime * 2);
        }

        Assert.Equal(5, await RecordedAsync(_credential));
    }

    /// <summary>Round trips to Redis: each reservation records its requests under one id of its own.</summary>
    private async Task<int> ReservationsAsync(string bucket) =>
        (await Connection.GetDatabase().SortedSetRangeByRankAsync("mislata:rl:" + bucket)).Select(m => m.ToString().Split(':')[0]).Distinct().Count();

    [Fact]
    public async Task A_caller_at_a_few_requests_a_lifetime_takes_leases_of_what_it_spends_not_a_round_trip_every_other_request()
    {
        // Many tenants, each at a few requests a second: with leases back to one whenever one lapsed unspent, such a
        // caller took a round trip for about every other request.
        var limiter = NewReplica();
        RateLimitBucket[] buckets = [new(_credential, 64_000)];
        for (var i = 0; i < 60; i++)
        {
            Assert.True((await limiter.AcquireAsync(buckets)).Allowed);
            _time.Advance(RedisRateLimiter.LeaseLifetime / 6);
        }

        var reservations = await ReservationsAsync(_credential);
        Assert.True(reservations <= 15, $"{reservations} round trips for 60 requests");

        // Whatever went unspent still counts: never fewer recorded than made.
        Assert.True(await RecordedAsync(_credential) >= 60);
    }

    [Fact]
    public async Task A_lease_is_not_spent_after_its_lifetime()
    {
        var limiter = NewReplica();
        RateLimitBucket[] buckets = [new(_credential, 10_000)];
        Assert.True((await limiter.AcquireAsync(buckets)).Allowed);
        Assert.True((await limiter.AcquireAsync(buckets)).Allowed);
        Assert.Equal(3, await RecordedAsync(_credential)); // a lease of 2: one spent, one held
        _time.Advance(RedisRateLimiter.LeaseLifetime);
        Assert.True((await limiter.AcquireAsync(buckets)).Allowed);
        Assert.Equal(4, await RecordedAsync(_credential)); // the held one expired unspent: a new reservation of one
    }

    [Fact]
    public async Task Concurrent_replicas_never_pass_the_tightest_bucket()
    {
        var tenant = "tenant:" + Guid.NewGuid().ToString("N");
        var replicas = new[] { NewReplica(), NewReplica(), NewReplica() };
        RateLimitBucket[] buckets = [new(_credential, 100_000), new(tenant, 4_000)];
        var allowed = 0;
        await Parallel.ForAsync(0, 6_000, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            if ((await replicas[i % 3].AcquireAsync(buckets)).Allowed)
            {
                Interlocked.Increment(ref allowed);
            }
        });

        Assert.Equal(4_000, await RecordedAsync(tenant));
        Assert.Equal(4_000, await RecordedAsync(_credential));
        Assert.InRange(allowed, 4_000 - (3 * (RedisRateLimiter.LeaseSize(4_000) - 1)), 4_000);
    }
}
