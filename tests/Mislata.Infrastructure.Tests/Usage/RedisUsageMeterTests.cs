using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Infrastructure.Usage;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests.Usage;

/// <summary>The monthly operations meter against a real Redis: exact small limits, leases for large ones, in-process counts for unlimited plans.</summary>
public sealed class RedisUsageMeterTests : RealRedisTest
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 14, 12, 0, 0, TimeSpan.Zero));
    private readonly Guid _tenant = Guid.NewGuid();

    private readonly RolledUp _rolledUp = new();

    private RedisUsageMeter NewReplica() => new(Connection, _rolledUp, _time, NullLogger<RedisUsageMeter>.Instance);

    private async Task<long> StoredAsync(string month = "202603")
    {
        var value = await Connection.GetDatabase().StringGetAsync($"mislata:usage:ops:{_tenant:N}:{month}");
        return value.HasValue ? (long)value : 0;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1_000, 1)]
    [InlineData(1_999, 1)]
    [InlineData(2_000, 2)]
    [InlineData(64_000, 64)]
    [InlineData(10_000_000, 64)]
    public void Lease_size_is_a_thousandth_of_the_limit_between_1_and_64(long limit, int expected) =>
        Assert.Equal(expected, RedisUsageMeter.LeaseSize(limit));

    [Fact]
    public async Task A_small_limit_is_decided_by_Redis_for_every_operation_across_replicas()
    {
        var (a, b) = (NewReplica(), NewReplica());
        for (var i = 0; i < 5; i++)
        {
            var consumption = await (i % 2 == 0 ? a : b).TryConsumeOperationsAsync(_tenant, 5, 1, CancellationToken.None);
            Assert.True(consumption.Allowed, $"operation {i + 1} of 5");
            Assert.Equal(i + 1, await StoredAsync());
        }

        var refused = await b.TryConsumeOperationsAsync(_tenant, 5, 1, CancellationToken.None);
        Assert.False(refused.Allowed);
        Assert.Equal(5, refused.Used);
        Assert.Equal(new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero), refused.PeriodEnd);
        Assert.False((await a.TryConsumeOperationsAsync(_tenant, 5, 1, CancellationToken.None)).Allowed);
        Assert.Equal(5, await StoredAsync());
    }

    [Fact]
    public async Task A_batch_that_would_pass_the_limit_is_refused_whole()
    {
        var meter = NewReplica();
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, 10, 7, CancellationToken.None)).Allowed);
        Assert.False((await meter.TryConsumeOperationsAsync(_tenant, 10, 4, CancellationToken.None)).Allowed);
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, 10, 3, CancellationToken.None)).Allowed);
        Assert.Equal(10, await StoredAsync());
    }

    [Fact]
    public async Task A_large_limit_reserves_leases_and_spends_them_from_memory()
    {
        var meter = NewReplica();
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, 100_000, 1, CancellationToken.None)).Allowed);
        Assert.Equal(64, await StoredAsync());
        for (var i = 1; i < 64; i++)
        {
            Assert.True((await meter.TryConsumeOperationsAsync(_tenant, 100_000, 1, CancellationToken.None)).Allowed);
        }

        Assert.Equal(64, await StoredAsync());
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, 100_000, 1, CancellationToken.None)).Allowed);
        Assert.Equal(128, await StoredAsync());

        // At shutdown the 63 reserved and unspent operations are given back.
        await meter.FlushAsync(releaseReservations: true, CancellationToken.None);
        Assert.Equal(65, await StoredAsync());
    }

    [Fact]
    public async Task Concurrent_replicas_never_pass_the_limit_and_lose_at_most_a_lease_each()
    {
        const long limit = 4_000; // leases of 4
        var replicas = new[] { NewReplica(), NewReplica(), NewReplica() };
        var allowed = 0;
        await Parallel.ForAsync(0, 6_000, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            if ((await replicas[i % 3].TryConsumeOperationsAsync(_tenant, limit, 1, ct)).Allowed)
            {
                Interlocked.Increment(ref allowed);
            }
        });

        Assert.Equal(limit, await StoredAsync());
        Assert.InRange(allowed, limit - (3 * (RedisUsageMeter.LeaseSize(limit) - 1)), limit);
    }

    [Fact]
    public async Task An_unlimited_plan_is_counted_in_process_and_written_by_the_flush()
    {
        var (a, b) = (NewReplica(), NewReplica());
        for (var i = 0; i < 10; i++)
        {
            var consumption = await a.TryConsumeOperationsAsync(_tenant, null, 1, CancellationToken.None);
            Assert.True(consumption.Allowed);
            Assert.Null(consumption.Limit);
        }

        Assert.True((await b.TryConsumeOperationsAsync(_tenant, null, 3, CancellationToken.None)).Allowed);
        Assert.Equal(0, await StoredAsync());
        Assert.Equal(10, await a.OperationsThisPeriodAsync(_tenant, CancellationToken.None));

        Assert.Equal(1, await a.FlushAsync(releaseReservations: false, CancellationToken.None));
        Assert.Equal(10, await StoredAsync());
        Assert.Equal(1, await b.FlushAsync(releaseReservations: false, CancellationToken.None));
        Assert.Equal(13, await StoredAsync());
        Assert.Equal(13, await a.OperationsThisPeriodAsync(_tenant, CancellationToken.None));

        // Nothing counted since: nothing written.
        Assert.Equal(0, await a.FlushAsync(releaseReservations: false, CancellationToken.None));
        Assert.Equal(13, await StoredAsync());
    }

    [Fact]
    public async Task Counts_stay_in_their_month_across_the_change_of_month()
    {
        var meter = NewReplica();
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, null, 4, CancellationToken.None)).Allowed);
        _time.SetUtcNow(new DateTimeOffset(2026, 4, 1, 0, 0, 1, TimeSpan.Zero));
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, null, 2, CancellationToken.None)).Allowed);

        Assert.Equal(2, await meter.FlushAsync(releaseReservations: false, CancellationToken.None));
        Assert.Equal(4, await StoredAsync("202603"));
        Assert.Equal(2, await StoredAsync("202604"));
        Assert.Equal(2, await meter.OperationsThisPeriodAsync(_tenant, CancellationToken.None));
        var ttl = await Connection.GetDatabase().KeyTimeToLiveAsync($"mislata:usage:ops:{_tenant:N}:202604");
        Assert.NotNull(ttl);
    }

    [Fact]
    public async Task A_failed_flush_keeps_its_count_for_the_next_one()
    {
        var meter = NewReplica();
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, null, 5, CancellationToken.None)).Allowed);
        await Redis.StopAsync();
        try
        {
            Assert.Equal(0, await meter.FlushAsync(releaseReservations: false, CancellationToken.None));
            Assert.Equal(0, await meter.FlushAsync(releaseReservations: false, CancellationToken.None));

            // A limited plan needs Redis: the failure reaches the caller (the api lets the request through and logs it).
            await Assert.ThrowsAnyAsync<RedisException>(() => meter.TryConsumeOperationsAsync(_tenant, 10, 1, CancellationToken.None));
        }
        finally
        {
            await Redis.StartAsync();
        }

        var written = 0;
        for (var attempt = 0; attempt < 100 && written == 0; attempt++)
        {
            written = await meter.FlushAsync(releaseReservations: false, CancellationToken.None);
            if (written == 0)
            {
                await Task.Delay(100);
            }
        }

        Assert.Equal(1, written);
        Assert.Equal(5, await StoredAsync());
    }

    [Fact]
    public async Task A_counter_Redis_lost_starts_again_from_the_last_roll_up_not_from_zero()
    {
        var meter = NewReplica();
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, 1_000, 1, CancellationToken.None)).Allowed);
        _rolledUp.Set(_tenant, new DateOnly(2026, 3, 1), 995);
        await Connection.GetDatabase().KeyDeleteAsync($"mislata:usage:ops:{_tenant:N}:202603"); // Redis restarted empty

        var other = NewReplica();
        for (var i = 0; i < 5; i++)
        {
            Assert.True((await other.TryConsumeOperationsAsync(_tenant, 1_000, 1, CancellationToken.None)).Allowed, $"operation {996 + i}");
        }

        var refused = await other.TryConsumeOperationsAsync(_tenant, 1_000, 1, CancellationToken.None);
        Assert.False(refused.Allowed);
        Assert.Equal(1_000, refused.Used);
        Assert.Equal(1_000, await StoredAsync());
        Assert.Equal(1_000, await other.OperationsThisPeriodAsync(_tenant, CancellationToken.None));
        var ttl = await Connection.GetDatabase().KeyTimeToLiveAsync($"mislata:usage:ops:{_tenant:N}:202603");
        Assert.True(ttl > TimeSpan.FromDays(35), $"TTL {ttl}");
        Assert.Equal(2, _rolledUp.Reads); // the month's first operation, and once after the loss (not per operation)
    }

    [Fact]
    public async Task A_counter_that_exists_is_never_reseeded_or_lowered()
    {
        var meter = NewReplica();
        await Connection.GetDatabase().StringSetAsync($"mislata:usage:ops:{_tenant:N}:202603", 3);
        _rolledUp.Set(_tenant, new DateOnly(2026, 3, 1), 900);
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, 10, 1, CancellationToken.None)).Allowed);
        Assert.Equal(4, await StoredAsync());
        Assert.Equal(4, await meter.OperationsThisPeriodAsync(_tenant, CancellationToken.None));
        Assert.Equal(0, _rolledUp.Reads);
    }

    [Fact]
    public async Task Usage_read_and_unlimited_counts_flushed_after_Redis_lost_the_counter_add_to_the_roll_up()
    {
        _rolledUp.Set(_tenant, new DateOnly(2026, 3, 1), 700);
        Assert.Equal(700, await NewReplica().OperationsThisPeriodAsync(_tenant, CancellationToken.None));
        await Connection.GetDatabase().KeyDeleteAsync($"mislata:usage:ops:{_tenant:N}:202603");

        var meter = NewReplica();
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, null, 5, CancellationToken.None)).Allowed);
        Assert.Equal(1, await meter.FlushAsync(releaseReservations: false, CancellationToken.None));
        Assert.Equal(705, await StoredAsync());
    }

    [Fact]
    public async Task Without_the_roll_up_a_missing_counter_is_not_counted_from_zero_and_nothing_is_written()
    {
        _rolledUp.Failing = true;
        var meter = NewReplica();
        await Assert.ThrowsAnyAsync<TimeoutException>(() => meter.TryConsumeOperationsAsync(_tenant, 1_000, 1, CancellationToken.None));
        Assert.False(await Connection.GetDatabase().KeyExistsAsync($"mislata:usage:ops:{_tenant:N}:202603"));

        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, null, 5, CancellationToken.None)).Allowed);
        Assert.Equal(0, await meter.FlushAsync(releaseReservations: false, CancellationToken.None));
        Assert.False(await Connection.GetDatabase().KeyExistsAsync($"mislata:usage:ops:{_tenant:N}:202603"));

        _rolledUp.Failing = false;
        _rolledUp.Set(_tenant, new DateOnly(2026, 3, 1), 40);
        Assert.Equal(1, await meter.FlushAsync(releaseReservations: false, CancellationToken.None));
        Assert.Equal(45, await StoredAsync());
    }

    public static TheoryData<string> RollUpFailures => ["timeout", "entity-framework", "npgsql", "circuit"];

    /// <summary>
    /// The flush reads the roll-up when Redis has no counter (a new tenant, or Redis lost it). During a PostgreSQL
    /// outage that read fails as whatever the layers below throw — Entity Framework's execution strategy wraps the
    /// driver's error in an InvalidOperationException — and one such exception escaping the flusher stopped the api.
    /// </summary>
    [Theory]
    [MemberData(nameof(RollUpFailures))]
    public async Task A_flush_that_cannot_read_the_roll_up_keeps_its_count_whatever_the_failure_and_the_flusher_keeps_running(string failure)
    {
        _rolledUp.Failure = failure switch
        {
            "timeout" => new TimeoutException("roll-up unavailable"),
            "entity-framework" => new InvalidOperationException("An exception has been raised that is likely due to a transient failure.", new Npgsql.NpgsqlException("connection refused")),
            "npgsql" => new Npgsql.NpgsqlException("Exception while connecting", new System.Net.Sockets.SocketException(111)),
            _ => new Npgsql.NpgsqlException("circuit open", new ServiceDefaults.Problems.DependencyUnavailableException("postgres")),
        };
        var meter = NewReplica();
        Assert.True((await meter.TryConsumeOperationsAsync(_tenant, null, 5, CancellationToken.None)).Allowed);

        using var flusher = new UsageMeterFlusher(meter, _time, NullLogger<UsageMeterFlusher>.Instance);
        await flusher.StartAsync(CancellationToken.None);
        // Three failed rounds (the clock moves on until the flusher's timer, created when it starts, has ticked).
        await TickUntilAsync(() => Task.FromResult(_rolledUp.Reads >= 3));

        Assert.False(flusher.ExecuteTask!.IsCompleted, $"the flusher ended: {flusher.ExecuteTask.Exception?.InnerException?.GetType().Name}");
        Assert.False(await Connection.GetDatabase().KeyExistsAsync($"mislata:usage:ops:{_tenant:N}:202603"));

        // PostgreSQL is back: the next round writes the operations counted during the outage, on top of the roll-up.
        _rolledUp.Failure = null;
        _rolledUp.Set(_tenant, new DateOnly(2026, 3, 1), 40);
        await TickUntilAsync(async () => await StoredAsync() == 45);
        await flusher.StopAsync(CancellationToken.None);
        Assert.Equal(45, await StoredAsync());
    }

    private async Task TickUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the flusher");
            _time.Advance(UsageMeterFlusher.Interval);
            await Task.Delay(20);
        }
    }

    /// <summary>The worker's roll-up as the meter sees it (PostgresUsageBaseline is tested against PostgreSQL).</summary>
    private sealed class RolledUp : IUsageBaseline
    {
        private readonly Dictionary<(Guid, DateOnly), long> _values = [];

        public bool Failing
        {
            get => Failure is not null;
            set => Failure = value ? new TimeoutException("roll-up unavailable") : null;
        }

        public Exception? Failure { get; set; }

        public int Reads { get; private set; }

        public void Set(Guid tenant, DateOnly period, long operations) => _values[(tenant, period)] = operations;

        public Task<long> OperationsAsync(Guid tenantId, DateOnly periodStart, CancellationToken cancellationToken)
        {
            Reads++;
            return Failure is { } failure
                ? Task.FromException<long>(failure)
                : Task.FromResult(_values.GetValueOrDefault((tenantId, periodStart)));
        }
    }
}
