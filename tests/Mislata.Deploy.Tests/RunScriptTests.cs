using System.Diagnostics;

namespace Mislata.Deploy.Tests;

/// <summary>
/// run.sh's secrets files, replica layout and master key ids, checked by sourcing run.sh (it then only defines its
/// functions) in bash: no stack is started. The processes it starts (replicas, supervisors), backup and restore are
/// checked by the end-to-end ScaleOutTests and BackupRestoreTests through ./run.sh itself, and the passwords it hands to
/// stack.sh by the end-to-end CommandLineTests.
/// </summary>
public sealed class RunScriptTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("mislata-runsh-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    [Theory]
    [InlineData("with spaces and a $HOME and $(id) and `id`")]
    [InlineData("quotes ' and \" and \\ backslash")]
    [InlineData("''")]
    [InlineData("line one\nline two")]
    public void Env_files_give_back_every_value_when_sourced(string value)
    {
        var output = Bash(
            """
            . "$ROOT/run.sh"
            env_line QAPI_ADMIN_PASSWORD "$VALUE" > "$STATE/x.env"
            unset VALUE QAPI_ADMIN_PASSWORD
            . "$STATE/x.env"
            printf '%s' "$QAPI_ADMIN_PASSWORD"
            """,
            new() { ["VALUE"] = value });
        Assert.Equal(value, output);
    }

    [Fact]
    public void Secrets_are_generated_once_kept_private_and_reported_as_a_first_start_only_once()
    {
        const string Script =
            """
            . "$ROOT/run.sh"
            ensure_secrets
            printf 'first=%s\n' "$FIRST_START"
            stat -c '%a %n' "$STATE/secrets/stack.env" "$STATE/secrets/master.key"
            printf 'api=%s\n' "$PG_API_PASSWORD"
            """;
        var first = Lines(Bash(Script, new() { ["QAPI_ADMIN_PASSWORD"] = "it's a \"pass\" with $ and spaces" }));
        var second = Lines(Bash(Script, []));

        Assert.Equal("first=1", first[0]);
        Assert.Equal("first=0", second[0]);
        Assert.Equal($"600 {_state}/secrets/stack.env", first[1]);
        Assert.Equal($"600 {_state}/secrets/master.key", first[2]);
        Assert.Equal(first[3], second[3]);
        Assert.True(first[3].Length > "api=".Length + 16, "the api role's password is generated");

        var stored = Bash(""". "$STATE/secrets/stack.env"; printf '%s' "$QAPI_ADMIN_PASSWORD" """, []);
        Assert.Equal("it's a \"pass\" with $ and spaces", stored);
        var names = File.ReadAllLines(Path.Combine(_state, "secrets", "stack.env"))
            .Where(l => !l.StartsWith('#'))
            .Select(l => l[..l.IndexOf('=', StringComparison.Ordinal)])
            .ToHashSet(StringComparer.Ordinal);
        foreach (var name in new[] { "PG_PASSWORD", "PG_OWNER_PASSWORD", "PG_IDENTITY_PASSWORD", "PG_API_PASSWORD", "PG_WORKER_PASSWORD",
                     "REDIS_PASSWORD", "REDIS_IDENTITY_PASSWORD", "REDIS_API_PASSWORD", "REDIS_WORKER_PASSWORD" })
        {
            Assert.Contains(name, names);
        }
    }

    [Fact]
    public void Master_key_ids_are_those_the_services_compute()
    {
        for (var i = 0; i < 5; i++)
        {
            var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
            File.WriteAllText(Path.Combine(_state, "master.key"), key + "\n");
            using var ring = Mislata.Crypto.Envelope.MasterKeyRing.FromBase64(key, null);
            Assert.Equal(ring.Current.Id, Bash(""". "$ROOT/run.sh"; master_key_id "$STATE/master.key" """, []).Trim());
        }
    }

    [Fact]
    public void A_master_key_that_is_not_32_bytes_has_no_id()
    {
        File.WriteAllText(Path.Combine(_state, "master.key"), Convert.ToBase64String(new byte[16]));
        Assert.Contains("exit=1", Bash(""". "$ROOT/run.sh"; set +e; (master_key_id "$STATE/master.key") 2>/dev/null; echo "exit=$?" """, []), StringComparison.Ordinal);
    }

    [Fact]
    public void Replica_i_listens_on_the_base_port_plus_i_and_the_gateway_lists_every_replica()
    {
        var output = Lines(Bash(
            """
            . "$ROOT/run.sh"
            replica_addresses api
            replica_addresses identity
            replica_addresses worker
            replica_name api 0; replica_name api 2
            """,
            new() { ["MISLATA_API_REPLICAS"] = "3", ["MISLATA_API_PORT"] = "6000", ["MISLATA_IDENTITY_REPLICAS"] = "2", ["MISLATA_IDENTITY_PORT"] = "7000", ["MISLATA_WORKER_PORT"] = "8000" }));
        Assert.Equal(["127.0.0.1:6000,127.0.0.1:6001,127.0.0.1:6002", "127.0.0.1:7000,127.0.0.1:7001", "127.0.0.1:8000", "api", "api-2"], output);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("33")]
    [InlineData("two")]
    [InlineData("-1")]
    public void A_replica_count_out_of_range_is_refused(string count)
    {
        var output = Bash(""". "$ROOT/run.sh"; set +e; (replicas_of api) 2>&1; echo "exit=$?" """, new() { ["MISLATA_API_REPLICAS"] = count });
        Assert.Contains("MISLATA_API_REPLICAS must be a number from 1 to 32", output, StringComparison.Ordinal);
        Assert.Contains("exit=1", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Status_shows_every_replica_that_runs_even_when_the_count_asked_for_now_is_lower()
    {
        var output = Bash(
            """
            . "$ROOT/run.sh"
            mkdir -p "$STATE/run"
            sleep 30 & sleeper=$!
            echo "$sleeper" > "$STATE/run/api-2.supervisor.pid"
            echo 7000 > "$STATE/run/api.port"
            status
            kill "$sleeper"
            """,
            new() { ["MISLATA_API_PORT"] = "7000", ["MISLATA_HTTPS_PORT"] = "1" });
        Assert.Contains("api: stopped", output, StringComparison.Ordinal);
        Assert.Contains("api-1: stopped", output, StringComparison.Ordinal);
        Assert.Matches(@"api-2: restarting \(port 7002, supervisor pid \d+\)", output);
        Assert.DoesNotContain("api-3", output, StringComparison.Ordinal);
        Assert.Contains("identity: stopped", output, StringComparison.Ordinal);
        Assert.DoesNotContain("identity-1", output, StringComparison.Ordinal);
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private string Bash(string script, Dictionary<string, string> environment)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.Environment["ROOT"] = RepositoryFiles.Root;
        psi.Environment["STATE"] = _state;
        psi.Environment["MISLATA_STATE_DIR"] = _state;
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("QAPI_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(name);
        }

        foreach (var (name, value) in environment)
        {
            psi.Environment[name] = value;
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "bash did not finish");
        Assert.True(process.ExitCode == 0, $"bash exited {process.ExitCode}: {stderr}");
        return stdout.Result;
    }
}
