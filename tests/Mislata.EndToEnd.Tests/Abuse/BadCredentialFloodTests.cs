using System.Diagnostics;
using System.Globalization;
using System.Net;
using Mislata.EndToEnd.Tests.Tenancy;
using Xunit.Abstractions;

namespace Mislata.EndToEnd.Tests.Abuse;

/// <summary>
/// Issue 8, "done when": a flood of bad API keys from one source (a few thousand requests through the gateway) leaves
/// another tenant's authenticated p99 within twice its baseline, and the audit trail grows by a bounded number of rows.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class BadCredentialFloodTests(TenancyFixture fixture, ITestOutputHelper output)
{
    private const string FloodSource = "127.0.0.2";

    /// <summary>Baseline and flood phases alternate, so noise from the rest of a shared machine falls on both alike.</summary>
    private const int Rounds = 6;

    private static readonly TimeSpan Phase = TimeSpan.FromSeconds(2);

    /// <summary>Bad keys per second during a flood phase: 6 × 2 s × 250/s = 3,000 requests in all.</summary>
    private const int FloodPerSecond = 250;

    private const int FloodInFlight = 32;

    /// <summary>Per replica and minute: the aggregator's 4 prefixes per source plus one entry for the rest.</summary>
    private const int RowsPerReplicaMinute = 5;

    [Fact]
    public async Task A_bad_key_flood_from_one_source_keeps_another_tenants_p99_within_twice_its_baseline_and_adds_a_bounded_number_of_audit_rows()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read"]);
        using var tenantClient = fixture.WithKey(key);
        using var flood = SourceAddress.Client(fixture.Stack, FloodSource, maxConnections: FloodInFlight);
        var rowsBefore = await AuditRowsAsync();

        // Warm-up: the tenant's key is cached on both api replicas, the flood's connections are open.
        for (var i = 0; i < 100; i++)
        {
            await TimedCallAsync(tenantClient);
        }

        await Task.WhenAll(Enumerable.Range(0, FloodInFlight).Select(async _ =>
        {
            using var ping = await flood.GetAsync(new Uri("/api/v1/ping", UriKind.Relative));
            Assert.Equal(HttpStatusCode.NoContent, ping.StatusCode);
        }));

        var baseline = new List<double>();
        var during = new List<double>();
        var statuses = new Dictionary<HttpStatusCode, int>();
        var floodStarted = DateTimeOffset.UtcNow;
        var floodWatch = new Stopwatch();
        for (var round = 0; round < Rounds; round++)
        {
            var phase = Stopwatch.StartNew();
            while (phase.Elapsed < Phase)
            {
                baseline.Add(await TimedCallAsync(tenantClient));
            }

            floodWatch.Start();
            var floodPhase = FloodAsync(flood, (int)(FloodPerSecond * Phase.TotalSeconds));
            while (!floodPhase.IsCompleted)
            {
                during.Add(await TimedCallAsync(tenantClient));
            }

            floodWatch.Stop();
            foreach (var (status, count) in await floodPhase)
            {
                statuses[status] = statuses.GetValueOrDefault(status) + count;
            }
        }

        var floodEnded = DateTimeOffset.UtcNow;
        var sent = statuses.Values.Sum();
        var (p50Base, p99Base) = (Percentile(baseline, 0.50), Percentile(baseline, 0.99));
        var (p50Flood, p99Flood) = (Percentile(during, 0.50), Percentile(during, 0.99));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"flood: {sent} bad keys in {floodWatch.Elapsed.TotalSeconds:F1} s ({sent / floodWatch.Elapsed.TotalSeconds:F0}/s); " +
            $"{string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{(int)s.Key}: {s.Value}"))}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"tenant baseline: n={baseline.Count} p50={p50Base:F2} ms p99={p99Base:F2} ms; during flood: n={during.Count} p50={p50Flood:F2} ms p99={p99Flood:F2} ms; p99 ratio {p99Flood / p99Base:F2}"));

        Assert.Equal(Rounds * (int)(FloodPerSecond * Phase.TotalSeconds), sent);
        Assert.True(statuses.Keys.All(s => s is HttpStatusCode.Unauthorized or HttpStatusCode.TooManyRequests), "the flood gets only 401 and 429");
        Assert.True(statuses.GetValueOrDefault(HttpStatusCode.TooManyRequests) > sent / 2, "most of the flood is refused before its key is looked at");
        Assert.True(p99Flood <= 2 * p99Base, string.Create(CultureInfo.InvariantCulture,
            $"the tenant's p99 during the flood ({p99Flood:F2} ms) exceeds twice its baseline ({p99Base:F2} ms)"));

        // Every refused request is accounted for in the aggregated events (written at the end of each minute)…
        var accounted = await EventuallyAsync(async () => await AccountedAsync() >= sent, TimeSpan.FromSeconds(150));
        Assert.True(accounted, $"not all {sent} refused requests were audited in aggregate: {await AccountedAsync()}");
        Assert.Equal(sent, await AccountedAsync());

        // …in a bounded number of rows: per api replica and minute touched, at most the aggregator's entries for a source.
        var minutes = (int)(floodEnded.ToUnixTimeSeconds() / 60 - floodStarted.ToUnixTimeSeconds() / 60) + 1;
        var bound = fixture.ApiReplicas.Count * minutes * RowsPerReplicaMinute;
        var grown = await AuditRowsAsync() - rowsBefore;
        output.WriteLine($"audit rows added by the flood: {grown} (bound {bound}: {fixture.ApiReplicas.Count} replicas × {minutes} minute(s) × {RowsPerReplicaMinute})");
        Assert.InRange(grown, 1, bound);
    }

    private static async Task<double> TimedCallAsync(HttpClient client)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await client.GetAsync(new Uri("/api/v1/api-keys", UriKind.Relative));
        await response.Content.LoadIntoBufferAsync();
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"the tenant's call: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return elapsed;
    }

    /// <summary>Sends <paramref name="count"/> requests with fresh unknown keys at <see cref="FloodPerSecond"/>, at most <see cref="FloodInFlight"/> at once.</summary>
    private static async Task<Dictionary<HttpStatusCode, int>> FloodAsync(HttpClient client, int count)
    {
        using var inFlight = new SemaphoreSlim(FloodInFlight);
        var sends = new List<Task<HttpStatusCode>>(count);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / FloodPerSecond) - clock.Elapsed;
            if (due > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(due);
            }

            await inFlight.WaitAsync();
            sends.Add(SendAsync());
        }

        var statuses = await Task.WhenAll(sends);
        return statuses.GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count());

        async Task<HttpStatusCode> SendAsync()
        {
            try
            {
                using var response = await client.SendAsync(SourceAddress.WithKey(HttpMethod.Get, "/api/v1/api-keys", SourceAddress.UnknownApiKey()));
                await response.Content.LoadIntoBufferAsync();
                return response.StatusCode;
            }
            finally
            {
                inFlight.Release();
            }
        }
    }

    private static double Percentile(List<double> samples, double p)
    {
        var sorted = samples.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private Task<long> AuditRowsAsync() =>
        fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE source_ip = '{FloodSource}'");

    /// <summary>Failed checks plus requests refused unheard, as the aggregated events count them.</summary>
    private Task<long> AccountedAsync() => fixture.ScalarAsync(
        $"SELECT coalesce(sum((details->>'count')::bigint + coalesce((details->>'throttled')::bigint, 0)), 0) FROM mislata.audit_events WHERE source_ip = '{FloodSource}' AND action = 'auth.failed'");

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan within)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > within)
            {
                return false;
            }

            await Task.Delay(500);
        }

        return true;
    }
}
