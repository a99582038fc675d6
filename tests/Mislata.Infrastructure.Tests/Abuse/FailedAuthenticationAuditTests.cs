using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.Audit;
using Mislata.Infrastructure.Abuse;
using Mislata.ServiceDefaults.Problems;

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

    [Fact]
    public async Task An_event_is_anonymous_states_its_first_and_last_failure_and_keeps_at_most_four_reasons()
    {
        var aggregator = NewAggregator();
        var first = _time.GetUtcNow();
        aggregator.RecordFailure("203.0.113.9", "bearer", "reason_a", "/api/v1/first", "req-first");
        _time.Advance(TimeSpan.FromSeconds(10));
        aggregator.RecordFailure("203.0.113.9", "bearer", "reason_e", "/api/v1/second", "req-second");
        aggregator.RecordFailure("203.0.113.9", "bearer", "reason_d", null, null);
        aggregator.RecordFailure("203.0.113.9", "bearer", "reason_c", null, null);
        _time.Advance(TimeSpan.FromSeconds(5));
        aggregator.RecordFailure("203.0.113.9", "bearer", "reason_b" + new string('x', 100), null, null);
        var last = _time.GetUtcNow();

        await aggregator.FlushAsync(CancellationToken.None);

        var e = Assert.Single(_log.Events);
        Assert.Equal(AuditActorType.Anonymous, e.ActorType);
        Assert.Equal("anonymous", e.ActorId);
        Assert.Equal(ErrorCodes.Unauthorized, e.ErrorCode);
        Assert.Equal("5", e.Details!["count"]);
        Assert.Equal(first.ToString("O", CultureInfo.InvariantCulture), e.Details["first"]);
        Assert.Equal(last.ToString("O", CultureInfo.InvariantCulture), e.Details["last"]);
        // The first four distinct reasons, sorted; the fifth is dropped.
        Assert.Equal("reason_a,reason_c,reason_d,reason_e", e.Details["reasons"]);
        // The first request's path and id represent the group.
        Assert.Equal("/api/v1/first", e.Details["path"]);
        Assert.Equal("req-first", e.RequestId);
        Assert.False(e.Details.ContainsKey("throttled"));
        Assert.False(e.Details.ContainsKey("sources"));
    }

    [Fact]
    public async Task A_reason_is_clipped_to_64_characters_and_a_throttled_only_entry_has_no_reasons()
    {
        var aggregator = NewAggregator();
        aggregator.RecordFailure("203.0.113.9", "bearer", new string('r', 65), null, new string('i', 129));
        aggregator.RecordThrottled("198.51.100.7", "qapi_AbCdEfGh", null, null);

        await aggregator.FlushAsync(CancellationToken.None);

        var failed = Assert.Single(_log.Events, e => e.SourceIp == "203.0.113.9");
        Assert.Equal(new string('r', 64), failed.Details!["reasons"]);
        Assert.Equal(new string('i', 128), failed.RequestId);
        Assert.False(failed.Details.ContainsKey("path"));
        var throttled = Assert.Single(_log.Events, e => e.SourceIp == "198.51.100.7");
        Assert.Equal("0", throttled.Details!["count"]);
        Assert.Equal("1", throttled.Details["throttled"]);
        Assert.False(throttled.Details.ContainsKey("reasons"));
    }

    [Fact]
    public async Task Entries_kept_after_a_refused_flush_keep_their_first_time_request_and_throttled_count()
    {
        var aggregator = NewAggregator();
        var first = _time.GetUtcNow();
        aggregator.RecordFailure("203.0.113.9", "bearer", "reason_a", "/api/v1/old", "req-old");
        aggregator.RecordThrottled("203.0.113.9", "bearer", "/api/v1/old", "req-old-2");
        _log.Unavailable = true;
        Assert.Equal(1, await aggregator.FlushAsync(CancellationToken.None));
        Assert.Equal(1, aggregator.PendingEntries);

        _log.Unavailable = false;
        _time.Advance(TimeSpan.FromMinutes(1));
        aggregator.RecordFailure("203.0.113.9", "bearer", "reason_b", "/api/v1/new", "req-new");
        aggregator.RecordThrottled("203.0.113.9", "bearer", null, null);
        var last = _time.GetUtcNow();
        Assert.Equal(0, await aggregator.FlushAsync(CancellationToken.None));

        var e = Assert.Single(_log.Events);
        Assert.Equal("2", e.Details!["count"]);
        Assert.Equal("2", e.Details["throttled"]);
        Assert.Equal(first.ToString("O", CultureInfo.InvariantCulture), e.Details["first"]);
        Assert.Equal(last.ToString("O", CultureInfo.InvariantCulture), e.Details["last"]);
        Assert.Equal("reason_a,reason_b", e.Details["reasons"]);
        Assert.Equal("/api/v1/old", e.Details["path"]);
        Assert.Equal("req-old", e.RequestId);
        Assert.Equal(0, aggregator.PendingEntries);
    }

    [Fact]
    public async Task A_source_starts_its_count_of_credentials_afresh_in_each_window()
    {
        var aggregator = NewAggregator();
        foreach (var reason in new[] { "reason_a", "reason_b", "reason_c" })
        {
            aggregator.RecordFailure("203.0.113.9", "bearer", reason, null, null);
        }

        _log.Unavailable = true;
        await aggregator.FlushAsync(CancellationToken.None);
        _log.Unavailable = false;
        foreach (var credential in new[] { "qapi_00000001", "qapi_00000002", "qapi_00000003", "qapi_00000004" })
        {
            aggregator.RecordFailure("198.51.100.7", credential, "unknown_api_key", null, null);
        }

        await aggregator.FlushAsync(CancellationToken.None);
        Assert.Equal(4, _log.Events.Count(e => e.SourceIp == "198.51.100.7"));
        Assert.DoesNotContain(_log.Events, e => e.Details!["credential"] == FailedAuthenticationAudit.OtherCredentials);
        Assert.Equal("reason_a,reason_b,reason_c", Assert.Single(_log.Events, e => e.SourceIp == "203.0.113.9").Details!["reasons"]);

        // A new window: the same source again has four credentials of its own before the star.
        foreach (var credential in new[] { "qapi_00000005", "qapi_00000006", "qapi_00000007", "qapi_00000008", "qapi_00000009" })
        {
            aggregator.RecordFailure("198.51.100.7", credential, "unknown_api_key", null, null);
        }

        _log.Clear();
        await aggregator.FlushAsync(CancellationToken.None);
        Assert.Equal(5, _log.Events.Count);
        Assert.Equal("1", Assert.Single(_log.Events, e => e.Details!["credential"] == FailedAuthenticationAudit.OtherCredentials).Details!["count"]);
    }

    private sealed class RecordingAuditLog : IAuditLog
    {
        private readonly List<AuditEvent> _events = [];

        public bool Unavailable { get; set; }

        public void Clear()
        {
            lock (_events)
            {
                _events.Clear();
            }
        }

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
