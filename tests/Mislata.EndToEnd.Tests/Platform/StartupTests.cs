using Npgsql;

namespace Mislata.EndToEnd.Tests.Platform;

public sealed class StartupTests
{
    public static TheoryData<string, string?> BadMasterKeys()
    {
        var data = new TheoryData<string, string?>();
        foreach (var service in new[] { "identity", "api", "worker" })
        {
            data.Add(service, null);
            data.Add(service, Convert.ToBase64String(new byte[31]));
            data.Add(service, "not base64 at all!");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(BadMasterKeys))]
    public async Task A_missing_or_malformed_master_key_stops_the_service_with_one_line_naming_the_variable(string service, string? masterKey)
    {
        await using var process = ServiceProcess.Start(service, 0, new Dictionary<string, string?>
        {
            ["QAPI_MASTER_KEY"] = masterKey,
            ["QAPI_POSTGRES"] = "Host=127.0.0.1;Port=1;Database=none",
            ["QAPI_REDIS"] = "127.0.0.1:1",
        });

        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        var lines = process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        Assert.NotEqual(0, exitCode);
        var line = Assert.Single(lines);
        Assert.Contains("QAPI_MASTER_KEY", line, StringComparison.Ordinal);
        if (masterKey is not null)
        {
            Assert.DoesNotContain(masterKey, line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Two_api_processes_started_together_on_an_empty_database_both_come_up_and_migrate_once()
    {
        await using var postgres = await PostgresInstance.SharedOrOwnAsync();
        var database = await postgres.CreateDatabaseAsync("migrate");
        await using var redis = await RedisInstance.LaunchAsync();
        var env = new Dictionary<string, string?>
        {
            ["QAPI_MASTER_KEY"] = TestEnvironment.NewMasterKey(),
            ["QAPI_POSTGRES"] = database,
            ["QAPI_REDIS"] = redis.Configuration,
        };

        await using var first = ServiceProcess.Start("api", 0, env);
        await using var second = ServiceProcess.Start("api", 0, env);
        await Task.WhenAll(first.WaitLiveAsync(MislataStack.StartTimeout), second.WaitLiveAsync(MislataStack.StartTimeout));

        using var client = new HttpClient();
        Assert.True((await client.GetAsync(new Uri(first.BaseAddress, "/health/ready"))).IsSuccessStatusCode);
        Assert.True((await client.GetAsync(new Uri(second.BaseAddress, "/health/ready"))).IsSuccessStatusCode);

        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        foreach (var schema in new[] { "mislata", "identity" })
        {
            await using var command = new NpgsqlCommand(
                $"SELECT count(*), count(DISTINCT \"MigrationId\") FROM \"{schema}\".\"__EFMigrationsHistory\"", connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            Assert.True(reader.GetInt64(0) >= 1);
            Assert.Equal(reader.GetInt64(1), reader.GetInt64(0));

            // Exactly one of the two processes applied this schema's migrations; the other found it up to date.
            var applied = new[] { first, second }.Count(p => p.Output.Contains($"migration(s) to schema {schema}", StringComparison.Ordinal));
            var upToDate = new[] { first, second }.Count(p => p.Output.Contains($"Schema {schema} is up to date", StringComparison.Ordinal));
            Assert.Equal(1, applied);
            Assert.Equal(1, upToDate);
        }
    }
}
