using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// PostgreSQL that answers but takes no writes — switched read-only, or out of disk for the tables written — under
/// steady reads: every audited write (create a key, create an API key, encrypt) is answered 503 <c>unavailable</c>
/// problem+json with <c>Retry-After</c> or succeeds, never anything else; every read answers 200; once PostgreSQL takes
/// writes again they succeed without restarting a service, and every write acknowledged before, during and after is there.
/// </summary>
public sealed partial class DependencyOutageTests
{
    [Fact]
    public async Task While_postgres_is_read_only_under_traffic_writes_answer_503_reads_200_and_nothing_acknowledged_is_lost()
    {
        // As a standby would: every new transaction is read-only (sessions pick it up on the reload).
        await WritesRefusedWhileReadsGoOnAsync(
            refuseWrites: async () =>
            {
                await fixture.ExecuteAsync("ALTER SYSTEM SET default_transaction_read_only = on");
                await fixture.ExecuteAsync("SELECT pg_reload_conf()");
            },
            takeWrites: async () =>
            {
                await fixture.ExecuteAsync("ALTER SYSTEM RESET default_transaction_read_only");
                await fixture.ExecuteAsync("SELECT pg_reload_conf()");
            },
            everyWriteRefused: true);
    }

    [Fact]
    public async Task While_the_disk_of_postgres_tables_is_full_writes_answer_503_reads_200_and_nothing_acknowledged_is_lost()
    {
        // The database's tables and indexes move to a tablespace on a small tmpfs of their own, which a file then fills
        // to the last byte, as another process filling the volume would: a write that needs a new page fails with
        // 53100 "could not extend file ... No space left on device". Writes that still fit in a page already allocated
        // may succeed: each must then be there afterwards.
        await using var volume = await SmallVolume.MountAsync(await fixture.ScalarAsync(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
            "WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"));
        await fixture.ExecuteAsync($"CREATE TABLESPACE small_volume LOCATION '{volume.Path}'");
        try
        {
            await fixture.ExecuteAsync("ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE small_volume");
            await fixture.ExecuteAsync("ALTER INDEX ALL IN TABLESPACE pg_default SET TABLESPACE small_volume");
            await WritesRefusedWhileReadsGoOnAsync(refuseWrites: volume.FillAsync, takeWrites: volume.FreeAsync, everyWriteRefused: false);

            // The refusals were the full disk's, not another failure's.
            Assert.Contains("No space left on device", await File.ReadAllTextAsync(fixture.Stack.Postgres.LogFile), StringComparison.Ordinal);
        }
        finally
        {
            volume.Free();
            await fixture.ExecuteAsync("ALTER TABLE ALL IN TABLESPACE small_volume SET TABLESPACE pg_default");
            await fixture.ExecuteAsync("ALTER INDEX ALL IN TABLESPACE small_volume SET TABLESPACE pg_default");
            await fixture.ExecuteAsync("DROP TABLESPACE small_volume");
        }
    }

