using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Mislata.Infrastructure.Health;

[SuppressMessage("Performance", "CA1812", Justification = "Instantiated by the health check service.")]
internal sealed class PostgresHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            command.CommandTimeout = 3;
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy("PostgreSQL answers");
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException or OperationCanceledException)
        {
            // Broken pooled connections would otherwise fail the next checks after PostgreSQL comes back.
            dataSource.Clear();
            return HealthCheckResult.Unhealthy("PostgreSQL does not answer");
        }
    }
}
