using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// CI's reduced form of the chaos suite (issue 16): <c>bench/chaos.sh --quick</c> starts a <c>./run.sh</c> stack of its
/// own (two api replicas), drives mixed traffic through the gateway and kills in turn PostgreSQL, Redis, an api
/// replica, the worker, and reloads and restarts the gateway. Nothing here depends on timing: no response may be a 500
/// (or another 5xx than 503), every write acknowledged 2xx must be found afterwards, each piece must come back by
/// <c>./run.sh start</c>, and while Redis is down at least 90 % of the requests (none of which needs Redis) succeed.
/// </summary>
[ExpectedSeconds(230)]
public sealed class ChaosSuiteTests
{
    [Fact]
    public async Task Under_every_fault_no_response_is_a_500_and_no_acknowledged_write_is_lost()
    {
        var state = TestEnvironment.NewFolder("chaos");
        var results = Path.Combine(state, "results");
        var env = new Dictionary<string, string>
        {
            ["MISLATA_BENCH_STATE"] = Path.Combine(state, "stack"),
            ["MISLATA_CHAOS_RESULTS"] = results,
            ["MISLATA_SKIP_BUILD"] = "1",
            ["MISLATA_CONFIGURATION"] = TestEnvironment.Configuration,
            ["MISLATA_START_TIMEOUT"] = "400",
            ["MISLATA_PG_FSYNC"] = "off",
        };
        string output;
        try
        {
            output = await Processes.RunAsync("bash", [Path.Combine(TestEnvironment.RepositoryRoot, "bench", "chaos.sh"), "--quick"], env, TimeSpan.FromMinutes(15));
        }
        catch (InvalidOperationException ex)
        {
            // chaos.sh exits 1 on a 500, a lost write or a piece that did not come back: the table says which.
            var table = File.Exists(Path.Combine(results, "chaos-latest.md")) ? File.ReadAllText(Path.Combine(results, "chaos-latest.md")) : "(no table)";
            Assert.Fail($"bench/chaos.sh --quick failed: {ex.Message}\n{table}");
            return;
        }

        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(results, "chaos-latest.json")));
        var faults = doc.RootElement.GetProperty("faults").EnumerateArray().ToDictionary(f => f.GetProperty("fault").GetString()!, f => f, StringComparer.Ordinal);
        Assert.Equal(["api-replica", "gateway-reload", "gateway-restart", "postgres", "redis", "worker"], faults.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, fault) in faults)
        {
            Assert.True(fault.GetProperty("requests").GetInt32() > 0, $"{name}: no traffic\n{output}");
            Assert.True(fault.GetProperty("500").GetInt32() == 0 && fault.GetProperty("other5xx").GetInt32() == 0, $"{name}: 5xx other than 503\n{output}");
            Assert.True(fault.GetProperty("restoreRc").GetInt32() == 0, $"{name}: ./run.sh start did not bring it back\n{output}");
            Assert.True(fault.GetProperty("2xx").GetInt32() > 0, $"{name}: no request succeeded\n{output}");
        }

        var verify = doc.RootElement.GetProperty("verify");
        Assert.True(verify.GetProperty("acknowledged").GetInt32() > 0, $"no write was acknowledged\n{output}");
        Assert.True(verify.GetProperty("lost").GetInt32() == 0, $"acknowledged writes lost\n{output}");
        // Redis down: none of the mix needs it (API keys from memory, audit to PostgreSQL) — a share of successes, not a latency.
        Assert.True(faults["redis"].GetProperty("independentSuccessPct").GetDouble() >= 90, $"redis: too few successes during the outage\n{output}");
    }
}
