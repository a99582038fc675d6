using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.Audit;
using Mislata.Infrastructure.Abuse;

namespace Mislata.Infrastructure.Tests.Abuse;

/// <summary>The aggregated failed-authentication audit: one event per source and credential prefix and minute, bounded memory.</summary>
public sealed class FailedAuthenticationAuditTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 30, TimeSpan.Zero));
    private readonly RecordingAuditLog _log = new();

    private FailedAuthenticationAudit NewAggregator() => new(_log, _time, NullLogger<FailedAuthenticationAudit>.Instance);

    [Fact]
    public async Task A_flood_from_one_source_with_one_key_prefix_is_one_event_carrying_the_count()
    {
        var aggregator = NewAggregator();
        for (var i = 0; i < 1_000; i++)
        {
            aggregator.RecordFailure("203.0.113.9", "qapi_AbCdEfGh", "unknown_api_key", "/api/v1/keys", "req-" + i);
        }

        for (var i = 0; i < 250; i++)
        {
            aggregator.RecordThrottled("203.0.113.9", "qapi_AbCdEfGh", "/api/v1/keys", "req-t" + i);
        }

        await aggregator.FlushAsync(CancellationToken.None);

        var e = Assert.Single(_log.Events);
        Assert.Equal("auth.failed", e.Action);
        Assert.Equal(AuditOutcome.Denied, e.Outcome);
        Assert.Null(e.TenantId);
        Assert.Equal("203.0.113.9", e.SourceIp);
        Assert.Equal("req-0", e.RequestId);
        Assert.Equal("1000", e.Details!["count"]);
        Assert.Equal("250", e.Details["throttled"]);
        Assert.Equal("qapi_AbCdEfGh", e.Details["credential"]);
        Assert.Equal("unknown_api_key", e.Details["reasons"]);
    }

    [Fact]
    public async Task A_source_is_tracked_under_at_most_four_key_prefixes_and_the_rest_are_counted_under_a_star()
    {
        var aggregator = NewAggregator();
        for (var i = 0; i < 100; i++)
        {
            aggregator.RecordFailure("203.0.113.9", "qapi_" + i.ToString("D8", CultureInfo.InvariantCulture), "unknown_api_key", "/api/v1/keys", null);
        }

        await aggregator.FlushAsync(CancellationToken.None);

        Assert.Equal(5, _log.Events.Count);
        Assert.Equal(100, _log.Events.Sum(e => int.Parse(e.Details!["count"], CultureInfo.InvariantCulture)));
        Assert.Equal("96", _log.Events.Single(e => e.Details!["credential"] == "*").Details!["count"]);
    }

    [Fact]
    public async Task Memory_stays_bounded_when_failures_come_from_very_many_sources()
    {
        var aggregator = NewAggregator();
        for (var i = 0; i < 20_000; i++)
        {
            aggregator.RecordFailure($"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "bearer", "invalid_access_token", "/api/v1/keys", null);
        }

        Assert.Equal(FailedAuthenticationAudit.MaxEntries, aggregator.PendingEntries);
        await aggregator.FlushAsync(CancellationToken.None);

        Assert.Equal(FailedAuthenticationAudit.MaxEntries, _log.Events.Count);
        Assert.Equal(20_000, _log.Events.Sum(e => int.Parse(e.Details!["count"], CultureInfo.InvariantCulture)));
        var overflow = Assert.Single(_log.Events, e => e.SourceIp is null);
        Assert.Equal("many", overflow.Details!["sources"]);
    }

    [Fact]
    public async Task Events_are_written_at_the_end_of_the_minute_and_not_before()
    {
        using var aggregator = NewAggregator();
        await aggregator.StartAsync(CancellationToken.None);
        aggregator.RecordFailure("203.0.113.9", "bearer", "invalid_access_token", "/api/v1/keys", null);

        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty(_log.Events);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await _log.EventuallyAsync(1, TimeSpan.FromSeconds(10)), "no event after the minute ended");
        Assert.Equal("1", Assert.Single(_log.Events).Details!["count"]);
        await aggregator.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Pending_events_are_written_at_shutdown()
    {
        using var aggregator = NewAggregator();
        await aggregator.StartAsync(CancellationToken.None);
        aggregator.RecordFailure("203.0.113.9", "bearer", "invalid_access_token", "/api/v1/keys", null);
        aggregator.RecordFailure("203.0.113.9", "bearer", "invalid_access_token", "/api/v1/keys", null);

        await aggregator.StopAsync(CancellationToken.None);

        Assert.Equal("2", Assert.Single(_log.Events).Details!["count"]);
    }

    [Fact]
    public async Task Events_the_audit_log_refuses_are_kept_for_the_next_flush()
    {
        var aggregator = NewAggregator();
        aggregator.RecordFailure("203.0.113.9", "bearer", "invalid_access_token", "/api/v1/keys", null);
        aggregator.RecordFailure("203.0.113.9", "bearer", "blocked_subject", "/api/v1/keys", null);
        _log.Unavailable = true;

        Assert.Equal(1, await aggregator.FlushAsync(CancellationToken.None));
        Assert.Empty(_log.Events);

        _log.Unavailable = false;
        aggregator.RecordFailure("203.0.113.9", "bearer", "invalid_access_token", "/api/v1/keys", null);
        Assert.Equal(0, await aggregator.FlushAsync(CancellationToken.None));

        var e = Assert.Single(_log.Events);
        Assert.Equal("3", e.Details!["count"]);
        Assert.Equal("blocked_subject,invalid_access_token", e.Details["reasons"]);
    }

    [Fact]
    public async Task Request_paths_are_clipped_to_128_characters_without_control_characters()
    {
        var aggregator = NewAggregator();
        aggregator.RecordFailure("203.0.113.9", "bearer", "invalid_access_token", "/api/v1/\n" + new string('p', 5_000), null);

        await aggregator.FlushAsync(CancellationToken.None);

        var path = Assert.Single(_log.Events).Details!["path"];
        Assert.Equal(128, path.Length);
        Assert.StartsWith("/api/v1/?ppp", path, StringComparison.Ordinal);
    }

    private sealed class RecordingAuditLog : IAuditLog
    {
        private readonly List<AuditEvent> _events = [];

        public bool Unavailable { get; set; }

        public IReadOnlyList<AuditEvent> Events
        {
            get
            {
                lock (_events)
                {
                    return [.. _events];
                }
            }
        }

        public Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
        {
            if (Unavailable)
            {
                throw new AuditUnavailableException("down");
            }

            lock (_events)
            {
                _events.Add(auditEvent);
            }

            return Task.CompletedTask;
        }

        public async Task<bool> EventuallyAsync(int count, TimeSpan within)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (Events.Count < count)
            {
                if (watch.Elapsed > within)
                {
                    return false;
                }

                await Task.Delay(20);
            }

            return true;
        }
    }
}
