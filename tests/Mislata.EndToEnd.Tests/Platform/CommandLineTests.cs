using System.Collections.Concurrent;
using System.Text;
using Npgsql;
using StackExchange.Redis;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// Passwords never go on a command line: every process's arguments are world-readable (ps, /proc/PID/cmdline).
/// While a PostgreSQL cluster, a database with its roles and a Redis server with its users are set up through
/// scripts/stack.sh (as ./run.sh and the fixtures do), every command line on the machine is sampled.
/// </summary>
public sealed class CommandLineTests
{
    [Fact]
    public async Task Setting_up_postgres_and_redis_never_puts_a_password_on_a_command_line()
    {
        using var stop = new CancellationTokenSource();
        var seen = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        var sampler = Task.Run(() => SampleCommandLines(seen, stop.Token));

        PostgresInstance? postgres = null;
        RedisInstance? redis = null;
        try
        {
            postgres = await PostgresInstance.StartOwnAsync();
            var logins = await postgres.CreateDatabaseWithRolesAsync("argv");
            redis = await RedisInstance.LaunchAsync();
            await stop.CancelAsync();
            await sampler;

            var secrets = new List<string> { postgres.Password, redis.Password };
            secrets.AddRange(logins.Services.Values.Append(logins.Migrations).Select(c => new NpgsqlConnectionStringBuilder(c).Password!));
            secrets.AddRange(new[] { "identity", "api", "worker" }.Select(s => ConfigurationOptions.Parse(redis.ConfigurationFor(s)).Password!));

            // The sampler did watch the set-up: initdb alone keeps "stack.sh pg-init" alive for a while.
            Assert.Contains(seen.Keys, c => c.Contains("stack.sh pg-init", StringComparison.Ordinal));
            foreach (var secret in secrets)
            {
                var leak = seen.Keys.FirstOrDefault(c => c.Contains(secret, StringComparison.Ordinal));
                Assert.True(leak is null, $"a password is on the command line: {leak?.Replace(secret, "<password>", StringComparison.Ordinal)}");
            }
        }
        finally
        {
            await stop.CancelAsync();
            await sampler;
            if (redis is not null)
            {
                await redis.DisposeAsync();
            }

            if (postgres is not null)
            {
                await postgres.DisposeAsync();
            }
        }
    }

    private static async Task SampleCommandLines(ConcurrentDictionary<string, byte> seen, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var process in Directory.EnumerateDirectories("/proc"))
            {
                if (!Path.GetFileName(process).All(char.IsAsciiDigit))
                {
                    continue;
                }

                try
                {
                    var bytes = await File.ReadAllBytesAsync(Path.Combine(process, "cmdline"), CancellationToken.None);
                    if (bytes.Length > 0)
                    {
                        seen.TryAdd(Encoding.UTF8.GetString(bytes).Replace('\0', ' '), 0);
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // The process ended while it was read.
                }
            }

            await Task.Delay(5, CancellationToken.None);
        }
    }
}
