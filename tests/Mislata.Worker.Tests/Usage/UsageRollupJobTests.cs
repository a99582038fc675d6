using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.Tenants;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Usage;
using Mislata.Worker.Features.Usage;
using StackExchange.Redis;

namespace Mislata.Worker.Tests.Usage;

/// <summary>The roll-up of Redis usage counters into PostgreSQL, as the worker's database role and Redis user.</summary>
public sealed class UsageRollupJobTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new(DatabaseGrants.WorkerService);
    private RedisInstance? _redis;

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        _redis = await RedisInstance.LaunchAsync();
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    [Fact]
    public async Task Counters_of_this_and_last_month_land_in_postgres_only_moving_up()
    {
        var (a, b, idle) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        foreach (var tenant in new[] { a, b, idle })
        {
            await _db.ExecuteAsync($"INSERT INTO mislata.tenants (id, name, plan_id, status, created_at, updated_at) VALUES ('{tenant}', 't-{tenant:N}', '{Plan.CommunityId}', 'Active', now(), now())");
        }

        await using var admin = await ConnectionMultiplexer.ConnectAsync(_redis!.Configuration);
        var redis = admin.GetDatabase();
        await redis.StringSetAsync($"mislata:usage:ops:{a:N}:202611", 40);
        await redis.StringSetAsync($"mislata:usage:ops:{a:N}:202612", 7);
        await redis.StringSetAsync($"mislata:usage:ops:{b:N}:202612", 1200);
        await redis.StringSetAsync($"mislata:usage:ops:{b:N}:202610", 999); // two months back: not this run's business
        await redis.StringSetAsync($"mislata:usage:ops:{Guid.NewGuid():N}:202612", 5); // no such tenant

        await using var worker = await ConnectionMultiplexer.ConnectAsync(_redis.ConfigurationFor("worker"));
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero));
        await using var services = new ServiceCollection()
            .AddScoped(_ => _db.Contexts.CreateDbContext())
            .AddSingleton<IConnectionMultiplexer>(worker)
            .AddSingleton<TimeProvider>(time)
            .AddScoped<UsageRollup>()
            .BuildServiceProvider();
        var job = new UsageRollupJob(services.GetRequiredService<IServiceScopeFactory>(), NullLogger<UsageRollupJob>.Instance);

        Assert.Equal(3, await job.RunAsync(CancellationToken.None));
        Assert.Equal(40, await Stored(a, "2026-11-01"));
        Assert.Equal(7, await Stored(a, "2026-12-01"));
        Assert.Equal(1200, await Stored(b, "2026-12-01"));
        Assert.Equal(3L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.usage_periods"));

        // Redis lost its counters (restart without persistence) and counts again from zero: the stored figure stays.
        await redis.StringSetAsync($"mislata:usage:ops:{b:N}:202612", 3);
        await redis.StringSetAsync($"mislata:usage:ops:{a:N}:202612", 9);
        await job.RunAsync(CancellationToken.None);
        Assert.Equal(1200, await Stored(b, "2026-12-01"));
        Assert.Equal(9, await Stored(a, "2026-12-01"));

        // Deleting a tenant takes its usage rows with it.
        await _db.ExecuteAsync($"DELETE FROM mislata.tenants WHERE id = '{a}'");
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.usage_periods"));
    }

    private async Task<long> Stored(Guid tenant, string period) =>
        await _db.ScalarAsync<long>($"SELECT operations FROM mislata.usage_periods WHERE tenant_id = '{tenant}' AND period_start = '{period}'");
}
