using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics.Metrics;

namespace Mislata.ServiceDefaults.Problems;

/// <summary>
/// What this replica knows of its dependencies (PostgreSQL, Redis): an outage begins with the first failure seen and
/// ends when the dependency answers again. Each transition is logged once (a warning when it goes down, an information
/// line with the outage's length and the requests it cost when it is back), never once per request; the requests
/// answered <c>503</c> and the ones let through without a Redis check (fail open) are counted in metrics, apart from
/// the <c>500</c>s of bugs.
/// </summary>
public sealed partial class DependencyOutages
{
    public const string MeterName = "Mislata.Dependencies";

    /// <summary>Seconds a client should wait before retrying a request answered 503 because a dependency was down.</summary>
    public const string RetryAfterSeconds = "5";
    /// <summary>PostgreSQL does not answer (connection refused or lost, shutting down or starting): its circuit opens.</summary>
    public const string Postgres = "postgres";

    /// <summary>PostgreSQL answers but takes no writes (read-only, a standby in recovery, disk full): reads go on.</summary>
    public const string PostgresWrites = "postgres-writes";

    /// <summary>PostgreSQL refused one transaction for contention (serialization failure, deadlock, lock not available).</summary>
    public const string PostgresBusy = "postgres-busy";

    public const string Redis = "redis";

    /// <summary>A socket error or timeout that no client library claimed.</summary>
    public const string Network = "network";

    private readonly ConcurrentDictionary<string, Outage> _outages = new(StringComparer.Ordinal);
    private readonly ILogger<DependencyOutages> _logger;
    private readonly TimeProvider _time;
    private readonly Counter<long> _unavailable;
    private readonly Counter<long> _failOpen;
    private readonly Counter<long> _internalErrors;
    private readonly Counter<long> _transitions;

    public DependencyOutages(IMeterFactory meters, ILogger<DependencyOutages> logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(meters);
        _logger = logger;
        _time = time ?? TimeProvider.System;
        var meter = meters.Create(MeterName);
        _unavailable = meter.CreateCounter<long>("mislata.dependency.unavailable", "{request}", "Requests answered 503 because a dependency was unavailable");
        _failOpen = meter.CreateCounter<long>("mislata.dependency.fail_open", "{request}", "Requests let through without a check that needs an unavailable dependency");
        _internalErrors = meter.CreateCounter<long>("mislata.http.internal_errors", "{request}", "Requests answered 500: a bug, never a dependency outage");
        _transitions = meter.CreateCounter<long>("mislata.dependency.outages", "{outage}", "Outages of a dependency seen by this replica");
        meter.CreateObservableGauge("mislata.dependency.up", () => _outages.Select(o => new Measurement<int>(o.Value.Down ? 0 : 1, new KeyValuePair<string, object?>("dependency", o.Key))),
            "{dependency}", "1 while the dependency answers, 0 during an outage seen by this replica");
    }

    public bool IsDown(string dependency) => _outages.TryGetValue(dependency, out var outage) && outage.Down;

    /// <summary>The dependency failed: the first failure of an outage is logged (once).</summary>
    public void ReportDown(string dependency, string reason)
    {
        var outage = _outages.GetOrAdd(dependency, _ => new Outage());
        Interlocked.Exchange(ref outage.LastFailure, _time.GetTimestamp());
        lock (outage)
        {
            if (outage.Down)
            {
                return;
            }

            outage.Down = true;
            outage.Since = _time.GetTimestamp();
            outage.Unavailable = 0;
            outage.FailedOpen = 0;
        }

        _transitions.Add(1, new KeyValuePair<string, object?>("dependency", dependency));
        LogDown(_logger, dependency, reason);
    }

    /// <summary>The dependency answered: the end of an outage is logged (once) with its length and what it cost.</summary>
    public void ReportUp(string dependency)
    {
        if (!_outages.TryGetValue(dependency, out var outage))
        {
            _outages.TryAdd(dependency, new Outage());
            return;
        }

        long since, unavailable, failedOpen;
        lock (outage)
        {
            if (!outage.Down)
            {
                return;
            }

            outage.Down = false;
            (since, unavailable, failedOpen) = (outage.Since, outage.Unavailable, outage.FailedOpen);
        }

        LogUp(_logger, dependency, Math.Round(_time.GetElapsedTime(since).TotalSeconds, 1), unavailable, failedOpen);
    }

    /// <summary>A request answered 503 because <paramref name="dependency"/> did not answer (the outage begins if it had not).</summary>
    public void CountUnavailable(string dependency, string reason, bool circuitOpen = false)
    {
        if (!circuitOpen)
        {
            // A refusal by an open circuit is no news: it must not begin a new outage after the probe has ended it.
            ReportDown(dependency, reason);
        }

        _unavailable.Add(1, new KeyValuePair<string, object?>("dependency", dependency));
        if (_outages.TryGetValue(dependency, out var outage))
        {
            Interlocked.Increment(ref outage.Unavailable);
        }
    }

