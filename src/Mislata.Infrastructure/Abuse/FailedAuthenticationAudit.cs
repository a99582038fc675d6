using System.Globalization;
using Mislata.Core.Audit;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Infrastructure.Abuse;

/// <summary>
/// Failed authentications, aggregated: one <c>auth.failed</c> audit event per (client source, credential prefix) and
/// minute, carrying the <c>count</c>, instead of one event per request — so a flood of bad credentials neither fills
/// the audit store nor queues ahead of other tenants' audited writes in the group commit. Memory is bounded: a source
/// is tracked under at most <see cref="MaxCredentialsPerSource"/> prefixes (further ones are counted under <c>*</c>),
/// and at most <see cref="MaxEntries"/> entries in all (further ones are counted in one overflow entry). Flushed at the
/// end of each minute and at shutdown; entries the audit log could not store are carried into the next minute.
/// </summary>
public sealed partial class FailedAuthenticationAudit(IAuditLog audit, TimeProvider time, ILogger<FailedAuthenticationAudit> logger)
    : BackgroundService
{
    public const string Action = "auth.failed";
    public const string OtherCredentials = "*";
    internal const int MaxCredentialsPerSource = 4;
    internal const int MaxEntries = 2_048;
    internal const int MaxPathLength = 128;
    internal const int MaxReasons = 4;
    internal static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private const string OverflowSource = "*";

    private readonly Lock _gate = new();
    private readonly Health.BackgroundRounds _rounds = new(logger, nameof(FailedAuthenticationAudit));
    private Dictionary<(string Source, string Credential), Tally> _tallies = [];
    private Dictionary<string, int> _credentialsPerSource = new(StringComparer.Ordinal);
    private DateTimeOffset _nextFlush;

    /// <summary>A credential was checked and failed (reason: a log-level code such as <c>unknown_api_key</c>).</summary>
    public void RecordFailure(string source, string credentialPrefix, string reason, string? path, string? requestId) =>
        Add(source, credentialPrefix, reason, path, requestId, failed: 1, throttled: 0);

    /// <summary>A request was refused unheard because its source is over the failed-credential limit.</summary>
    public void RecordThrottled(string source, string credentialPrefix, string? path, string? requestId) =>
        Add(source, credentialPrefix, null, path, requestId, failed: 0, throttled: 1);

    internal int PendingEntries
    {
        get
        {
            lock (_gate)
            {
                return _tallies.Count;
            }
        }
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // The first window ends at the next minute boundary after the start (not after the loop first runs).
        _nextFlush = WindowEnd(time.GetUtcNow());
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = _nextFlush - time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                // A timer may wake a hair before the boundary by the wall clock: wait the rest, or the same window
                // would be flushed twice (and written as two events).
                continue;
            }

            _nextFlush = WindowEnd(time.GetUtcNow());

            // Not cancelled by shutdown: an event handed to the audit log is stored or refused, never left in doubt.
            await _rounds.RunAsync(_ => FlushAsync(CancellationToken.None), stoppingToken);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        var lost = await FlushAsync(cancellationToken);
        if (lost > 0)
        {
            LogLostAtShutdown(logger, lost);
        }
    }

    /// <summary>Writes one event per entry; returns how many entries could not be stored (they are kept for the next flush).</summary>
    internal async Task<int> FlushAsync(CancellationToken cancellationToken)
    {
        Dictionary<(string Source, string Credential), Tally> taken;
        lock (_gate)
        {
            if (_tallies.Count == 0)
            {
                return 0;
            }

            taken = _tallies;
            _tallies = [];
            _credentialsPerSource = new(StringComparer.Ordinal);
        }

        // Written together, so the group commit stores them in one transaction.
        var writes = taken.Values.Select(t => (Tally: t, Write: RecordAsync(t))).ToList();
        var failed = new List<Tally>();
        foreach (var (tally, write) in writes)
        {
            try
            {
                await write;
            }
            catch (Exception)
            {
                // Refused (AuditUnavailableException), cancelled or anything else: the entry is kept for the next flush.
                failed.Add(tally);
            }
        }

        if (failed.Count > 0)
        {
            LogFlushFailed(logger, failed.Count);
            lock (_gate)
            {
                foreach (var tally in failed)
                {
                    Merge(tally.Source, tally.Credential).Absorb(tally);
                }
            }
        }

        return failed.Count;

        // Any refusal of the audit log, thrown at once or later, is the entry's outcome.
        async Task RecordAsync(Tally tally) => await audit.RecordAsync(tally.ToEvent(), cancellationToken);
    }

    private void Add(string source, string credentialPrefix, string? reason, string? path, string? requestId, int failed, int throttled)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(credentialPrefix);
        var now = time.GetUtcNow();
        lock (_gate)
        {
            var tally = Merge(source, credentialPrefix);
            tally.Count(now, reason, path, requestId, failed, throttled);
        }
    }

    private static DateTimeOffset WindowEnd(DateTimeOffset now) =>
        new DateTimeOffset(now.UtcTicks - (now.UtcTicks % Window.Ticks), TimeSpan.Zero) + Window;

    /// <summary>The entry counting (source, credential) within the memory bounds. Called under the lock.</summary>
    private Tally Merge(string source, string credential)
    {
        if (_tallies.TryGetValue((source, credential), out var tally))
        {
            return tally;
        }

        var known = _credentialsPerSource.GetValueOrDefault(source);
        if (known >= MaxCredentialsPerSource)
        {
            credential = OtherCredentials;
            if (_tallies.TryGetValue((source, credential), out tally))
            {
                return tally;
            }
        }

        // One place is kept for the overflow entry, so there are never more than MaxEntries.
        if (_tallies.Count >= MaxEntries - 1)
        {
            (source, credential) = (OverflowSource, OtherCredentials);
            if (_tallies.TryGetValue((source, credential), out tally))
            {
                return tally;
            }
        }

        tally = new Tally(source, credential);
        _tallies[(source, credential)] = tally;
        if (credential != OtherCredentials)
        {
            _credentialsPerSource[source] = known + 1;
        }

        return tally;
    }

    [LoggerMessage(EventId = 5510, Level = LogLevel.Warning, Message = "{Count} aggregated failed-authentication event(s) could not be stored; kept for the next minute")]
    private static partial void LogFlushFailed(ILogger logger, int count);

    [LoggerMessage(EventId = 5511, Level = LogLevel.Error, Message = "{Count} aggregated failed-authentication event(s) were lost at shutdown: the audit log did not store them")]
    private static partial void LogLostAtShutdown(ILogger logger, int count);

    /// <summary>What one (source, credential) did in a window. Mutated under the aggregator's lock only.</summary>
    private sealed class Tally(string source, string credential)
    {
        private readonly SortedSet<string> _reasons = new(StringComparer.Ordinal);
        private long _failed;
        private long _throttled;
        private DateTimeOffset _first = DateTimeOffset.MaxValue;
        private DateTimeOffset _last = DateTimeOffset.MinValue;
        private string? _path;
        private string? _requestId;

        public string Source => source;

        public string Credential => credential;

        public void Count(DateTimeOffset at, string? reason, string? path, string? requestId, long failed, long throttled)
        {
            _failed += failed;
            _throttled += throttled;
            if (at < _first)
            {
                _first = at;
            }

            if (at > _last)
            {
                _last = at;
            }

            if (reason is not null && _reasons.Count < MaxReasons)
            {
                _reasons.Add(Clip(reason, 64));
            }

            _path ??= path is null ? null : Clip(path, MaxPathLength);
            _requestId ??= requestId is null ? null : Clip(requestId, 128);
        }

        public void Absorb(Tally other)
        {
            _failed += other._failed;
            _throttled += other._throttled;
            _first = other._first < _first ? other._first : _first;
            _last = other._last > _last ? other._last : _last;
            foreach (var reason in other._reasons)
            {
                if (_reasons.Count < MaxReasons)
                {
                    _reasons.Add(reason);
                }
            }

            _path ??= other._path;
            _requestId ??= other._requestId;
        }

        public AuditEvent ToEvent()
        {
            var details = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["credential"] = credential,
                ["count"] = _failed.ToString(CultureInfo.InvariantCulture),
                ["first"] = _first.ToString("O", CultureInfo.InvariantCulture),
                ["last"] = _last.ToString("O", CultureInfo.InvariantCulture),
            };
            if (_throttled > 0)
            {
                details["throttled"] = _throttled.ToString(CultureInfo.InvariantCulture);
            }

            if (_reasons.Count > 0)
            {
                details["reasons"] = string.Join(',', _reasons);
            }

            if (_path is not null)
            {
                details["path"] = _path;
            }

            if (source == OverflowSource)
            {
                details["sources"] = "many";
            }

            return new AuditEvent
            {
                TenantId = null,
                ActorType = AuditActorType.Anonymous,
                ActorId = "anonymous",
                Action = Action,
                Outcome = AuditOutcome.Denied,
                ErrorCode = ErrorCodes.Unauthorized,
                SourceIp = source == OverflowSource ? null : source,
                RequestId = _requestId,
                Details = details,
            };
        }

        /// <summary>At most <paramref name="max"/> characters, control characters replaced (paths are caller input).</summary>
        private static string Clip(string value, int max) => string.Create(Math.Min(value.Length, max), value, static (span, s) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = char.IsControl(s[i]) ? '?' : s[i];
            }
        });
    }
}
