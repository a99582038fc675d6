using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Mislata.ServiceDefaults.Problems;
using Npgsql;

namespace Mislata.Infrastructure.Health;

/// <summary>
/// Ready when PostgreSQL answers; a PostgreSQL outage this replica still holds open is closed by a check that reaches the
/// server. While writes are refused (the server is read-only or its disk full, or a write failed
/// in the last <see cref="DependencyWatch.QuietPeriod"/>) the answer is <c>Degraded</c> — still 200, because reads go on and a load
/// balancer must not take every replica out for it — with a description saying that writes answer 503 for now.
/// </summary>
[SuppressMessage("Performance", "CA1812", Justification = "Instantiated by the health check service.")]
internal sealed class PostgresHealthCheck(NpgsqlDataSource dataSource, DependencyOutages outages) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            command.CommandTimeout = 3;
            await command.ExecuteScalarAsync(cancellationToken);
            // The server answered: an outage this replica still holds open ends now, as DependencyWatch's probe would end
            // it within a second. Ready then means the next request is not refused by the circuit (a client that waited
            // for readiness after a PostgreSQL restart was answered 503 in that second).
            if (outages.IsDown(DependencyOutages.Postgres) || outages.IsDown(DependencyOutages.Network))
            {
                outages.ReportUp(DependencyOutages.Postgres);
                outages.ReportUp(DependencyOutages.Network);
            }

            return outages.IsDown(DependencyOutages.PostgresWrites)
                ? HealthCheckResult.Degraded("PostgreSQL answers reads but refuses writes; writes answer 503 until it takes them again")
                : HealthCheckResult.Healthy("PostgreSQL answers");
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException or OperationCanceledException)
        {
            // Broken pooled connections would otherwise fail the next checks after PostgreSQL comes back.
            dataSource.Clear();
            return HealthCheckResult.Unhealthy("PostgreSQL does not answer");
        }
    }
}
