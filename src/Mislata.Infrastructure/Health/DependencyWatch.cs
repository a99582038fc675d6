using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Mislata.ServiceDefaults.Problems;
using Npgsql;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Health;

/// <summary>
/// Ends the outages <see cref="DependencyOutages"/> records: Redis's from the multiplexer's own connection events (it
/// reconnects by itself every second), PostgreSQL's by a probe (<c>SELECT 1</c>) every second while it is down. When
/// PostgreSQL goes down the connection pool is cleared, so that no request meets a dead pooled connection once it is back.
/// </summary>
internal sealed class DependencyWatch(DependencyOutages outages, IConnectionMultiplexer redis, NpgsqlDataSource dataSource, PostgresCircuitInterceptor circuit, TimeProvider time) : BackgroundService
{
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(1);

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionFailed += OnRedisFailed;
        redis.ConnectionRestored += OnRedisRestored;
        // Only now is there a probe to close the circuit again: before, the start-up (migrations) waits for PostgreSQL
        // with retries of its own.
        circuit.Arm();
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionFailed -= OnRedisFailed;
        redis.ConnectionRestored -= OnRedisRestored;
        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var postgresWasDown = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(ProbeInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (outages.IsDown(DependencyOutages.Redis) && redis.IsConnected)
            {
                outages.ReportUp(DependencyOutages.Redis);
            }

            var postgresDown = outages.IsDown(DependencyOutages.Postgres) || outages.IsDown(DependencyOutages.Network);
            if (postgresDown && !postgresWasDown)
            {
                // Connections made before the outage are dead: dropped now rather than met by the next requests.
                dataSource.Clear();
            }

            postgresWasDown = postgresDown;
            if (postgresDown && await PostgresAnswersAsync("SELECT true", stoppingToken))
            {
                outages.ReportUp(DependencyOutages.Postgres);
                outages.ReportUp(DependencyOutages.Network);
                postgresWasDown = false;
            }

            // Writes: back when the server is writable again and no write has failed for a while (a full disk cannot be
            // probed without writing).
            if (outages.IsDown(DependencyOutages.PostgresWrites) && outages.SinceLastFailure(DependencyOutages.PostgresWrites) >= QuietPeriod &&
                await PostgresAnswersAsync("SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'", stoppingToken))
            {
                outages.ReportUp(DependencyOutages.PostgresWrites);
            }

            if (outages.IsDown(DependencyOutages.PostgresBusy) && outages.SinceLastFailure(DependencyOutages.PostgresBusy) >= QuietPeriod)
            {
                outages.ReportUp(DependencyOutages.PostgresBusy);
            }
        }
    }

    /// <summary>How long without a new failure before an outage that no probe can end (writes, contention) is over.</summary>
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(5);

    private async Task<bool> PostgresAnswersAsync(string probe, CancellationToken cancellationToken)
    {
        try
        {
            await using var command = dataSource.CreateCommand(probe);
            command.CommandTimeout = 2;
            return await command.ExecuteScalarAsync(cancellationToken) is true;
        }
        catch (Exception ex) when (ex is DbException or TimeoutException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private void OnRedisFailed(object? sender, ConnectionFailedEventArgs e) => outages.ReportDown(DependencyOutages.Redis, e.FailureType.ToString());

    private void OnRedisRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (redis.IsConnected)
        {
            outages.ReportUp(DependencyOutages.Redis);
        }
    }
}

/// <summary>
/// The circuit breaker of PostgreSQL for Entity Framework: while an outage is open (a request already found PostgreSQL
/// down and <see cref="DependencyWatch"/>'s probe has not yet seen it answer), opening a connection fails at once with
/// <see cref="DependencyUnavailableException"/> — 503 without waiting on a connect timeout, which matters when
/// PostgreSQL hangs rather than refuses. The probe closes the circuit within a second of PostgreSQL answering again;
/// a failure to open a connection opens it.
/// </summary>
internal sealed class PostgresCircuitInterceptor(DependencyOutages outages) : DbConnectionInterceptor
{
    private volatile bool _armed;

    public void Arm() => _armed = true;

    public override InterceptionResult ConnectionOpening(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        ThrowWhenOpen();
        return result;
    }

    public override ValueTask<InterceptionResult> ConnectionOpeningAsync(DbConnection connection, ConnectionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
    {
        ThrowWhenOpen();
        return ValueTask.FromResult(result);
    }

    public override void ConnectionFailed(DbConnection connection, ConnectionErrorEventData eventData) => Record(eventData.Exception);

    public override Task ConnectionFailedAsync(DbConnection connection, ConnectionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Record(eventData.Exception);
        return Task.CompletedTask;
    }

    private void ThrowWhenOpen()
    {
        if (_armed && outages.IsDown(DependencyOutages.Postgres))
        {
            throw new DependencyUnavailableException(DependencyOutages.Postgres);
        }
    }

    private void Record(Exception exception)
    {
        if (DependencyOutages.DependencyOf(exception) is DependencyOutages.Postgres)
        {
            outages.ReportDown(DependencyOutages.Postgres, exception.GetType().Name);
        }
    }
}