    /// <summary>
    /// Writes before, during and after <paramref name="refuseWrites"/> .. <paramref name="takeWrites"/>, with reads
    /// (keys, API keys) in parallel all along. During: writes go on until one whole round is refused (503), then
    /// <see cref="Rounds"/> more; with <paramref name="everyWriteRefused"/> each of those must be 503, otherwise 2xx is
    /// allowed too (space left in a page) and then checked afterwards.
    /// </summary>
    private async Task WritesRefusedWhileReadsGoOnAsync(Func<Task> refuseWrites, Func<Task> takeWrites, bool everyWriteRefused)
    {
        using var client = await TenantClientAsync("keys:read", "keys:write", "apikeys:read", "apikeys:write", "encryption:write");
        var writes = new AcknowledgedWrites(client);
        var keyId = await writes.CreateKeyAsync("before") ?? throw new InvalidOperationException("no key before the outage");
        Assert.NotNull(await writes.CreateApiKeyAsync("before"));
        Assert.NotNull(await writes.EncryptAsync(keyId, "before"));
        var pids = fixture.Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList();

        using var stopReads = new CancellationTokenSource();
        var reads = new ConcurrentQueue<string>();
        var readers = Enumerable.Range(0, 2).Select(r => Task.Run(async () =>
        {
            while (!stopReads.IsCancellationRequested)
            {
                var path = r == 0 ? "/api/v1/keys" : "/api/v1/api-keys";
                using var read = await client.GetAsync(U(path));
                reads.Enqueue($"{(int)read.StatusCode} GET {path}" + (read.IsSuccessStatusCode ? string.Empty : " " + await read.Content.ReadAsStringAsync()));
                await Task.Delay(TimeSpan.FromMilliseconds(20));
            }
        })).ToList();

        await refuseWrites();
        try
        {
            // Until one round of the three writes is refused (bounded: a full disk may first fill the pages it has).
            var refusedRound = false;
            for (var round = 0; !refusedRound; round++)
            {
                Assert.True(round < 400, "PostgreSQL never refused a whole round of writes:\n" + writes);
                refusedRound = await writes.RoundAsync(keyId, $"during-{round}") == 0;
                await Task.Delay(TimeSpan.FromMilliseconds(50));
            }

            for (var round = 0; round < Rounds / 4; round++)
            {
                var acknowledged = await writes.RoundAsync(keyId, $"refused-{round}");
                Assert.True(!everyWriteRefused || acknowledged == 0, "a write was acknowledged by a read-only PostgreSQL:\n" + writes);
            }

            // Readiness tells it (Degraded, still 200: reads go on, so no load balancer takes the replica out).
            var (readyStatus, ready) = await ApiReadinessAsync();
            Assert.True(readyStatus == HttpStatusCode.OK && ready.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString() == "Degraded",
                $"api readiness while writes are refused: {(int)readyStatus} {ready}");
        }
        finally
        {
            await takeWrites();
        }

        // Back without a restart: the first of each write may still meet the end of the outage, then they succeed.
        var (status, _, body) = await TenancyFixture.EventuallyAsync(
            () => client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "after-" + Guid.NewGuid().ToString("N")[..6], algorithm = "AES-256-GCM" }),
            HttpStatusCode.Created, TimeSpan.FromSeconds(30));
        Assert.True(status == HttpStatusCode.Created, $"a write once PostgreSQL takes writes again: {(int)status} {body}");
        Assert.Equal(3, await writes.RoundAsync(keyId, "after"));
        var healthy = false;
        for (var attempt = 0; attempt < 60 && !healthy; attempt++)
        {
            healthy = (await ApiReadinessAsync()).Body.GetProperty("status").GetString() == "Healthy";
            await Task.Delay(healthy ? TimeSpan.Zero : TimeSpan.FromMilliseconds(250));
        }

        Assert.True(healthy, $"api readiness once writes are taken again: {(await ApiReadinessAsync()).Body}");
        await stopReads.CancelAsync();
        await Task.WhenAll(readers);

        Assert.True(reads.Count > 0 && reads.All(r => r.StartsWith("200 ", StringComparison.Ordinal)),
            $"reads while PostgreSQL took no writes ({reads.Count}): {string.Join("; ", reads.Where(r => !r.StartsWith("200 ", StringComparison.Ordinal)).Take(5))}");
        Assert.True(writes.Refused >= 3, "no write refused:\n" + writes);
        await writes.AssertAllPresentAsync();
        Assert.Equal(pids, fixture.Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList());
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> ApiReadinessAsync()
    {
        using var client = new HttpClient();
        using var response = await client.GetAsync(new Uri(fixture.Stack.Of("api").First().BaseAddress, "/health/ready"));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    /// <summary>The writes of one tenant client: what was acknowledged (to read back) and every answer, for the assertions.</summary>
    private sealed class AcknowledgedWrites(HttpClient client)
    {
        private readonly List<Guid> _keys = [];
        private readonly List<Guid> _apiKeys = [];
        private readonly List<(string Payload, string Plaintext)> _ciphertexts = [];
        private readonly List<string> _log = [];

        public int Refused { get; private set; }

        /// <summary>Creates a key, an API key and encrypts once: how many of the three were acknowledged.</summary>
        public async Task<int> RoundAsync(Guid keyId, string name) =>
            (await CreateKeyAsync(name) is null ? 0 : 1) + (await CreateApiKeyAsync(name) is null ? 0 : 1) + (await EncryptAsync(keyId, name) is null ? 0 : 1);

        public async Task<Guid?> CreateKeyAsync(string name)
        {
            var created = await SendAsync("POST /keys", client.PostAsJsonAsync(U("/api/v1/keys"), new { name = name + "-" + Guid.NewGuid().ToString("N")[..6], algorithm = "AES-256-GCM" }), HttpStatusCode.Created);
            var id = created?.GetProperty("id").GetGuid();
            _keys.AddRange(id is { } k ? [k] : []);
            return id;
        }

        public async Task<Guid?> CreateApiKeyAsync(string name)
        {
            var created = await SendAsync("POST /api-keys", client.PostAsJsonAsync(U("/api/v1/api-keys"), new { name, scopes = new[] { "keys:read" } }), HttpStatusCode.Created);
            var id = created?.GetProperty("id").GetGuid();
            _apiKeys.AddRange(id is { } k ? [k] : []);
            return id;
        }

        public async Task<string?> EncryptAsync(Guid keyId, string plaintext)
        {
            var encrypted = await SendAsync("POST /encrypt", client.PostAsJsonAsync(U("/api/v1/encrypt"), new { plaintext, keyId }), HttpStatusCode.OK);
            var payload = encrypted?.GetProperty("encryptedPayload").GetString();
            _ciphertexts.AddRange(payload is { } p ? [(p, plaintext)] : []);
            return payload;
        }

        /// <summary>Every key and API key acknowledged is there, every ciphertext decrypts to its plaintext.</summary>
        public async Task AssertAllPresentAsync()
        {
            foreach (var id in _keys)
            {
                using var read = await client.GetAsync(U($"/api/v1/keys/{id}"));
                Assert.True(read.StatusCode == HttpStatusCode.OK, $"acknowledged key {id}: {(int)read.StatusCode}");
            }

            foreach (var id in _apiKeys)
            {
                using var read = await client.GetAsync(U($"/api/v1/api-keys/{id}"));
                Assert.True(read.StatusCode == HttpStatusCode.OK, $"acknowledged API key {id}: {(int)read.StatusCode}");
            }

            foreach (var (payload, plaintext) in _ciphertexts)
            {
                using var decrypted = await client.PostAsJsonAsync(U("/api/v1/decrypt"), new { encryptedPayload = payload });
                var body = await decrypted.Content.ReadAsStringAsync();
                Assert.True(decrypted.StatusCode == HttpStatusCode.OK, $"decrypt of an acknowledged ciphertext: {(int)decrypted.StatusCode} {body}");
                Assert.Equal(plaintext, JsonDocument.Parse(body).RootElement.GetProperty("plaintext").GetString());
            }
        }

        public override string ToString() => string.Join('\n', _log.TakeLast(30));

        /// <summary>The acknowledged answer, or null for a 503 that is a proper refusal; any other answer fails the test.</summary>
        private async Task<JsonElement?> SendAsync(string what, Task<HttpResponseMessage> send, HttpStatusCode success)
        {
            using var response = await send;
            var body = await response.Content.ReadAsStringAsync();
            _log.Add($"{what} {(int)response.StatusCode}");
            if (response.StatusCode == success)
            {
                return JsonDocument.Parse(body).RootElement;
            }

            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{what}: {(int)response.StatusCode} {body}\n{this}");
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("unavailable", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
            Refused++;
            return null;
        }
    }

    /// <summary>
    /// A tmpfs of its own for a tablespace, owned by the cluster's user (root mounts it, as test.sh's PostgreSQL runs as
    /// <c>postgres</c> then; otherwise <c>sudo -n</c>): this test needs the right to mount a filesystem, and fails, saying
    /// so, without it.
    /// </summary>
    private sealed class SmallVolume : IAsyncDisposable
    {
        private SmallVolume(string path) => Path = path;

        public string Path { get; }

        private string Filler => System.IO.Path.Combine(Path, "filler");

        /// <summary>Room for <paramref name="bytes"/> of tables and 8 MiB more (the moves need a copy's worth of room in turn).</summary>
        public static async Task<SmallVolume> MountAsync(long bytes)
        {
            var path = TestEnvironment.NewFolder("small-volume");
            var asRoot = Environment.UserName == "root";
            var owner = asRoot ? (await Processes.RunAsync("id", ["-u", "postgres"])).Trim() : (await Processes.RunAsync("id", ["-u"])).Trim();
            var size = ((bytes * 2) + (8L << 20)).ToString(CultureInfo.InvariantCulture);
            string[] mount = ["mount", "-t", "tmpfs", "-o", $"size={size},mode=0700,uid={owner}", "small-volume", path];
            try
            {
                await (asRoot ? Processes.RunAsync(mount[0], mount[1..]) : Processes.RunAsync("sudo", ["-n", .. mount]));
            }
            catch (InvalidOperationException e)
            {
                Assert.Fail("this test mounts a small tmpfs for PostgreSQL's tables (root or passwordless sudo): " + e.Message);
            }

            return new SmallVolume(path);
        }

        /// <summary>Writes a file until the filesystem has no byte left.</summary>
        public async Task FillAsync()
        {
            await using var file = new FileStream(Filler, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
            foreach (var chunk in new[] { 1 << 20, 4096, 1 })
            {
                var buffer = new byte[chunk];
                try
                {
                    while (true)
                    {
                        await file.WriteAsync(buffer);
                    }
                }
                catch (IOException)
                {
                    // No space left for this chunk: try a smaller one.
                }
            }

            Assert.True(new DriveInfo(Path).AvailableFreeSpace == 0, "the small volume still has room");
        }

        public Task FreeAsync()
        {
            Free();
            return Task.CompletedTask;
        }

        public void Free() => File.Delete(Filler);

        public async ValueTask DisposeAsync()
        {
            Free();
            var umount = new[] { "umount", "-l", Path };
            await (Environment.UserName == "root" ? Processes.RunAsync(umount[0], umount[1..]) : Processes.RunAsync("sudo", ["-n", .. umount]));
        }
    }
}