    /// <summary>A request let through without <paramref name="check"/> because <paramref name="dependency"/> did not answer.</summary>
    public void CountFailOpen(string dependency, string check)
    {
        ReportDown(dependency, check + " failed open");
        _failOpen.Add(1, new KeyValuePair<string, object?>("dependency", dependency), new KeyValuePair<string, object?>("check", check));
        if (_outages.TryGetValue(dependency, out var outage))
        {
            Interlocked.Increment(ref outage.FailedOpen);
        }
    }

    public void CountInternalError() => _internalErrors.Add(1);

    /// <summary>
    /// Which dependency an exception says did not answer, or null when it is not a dependency failure (a bug).
    /// PostgreSQL: <see cref="Postgres"/> for a server that does not answer (a connection error without SQLSTATE,
    /// <see cref="IsNotAnsweringState"/>), <see cref="PostgresWrites"/> for one that takes no writes
    /// (<see cref="IsNoWritesState"/>), <see cref="PostgresBusy"/> for another transient error; Redis: connection or
    /// timeout errors; an open circuit (<see cref="DependencyUnavailableException"/>); a bare socket error or timeout
    /// is <see cref="Network"/>. A non-transient database error (a constraint the code did not expect) stays a bug.
    /// </summary>
    public static string? DependencyOf(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is DbException db)
            {
                var state = db.SqlState;
                if (IsNoWritesState(state))
                {
                    return PostgresWrites;
                }

                if (string.IsNullOrEmpty(state) ? db.IsTransient : IsNotAnsweringState(state))
                {
                    return Postgres;
                }

                if (db.IsTransient)
                {
                    return PostgresBusy;
                }
            }

            if (e.GetType().FullName is "StackExchange.Redis.RedisConnectionException" or "StackExchange.Redis.RedisTimeoutException")
            {
                return Redis;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Select(DependencyOf).FirstOrDefault(d => d is not null) is { } inner)
            {
                return inner;
            }

            if (e is DependencyUnavailableException unavailable)
            {
                return unavailable.Dependency;
            }

            if (e is TimeoutException or System.Net.Sockets.SocketException)
            {
                return Network;
            }
        }

        return null;
    }

    /// <summary>
    /// SQLSTATEs of a server that does not answer now: 08xxx connection exceptions, 57P01-57P05 administrator shutdown,
    /// crash shutdown, cannot connect now (starting, recovering), idle session timeout.
    /// </summary>
    public static bool IsNotAnsweringState(string? sqlState) =>
        sqlState is { Length: 5 } s && (s.StartsWith("08", StringComparison.Ordinal) || s is "57P01" or "57P02" or "57P03" or "57P05");

    /// <summary>
    /// SQLSTATEs of a server that answers but takes no writes now: 25006 read-only transaction (a standby, or
    /// <c>default_transaction_read_only</c>), 53xxx insufficient resources (53100 disk full, 53200 out of memory, 53300
    /// too many connections), 58xxx system errors (I/O).
    /// </summary>
    public static bool IsNoWritesState(string? sqlState) =>
        sqlState is { Length: 5 } s && (s == "25006" || s.StartsWith("53", StringComparison.Ordinal) || s.StartsWith("58", StringComparison.Ordinal));

    /// <summary>How long since the last failure of <paramref name="dependency"/> was counted (TimeSpan.MaxValue when none).</summary>
    public TimeSpan SinceLastFailure(string dependency) =>
        _outages.TryGetValue(dependency, out var outage) && Interlocked.Read(ref outage.LastFailure) is var last and not 0
            ? _time.GetElapsedTime(last)
            : TimeSpan.MaxValue;

    private sealed class Outage
    {
        public bool Down;
        public long Since;
        public long Unavailable;
        public long FailedOpen;
        public long LastFailure;
    }

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Dependency {Dependency} is unavailable ({Reason}): requests that need it are answered 503 until it is back")]
    private static partial void LogDown(ILogger logger, string dependency, string reason);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Dependency {Dependency} is back after {Seconds} s; {Unavailable} requests were answered 503 and {FailedOpen} let through without its checks meanwhile")]
    private static partial void LogUp(ILogger logger, string dependency, double seconds, long unavailable, long failedOpen);
}

/// <summary>Thrown instead of calling a dependency known to be down (its circuit is open): the request is answered 503 at once.</summary>
public sealed class DependencyUnavailableException : Exception
{
    public DependencyUnavailableException()
        : this(DependencyOutages.Postgres)
    {
    }

    public DependencyUnavailableException(string dependency)
        : base($"{dependency} is unavailable (circuit open)") => Dependency = dependency;

    public DependencyUnavailableException(string message, Exception innerException)
        : base(message, innerException) => Dependency = DependencyOutages.Postgres;

    public string Dependency { get; }
}
