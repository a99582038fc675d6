using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Mislata.Infrastructure.Health;
using Mislata.ServiceDefaults.Problems;
using Mislata.Testing;
using Npgsql;

namespace Mislata.Infrastructure.Tests.Dependencies;

/// <summary>
/// Readiness against a real PostgreSQL: Healthy when it answers and nothing is held open; Degraded (still ready) while
/// writes are refused or the replica's circuit is still open — requests that need those answer 503 meanwhile, which a
/// plain "it answers SELECT 1" hid (a test waited for readiness and then met a 503 write).
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
    [InlineData(null, "Healthy")]
    [InlineData(DependencyOutages.PostgresWrites, "Degraded")]
    [InlineData(DependencyOutages.Postgres, "Degraded")]
    [InlineData(DependencyOutages.Network, "Degraded")]
    [InlineData(DependencyOutages.Redis, "Healthy")]
    public async Task The_postgres_check_is_degraded_while_this_replica_still_refuses_requests_that_postgres_would_answer(string? down, string expected)
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
            outages.ReportUp(down);
            Assert.Equal(HealthStatus.Healthy, (await new PostgresHealthCheck(_dataSource!, outages).CheckHealthAsync(new HealthCheckContext())).Status);
        }
    }
}
