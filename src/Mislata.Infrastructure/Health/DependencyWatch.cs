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
/// <para>
/// A restart that no request of this replica saw (PostgreSQL stopped and started between two requests) leaves every
/// idle pooled connection dead: the server ended their sessions (57P01) and the pool does not know it, so the next
/// request would take one and be answered 503. A canary — one connection held open, waiting on the server
/// (<see cref="NpgsqlConnection.WaitAsync(CancellationToken)"/>) — is told at once when the server ends its sessions;
/// the pool is then cleared, before PostgreSQL is back, and the canary reconnects (every <see cref="CanaryRetryInterval"/>),
/// which also ends an outage seen by requests as the probe does.
/// </para>
/// </summary>
internal sealed partial class DependencyWatch(
    DependencyOutages outages, IConnectionMultiplexer redis, NpgsqlDataSource dataSource, PostgresCircuitInterceptor circuit, TimeProvider time, ILogger<DependencyWatch> logger)
    : BackgroundService
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

    /// <summary>How often the canary tries to reconnect while PostgreSQL does not answer.</summary>
    public static readonly TimeSpan CanaryRetryInterval = TimeSpan.FromMilliseconds(250);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var canary = WatchPostgresSessionsAsync(stoppingToken);
        try
        {
            await ProbeAsync(stoppingToken);
        }
        finally
        {
            await canary;
        }
    }

    /// <summary>The canary: holds one connection until the server ends it, then clears the pool and reconnects.</summary>
    private async Task WatchPostgresSessionsAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var held = false;
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                held = true;
                outages.ReportUp(DependencyOutages.Postgres);
                outages.ReportUp(DependencyOutages.Network);
                // Returns only when the server sends something or the connection breaks: this connection listens to nothing.
                while (true)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // Whatever the failure, the watch goes on (an exception out of a hosted service would stop the service);
                // one the driver is not known to throw is logged.
                if (ex is not (DbException or TimeoutException or InvalidOperationException or System.Net.Sockets.SocketException or IOException))
                {
                    LogCanaryFailed(logger, ex.GetType().FullName ?? "exception", ex);
                }

                // The server ended the canary's session (shutdown, crash, restart, terminated): every idle pooled
                // connection made before is as dead as the canary's. A canary that could not connect (PostgreSQL down,
                // or the pool busy) clears nothing: no connection was made meanwhile, or the pool's are alive.
                if (held)
                {
                    dataSource.Clear();
                }
            }

            try
            {
                await Task.Delay(CanaryRetryInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ProbeAsync(CancellationToken stoppingToken)
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
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Any failure means "not yet": an exception out of the probe would end the watch, and with it every outage's end.
            return false;
        }
    }

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "The PostgreSQL canary connection failed with {ExceptionType}; the pool is cleared and the canary reconnects")]
    private static partial void LogCanaryFailed(ILogger logger, string exceptionType, Exception exception);

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
/// an <see cref="NpgsqlException"/> around a <see cref="DependencyUnavailableException"/> — 503 without waiting on a connect timeout, which matters when
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
            // An NpgsqlException, as a refused connection is: the background services' handlers of a database failure
            // (usage flush, revocation reload, health) take it as one instead of letting it stop the service; the inner
            // exception says it is the circuit (DependencyOf, no new outage).
            throw new NpgsqlException("PostgreSQL is unavailable (circuit open)", new DependencyUnavailableException(DependencyOutages.Postgres));
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
