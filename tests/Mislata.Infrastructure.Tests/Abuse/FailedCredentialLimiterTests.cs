using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Mislata.Infrastructure.Abuse;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests.Abuse;

/// <summary>The failed-credential limiter against a real Redis: shared counts across replicas, per-source decisions, fail-open.</summary>
public sealed class FailedCredentialLimiterTests : RealRedisTest
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 10, TimeSpan.Zero));

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private Mislata.ServiceDefaults.Problems.DependencyOutages Outages { get; }

    public FailedCredentialLimiterTests() =>
        Outages = new(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), NullLogger<Mislata.ServiceDefaults.Problems.DependencyOutages>.Instance, _time);

    protected override async Task DisposeMoreAsync() => await _services.DisposeAsync();

    private FailedCredentialLimiter NewReplica(IConnectionMultiplexer connection, int perMinute = 5) =>
        new(connection, Options.Create(new FailedCredentialOptions { PerMinute = perMinute }), _time, Outages);

    [Fact]
    public async Task A_source_is_refused_once_its_failures_on_all_replicas_reach_the_limit_and_another_source_is_not()
    {
        var (a, b) = (NewReplica(Connection), NewReplica(Connection));
        for (var i = 0; i < 4; i++)
        {
            await (i % 2 == 0 ? a : b).RecordFailureAsync("198.51.100.7");
        }

        Assert.False(a.IsOverLimit("198.51.100.7", out _));
        Assert.False(b.IsOverLimit("198.51.100.7", out _));

        // The fifth failure, on replica a: the count in Redis reaches the limit.
        await a.RecordFailureAsync("198.51.100.7");
        Assert.True(a.IsOverLimit("198.51.100.7", out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(50), retryAfter);

        // Replica b learns it from the count of its own next failure.
        Assert.False(b.IsOverLimit("198.51.100.7", out _));
        await b.RecordFailureAsync("198.51.100.7");
        Assert.True(b.IsOverLimit("198.51.100.7", out _));

        Assert.False(a.IsOverLimit("198.51.100.8", out _));
        await a.RecordFailureAsync("198.51.100.8");
        Assert.False(a.IsOverLimit("198.51.100.8", out _));
    }

    [Fact]
    public async Task The_refusal_ends_with_the_minute()
    {
        var limiter = NewReplica(Connection, perMinute: 2);
        await limiter.RecordFailureAsync("198.51.100.7");
        await limiter.RecordFailureAsync("198.51.100.7");
        Assert.True(limiter.IsOverLimit("198.51.100.7", out _));

        _time.Advance(TimeSpan.FromSeconds(50));
        Assert.False(limiter.IsOverLimit("198.51.100.7", out _));

        // A new minute, a new count.
        await limiter.RecordFailureAsync("198.51.100.7");
        Assert.False(limiter.IsOverLimit("198.51.100.7", out _));
    }

    [Fact]
    public async Task With_Redis_down_failures_are_not_counted_and_nothing_is_refused()
    {
        var options = ConfigurationOptions.Parse($"127.0.0.1:{Processes.FreePort()}");
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 500;
        options.AsyncTimeout = 500;
        await using var down = await ConnectionMultiplexer.ConnectAsync(options);
        var limiter = NewReplica(down, perMinute: 1);

        Assert.False(Outages.IsDown(Mislata.ServiceDefaults.Problems.DependencyOutages.Redis));
        await limiter.RecordFailureAsync("198.51.100.7");
        await limiter.RecordFailureAsync("198.51.100.7");

        Assert.False(limiter.IsOverLimit("198.51.100.7", out _));

        // Let through, and the outage is known (logged once by DependencyOutages, ended by the dependency watch).
        Assert.True(Outages.IsDown(Mislata.ServiceDefaults.Problems.DependencyOutages.Redis));
    }

    [Theory]
    [InlineData("203.0.113.9", "203.0.113.9")]
    [InlineData("::ffff:203.0.113.9", "203.0.113.9")]
    [InlineData("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64")]
    [InlineData("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64")]
    public void A_source_is_an_IPv4_address_or_an_IPv6_64_network(string address, string source) =>
        Assert.Equal(source, ClientSource.Of(IPAddress.Parse(address)));

    [Theory]
    [InlineData("qapi_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEf", "qapi_AbCdEfGh")]
    [InlineData("qapi_Ab\n\0", "qapi_Ab??")]
    [InlineData("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "bearer")]
    [InlineData("", "none")]
    public void Only_the_public_prefix_of_an_api_key_is_kept_and_any_other_credential_is_bearer(string presented, string prefix) =>
        Assert.Equal(prefix, CredentialPrefix.Of(presented));
}
