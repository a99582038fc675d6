using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.Audit;
using Mislata.Infrastructure.Abuse;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests.Abuse;

/// <summary>
/// The request-path step of failed-credential defence against a real Redis: failures are counted per source (an IPv6
/// /64 as one) and audited with their reason; a source at the limit is answered 429 <c>rate_limited</c> with a
/// <c>Retry-After</c> rounded up to the end of the minute, audited as throttled; another source is not touched.
/// </summary>
public sealed class FailedCredentialGuardTests : IAsyncLifetime
{
    private const int PerMinute = 3;

    // 12:00:10.250: the minute ends in 49.75 s.
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 10, 250, TimeSpan.Zero));
    private readonly Audit _audit = new();
    private RedisInstance? _redis;
    private IConnectionMultiplexer? _connection;
    private ServiceProvider? _services;
    private FailedAuthenticationAudit? _aggregator;
    private FailedCredentialGuard? _guard;

    public async Task InitializeAsync()
    {
        _redis = await RedisInstance.LaunchAsync();
        _connection = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        _services = new ServiceCollection().AddLogging().AddMetrics().AddProblemDetails().BuildServiceProvider();
        _aggregator = new FailedAuthenticationAudit(_audit, _time, NullLogger<FailedAuthenticationAudit>.Instance);
        _guard = new FailedCredentialGuard(
            new FailedCredentialLimiter(_connection, Options.Create(new FailedCredentialOptions { PerMinute = PerMinute }), _time, new Mislata.ServiceDefaults.Problems.DependencyOutages(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), NullLogger<Mislata.ServiceDefaults.Problems.DependencyOutages>.Instance, _time)),
            _aggregator);
    }

    public async Task DisposeAsync()
    {
        _aggregator?.Dispose();
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private DefaultHttpContext Request(string address, string path = "/api/v1/keys", string traceId = "trace-1")
    {
        var context = new DefaultHttpContext { RequestServices = _services!, TraceIdentifier = traceId };
        context.Connection.RemoteIpAddress = IPAddress.Parse(address);
        context.Request.Path = path;
        context.Response.Body = new MemoryStream();
        return context;
    }

    private static JsonElement Body(HttpContext context)
    {
        context.Response.Body.Position = 0;
        using var document = JsonDocument.Parse(context.Response.Body);
        return document.RootElement.Clone();
    }

    [Fact]
    public async Task A_source_under_the_limit_passes_untouched_and_its_failures_are_audited_with_their_reason()
    {
        for (var i = 0; i < PerMinute - 1; i++)
        {
            await _guard!.RecordFailureAsync(Request("203.0.113.9", traceId: "trace-" + i), "qapi_AbCdEfGh", "unknown_api_key");
        }

        var context = Request("203.0.113.9");
        Assert.False(await _guard!.RefuseOverLimitAsync(context, "qapi_AbCdEfGh"));
        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        Assert.False(context.Response.Headers.ContainsKey("Retry-After"));
        Assert.Equal(0, context.Response.Body.Length);

        await _aggregator!.FlushAsync(CancellationToken.None);
        var e = Assert.Single(_audit.Events);
        Assert.Equal("203.0.113.9", e.SourceIp);
        Assert.Equal("qapi_AbCdEfGh", e.Details!["credential"]);
        Assert.Equal("unknown_api_key", e.Details["reasons"]);
        Assert.Equal("/api/v1/keys", e.Details["path"]);
        Assert.Equal("trace-0", e.RequestId);
        Assert.Equal((PerMinute - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), e.Details["count"]);
        Assert.Equal(PerMinute - 1, (int)await _connection!.GetDatabase().StringGetAsync(FailedCredentialLimiter.KeyPrefix + "203.0.113.9:" + (_time.GetUtcNow().ToUnixTimeMilliseconds() / 60_000)));
    }

    [Fact]
    public async Task A_source_at_the_limit_is_answered_429_rate_limited_with_Retry_After_rounded_up_and_audited_as_throttled()
    {
        for (var i = 0; i < PerMinute; i++)
        {
            await _guard!.RecordFailureAsync(Request("203.0.113.9"), "bearer", "invalid_access_token");
        }

        var context = Request("203.0.113.9", "/api/v1/secrets", "trace-429");
        Assert.True(await _guard!.RefuseOverLimitAsync(context, "bearer"));

        Assert.Equal(StatusCodes.Status429TooManyRequests, context.Response.StatusCode);
        // 49.75 s left in the minute: rounded up, never down to a retry that would be refused again.
        Assert.Equal("50", context.Response.Headers.RetryAfter.ToString());
        var body = Body(context);
        Assert.Equal("rate_limited", body.GetProperty("error").GetString());
        Assert.Equal(429, body.GetProperty("status").GetInt32());
        Assert.Contains("3 per minute", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("retry after 50 s", body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Another source is not refused.
        Assert.False(await _guard.RefuseOverLimitAsync(Request("198.51.100.7"), "bearer"));

        await _aggregator!.FlushAsync(CancellationToken.None);
        var e = Assert.Single(_audit.Events);
        Assert.Equal("3", e.Details!["count"]);
        Assert.Equal("1", e.Details["throttled"]);

        // Once the minute is over the source is heard again.
        _time.Advance(TimeSpan.FromSeconds(50));
        Assert.False(await _guard.RefuseOverLimitAsync(Request("203.0.113.9"), "bearer"));
    }

    [Fact]
    public async Task Every_address_of_an_IPv6_64_counts_against_the_same_source()
    {
        for (var i = 1; i <= PerMinute; i++)
        {
            await _guard!.RecordFailureAsync(Request("2001:db8:1:2::" + i.ToString("x", System.Globalization.CultureInfo.InvariantCulture)), "bearer", "invalid_access_token");
        }

        Assert.True(await _guard!.RefuseOverLimitAsync(Request("2001:db8:1:2:ffff::1"), "bearer"));
        Assert.False(await _guard.RefuseOverLimitAsync(Request("2001:db8:1:3::1"), "bearer"));
        await _aggregator!.FlushAsync(CancellationToken.None);
        Assert.Equal("2001:db8:1:2::/64", Assert.Single(_audit.Events).SourceIp);
    }

    private sealed class Audit : IAuditLog
    {
        private readonly List<AuditEvent> _events = [];

        public IReadOnlyList<AuditEvent> Events => [.. _events];

        public Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
        {
            _events.Add(auditEvent);
            return Task.CompletedTask;
        }
    }
}
