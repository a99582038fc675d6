using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Mislata.ServiceDefaults.Problems;
using Npgsql;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests.Dependencies;

/// <summary>Which failures are a dependency outage (503) rather than a bug (500), and an outage logged once, not per request.</summary>
public sealed class DependencyOutagesTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeTimeProvider _time = new();
    private readonly Lines _log = new();

    public void Dispose() => _services.Dispose();

    [Theory]
    [InlineData("25006", DependencyOutages.PostgresWrites)] // read_only_sql_transaction: a standby, default_transaction_read_only
    [InlineData("53100", DependencyOutages.PostgresWrites)] // disk_full
    [InlineData("53300", DependencyOutages.PostgresWrites)] // too_many_connections
    [InlineData("58030", DependencyOutages.PostgresWrites)] // io_error
    [InlineData("57P01", DependencyOutages.Postgres)] // admin_shutdown
    [InlineData("57P02", DependencyOutages.Postgres)] // crash_shutdown
    [InlineData("57P03", DependencyOutages.Postgres)] // cannot_connect_now (starting, recovering)
    [InlineData("08006", DependencyOutages.Postgres)] // connection_failure
    [InlineData("08001", DependencyOutages.Postgres)] // sqlclient_unable_to_establish_sqlconnection
    [InlineData("40001", DependencyOutages.PostgresBusy)] // serialization_failure
    [InlineData("40P01", DependencyOutages.PostgresBusy)] // deadlock_detected
    [InlineData("23505", null)] // unique_violation the code did not expect: a bug
    [InlineData("42P01", null)] // undefined_table: a bug
    [InlineData("22P02", null)] // invalid_text_representation: a bug
    public void A_PostgreSQL_error_is_classified_by_its_SQLSTATE(string sqlState, string? expected)
    {
        var error = new PostgresException("m", "ERROR", "ERROR", sqlState);
        Assert.Equal(expected, DependencyOutages.DependencyOf(error));
        // as Entity Framework wraps it
        Assert.Equal(expected, DependencyOutages.DependencyOf(new InvalidOperationException("wrapped", new Microsoft.EntityFrameworkCore.DbUpdateException("u", error))));
    }

    [Fact]
    public void Connection_failures_and_open_circuits_are_outages_and_other_exceptions_are_bugs()
    {
#pragma warning disable CS0618 // the plain constructors are enough for a classification
        Assert.Equal(DependencyOutages.Postgres, DependencyOutages.DependencyOf(new NpgsqlException("refused", new System.Net.Sockets.SocketException(111))));
        Assert.Equal(DependencyOutages.Redis, DependencyOutages.DependencyOf(new RedisConnectionException(ConnectionFailureType.SocketFailure, "down")));
        Assert.Equal(DependencyOutages.Redis, DependencyOutages.DependencyOf(new RedisTimeoutException("slow", CommandStatus.Sent)));
        Assert.Equal(DependencyOutages.Redis, DependencyOutages.DependencyOf(new AggregateException(new InvalidOperationException(), new RedisConnectionException(ConnectionFailureType.UnableToConnect, "down"))));
        Assert.Equal(DependencyOutages.Postgres, DependencyOutages.DependencyOf(new DependencyUnavailableException(DependencyOutages.Postgres)));
        Assert.Equal(DependencyOutages.Network, DependencyOutages.DependencyOf(new TimeoutException()));
        Assert.Null(DependencyOutages.DependencyOf(new InvalidOperationException("a bug")));
        Assert.Null(DependencyOutages.DependencyOf(new NullReferenceException()));
        Assert.Null(DependencyOutages.DependencyOf(new RedisServerException("ERR wrong number of arguments")));
#pragma warning restore CS0618
    }

    [Fact]
    public async Task An_open_circuit_refuses_a_connection_with_a_database_failure_that_is_the_circuits()
    {
        var outages = New();
        var circuit = new Mislata.Infrastructure.Health.PostgresCircuitInterceptor(outages);
        circuit.Arm();
        outages.ReportDown(DependencyOutages.Postgres, "refused");

        var refused = await Assert.ThrowsAsync<NpgsqlException>(() => circuit.ConnectionOpeningAsync(null!, null!, default).AsTask());
        // A background service that handles a database failure (DbException, NpgsqlException) handles this one too,
        // instead of stopping its host; a request is answered 503 and begins no new outage.
        Assert.IsAssignableFrom<System.Data.Common.DbException>(refused);
        Assert.IsType<DependencyUnavailableException>(refused.InnerException);
        Assert.Equal(DependencyOutages.Postgres, DependencyOutages.DependencyOf(refused));

        outages.ReportUp(DependencyOutages.Postgres);
        await circuit.ConnectionOpeningAsync(null!, null!, default);
    }

    [Fact]
    public void An_outage_is_logged_once_when_it_begins_and_once_when_it_ends_with_what_it_cost()
    {
        var outages = New();
        outages.CountUnavailable(DependencyOutages.Postgres, "NpgsqlException");
        outages.CountUnavailable(DependencyOutages.Postgres, "NpgsqlException");
        outages.ReportDown(DependencyOutages.Postgres, "probe");
        outages.CountUnavailable(DependencyOutages.Postgres, "NpgsqlException");
        outages.CountFailOpen(DependencyOutages.Redis, "operations_quota");
        outages.CountFailOpen(DependencyOutages.Redis, "operations_quota");
        Assert.True(outages.IsDown(DependencyOutages.Postgres));
        Assert.True(outages.IsDown(DependencyOutages.Redis));
        Assert.Equal(2, _log.Entries.Count(e => e.Level == LogLevel.Warning));

        _time.Advance(TimeSpan.FromSeconds(12));
        outages.ReportUp(DependencyOutages.Postgres);
        outages.ReportUp(DependencyOutages.Postgres);
        Assert.False(outages.IsDown(DependencyOutages.Postgres));
        var back = Assert.Single(_log.Entries, e => e.Level == LogLevel.Information);
        Assert.Contains("postgres is back after 12 s; 3 requests were answered 503", back.Text, StringComparison.Ordinal);

        // a request refused by the circuit just before the probe closed it does not begin a new outage
        outages.CountUnavailable(DependencyOutages.Postgres, "DependencyUnavailableException", circuitOpen: true);
        Assert.False(outages.IsDown(DependencyOutages.Postgres));
        Assert.Equal(2, _log.Entries.Count(e => e.Level == LogLevel.Warning));

        // a new outage is a new log line
        outages.CountUnavailable(DependencyOutages.Postgres, "NpgsqlException");
        Assert.Equal(3, _log.Entries.Count(e => e.Level == LogLevel.Warning));
    }

    [Fact]
    public void Unavailable_fail_open_and_internal_errors_are_counted_apart()
    {
        var measured = new Dictionary<string, long>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == DependencyOutages.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (measured)
            {
                measured[instrument.Name] = measured.GetValueOrDefault(instrument.Name) + value;
            }
        });
        listener.Start();
        var outages = New();
        outages.CountUnavailable(DependencyOutages.Postgres, "x");
        outages.CountUnavailable(DependencyOutages.Postgres, "x");
        outages.CountFailOpen(DependencyOutages.Redis, "operations_quota");
        outages.CountInternalError();

        Assert.Equal(2, measured["mislata.dependency.unavailable"]);
        Assert.Equal(1, measured["mislata.dependency.fail_open"]);
        Assert.Equal(1, measured["mislata.http.internal_errors"]);
        Assert.Equal(2, measured["mislata.dependency.outages"]);
    }

    [Fact]
    public void The_time_since_the_last_failure_is_what_ends_an_outage_no_probe_can_end()
    {
        var outages = New();
        Assert.Equal(TimeSpan.MaxValue, outages.SinceLastFailure(DependencyOutages.PostgresWrites));
        outages.CountUnavailable(DependencyOutages.PostgresWrites, "PostgresException");
        _time.Advance(TimeSpan.FromSeconds(3));
        outages.CountUnavailable(DependencyOutages.PostgresWrites, "PostgresException");
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(2), outages.SinceLastFailure(DependencyOutages.PostgresWrites));
    }

    private DependencyOutages New() => new(_services.GetRequiredService<IMeterFactory>(), _log, _time);

    private sealed class Lines : ILogger<DependencyOutages>
    {
        public List<(LogLevel Level, string Text)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }
}
