using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Mislata.Infrastructure.Health;
using Mislata.ServiceDefaults.Problems;
using Mislata.Testing;
using Npgsql;

namespace Mislata.Infrastructure.Tests.Dependencies;

/// <summary>
/// Readiness against a real PostgreSQL: ready (200) must mean the next request is not refused by this replica's
/// circuit — a test that waited for readiness after a PostgreSQL restart was answered 503 in the second before the probe
/// closed the outage — and writes that are refused show as Degraded (still ready: reads go on).
/// </summary>
public sealed class PostgresHealthCheckTests : IAsyncLifetime
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private PostgresInstance? _postgres;
    private NpgsqlDataSource? _dataSource;

    public async Task InitializeAsync()
    {
        _postgres = await PostgresInstance.SharedOrOwnAsync();
        _dataSource = NpgsqlDataSource.Create(await _postgres.CreateDatabaseAsync("health"));
    }

    public async Task DisposeAsync()
    {
        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        await _services.DisposeAsync();
    }

    [Theory]
    [InlineData(null, "Healthy", false)]
    [InlineData(DependencyOutages.PostgresWrites, "Degraded", true)]
    [InlineData(DependencyOutages.Postgres, "Healthy", false)]
    [InlineData(DependencyOutages.Network, "Healthy", false)]
    [InlineData(DependencyOutages.Redis, "Healthy", true)]
    public async Task Ready_means_the_next_request_is_not_refused_for_postgres_and_writes_refused_say_degraded(string? down, string expected, bool stillDown)
    {
        var outages = new DependencyOutages(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), NullLogger<DependencyOutages>.Instance);
        if (down is not null)
        {
            outages.ReportDown(down, "test");
        }

        var result = await new PostgresHealthCheck(_dataSource!, outages).CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(expected, result.Status.ToString());
        if (down is not null)
        {
            // A PostgreSQL outage the check reached past is closed (requests go through again at once); a write outage is
            // not (SELECT 1 proves nothing about writes) and Redis is not this check's business.
            Assert.Equal(stillDown, outages.IsDown(down));
            outages.ReportUp(down);
            Assert.Equal(HealthStatus.Healthy, (await new PostgresHealthCheck(_dataSource!, outages).CheckHealthAsync(new HealthCheckContext())).Status);
        }
    }

    [Fact]
    public async Task A_check_that_does_not_reach_postgres_is_unhealthy_and_leaves_the_outage_open()
    {
        var outages = new DependencyOutages(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), NullLogger<DependencyOutages>.Instance);
        outages.ReportDown(DependencyOutages.Postgres, "test");
        await using var nowhere = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=nobody;Timeout=2");

        var result = await new PostgresHealthCheck(nowhere, outages).CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.True(outages.IsDown(DependencyOutages.Postgres));
    }
}
