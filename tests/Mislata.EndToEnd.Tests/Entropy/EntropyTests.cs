using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.EndToEnd.Tests.Tenancy;
using Mislata.Infrastructure.Entropy;
using StackExchange.Redis;

namespace Mislata.EndToEnd.Tests.Entropy;

/// <summary>A platform whose worker reads a simulated HTTP QRNG (fast watermarks and reseeds, so the tests see changes in seconds).</summary>
public sealed class QrngFixture : TenancyFixture
{
    public SimulatedQrngServer Qrng { get; } = SimulatedQrngServer.Start();

    protected override StackOptions Options() => new()
    {
        Environment = new Dictionary<string, string?>
        {
            ["FailedCredentials__PerMinute"] = RaisedFailedCredentialLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [EntropyOptions.UrlVariable] = Qrng.Url,
            ["Entropy__BlockSize"] = "256",
            ["Entropy__LowWatermark"] = "4",
            ["Entropy__HighWatermark"] = "8",
            ["Entropy__FillInterval"] = "00:00:00.500",
            ["Entropy__ReseedInterval"] = "00:00:01",
            ["Entropy__LocalBlocks"] = "1",
        },
    };

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Qrng.DisposeAsync();
    }
}

/// <summary>
/// Entropy in production (issue 12): with a simulated QRNG the pool fills (sealed, never in clear) and <c>/random</c>
/// reports <c>qrng</c>; when the source gets stuck its blocks are rejected, the platform falls back to OS entropy and
/// says so, and readiness is degraded but ready; with Redis down <c>/random</c> still answers.
/// </summary>
[ExpectedSeconds(25)]
public sealed class QrngEntropyTests(QrngFixture fixture) : IClassFixture<QrngFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task The_pool_fills_random_reports_qrng_then_a_stuck_source_falls_back_to_os()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant);
        using var client = fixture.WithKey(key);

        // Healthy source: the worker fills the pool, the api reseeds from it.
        Assert.Equal("qrng", await EventuallySourceAsync(client, "qrng"));
        Assert.True(fixture.Qrng.Served > 0);
        var (apiStatus, apiEntropy) = await EntropyHealthAsync("api");
        Assert.Equal(("Healthy", true), (apiStatus, apiEntropy.Contains("source http-qrng healthy", StringComparison.Ordinal)));
        Assert.Contains("drbg qrng", apiEntropy, StringComparison.Ordinal);

        // Marker: the pool's blocks are in Redis only sealed; opened with the master key, none of their bytes appear in
        // any Redis value (of any key).
        await AssertNoPoolBlockInClearAsync();

        // Stuck source: its blocks are rejected and the pool drains (emptied here, as heavy use would); the api's
        // next reseeds are OS-only and /random says so. Readiness stays 200, degraded.
        fixture.Qrng.Stuck = true;
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Stack.Redis.Configuration))
        {
            var deadline = DateTime.UtcNow + Patience;
            string worker;
            do
            {
                await redis.GetDatabase().KeyDeleteAsync(RedisEntropyPool.PoolKey);
                await Task.Delay(250);
                (_, worker) = await EntropyHealthAsync("worker");
            }
            while (!worker.Contains("unhealthy", StringComparison.Ordinal) && DateTime.UtcNow < deadline);
            Assert.Contains("source http-qrng unhealthy", worker, StringComparison.Ordinal);
            Assert.Contains("repetition count test", worker, StringComparison.Ordinal);
            Assert.Equal(0, await redis.GetDatabase().ListLengthAsync(RedisEntropyPool.PoolKey));
        }

        Assert.Equal("os", await EventuallySourceAsync(client, "os"));
        var (status, entropy) = await EntropyHealthAsync("api");
        Assert.Equal("Degraded", status);
        Assert.Contains("drbg os", entropy, StringComparison.Ordinal);
        var (gatewayStatus, _) = await fixture.Stack.WaitHealthAsync(HttpStatusCode.OK, Patience);
        Assert.Equal(HttpStatusCode.OK, gatewayStatus);

        // The source recovers: QRNG again, without a restart.
        fixture.Qrng.Stuck = false;
        Assert.Equal("qrng", await EventuallySourceAsync(client, "qrng"));
    }

    [Fact]
    public async Task With_redis_down_random_still_answers_from_the_drbg_never_500()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant);
        using var client = fixture.WithKey(key);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync(new Uri("/api/v1/random", UriKind.Relative), new { bytes = 16 })).StatusCode);

        await fixture.Stack.Redis.StopAsync();
        try
        {
            // Every call answers 200. The api first uses the QRNG bytes it already holds in memory (a popped block lasts
            // several reseeds), then reseeds on OS entropy only and says so.
            var deadline = DateTime.UtcNow + Patience;
            string source;
            do
            {
                using var response = await client.PostAsJsonAsync(new Uri("/api/v1/random", UriKind.Relative), new { bytes = 32 });
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"/random with Redis down: {(int)response.StatusCode} {body}");
                var root = JsonDocument.Parse(body).RootElement;
                Assert.Equal(32, Convert.FromBase64String(root.GetProperty("random").GetString()!).Length);
                source = root.GetProperty("source").GetString()!;
                Assert.Contains(source, new[] { "qrng", "os" });
                await Task.Delay(500);
            }
            while (source != "os" && DateTime.UtcNow < deadline);
            Assert.Equal("os", source);

            var (status, entropy) = await EntropyHealthAsync("api", HttpStatusCode.ServiceUnavailable);
            Assert.Equal("Degraded", status); // the api is not ready (Redis check), entropy itself only degraded
            Assert.Contains("pool unreachable", entropy, StringComparison.Ordinal);
        }
        finally
        {
            await fixture.Stack.Redis.StartAsync();
            await fixture.Stack.WaitHealthyAsync(Patience);
        }
    }

    private static async Task<string> RandomSourceAsync(HttpClient client)
    {
        using var response = await client.PostAsJsonAsync(new Uri("/api/v1/random", UriKind.Relative), new { bytes = 64 });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"/random: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("source").GetString()!;
    }

    private static async Task<string> EventuallySourceAsync(HttpClient client, string expected)
    {
        var deadline = DateTime.UtcNow + Patience;
        string source;
        do
        {
            source = await RandomSourceAsync(client);
            if (source == expected)
            {
                return source;
            }

            await Task.Delay(250);
        }
        while (DateTime.UtcNow < deadline);
        return source;
    }

    /// <summary>The <c>entropy</c> check of a service's <c>/health/ready</c> through the gateway: (status, description).</summary>
    private async Task<(string Status, string Description)> EntropyHealthAsync(string service, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var client = fixture.Stack.Gateway.CreateClient();
        using var response = await client.GetAsync(new Uri($"/health/{service}", UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"/health/{service}: {(int)response.StatusCode} {body}");
        var check = JsonDocument.Parse(body).RootElement.GetProperty("checks").GetProperty("entropy");
        return (check.GetProperty("status").GetString()!, check.GetProperty("description").GetString()!);
    }

    private async Task AssertNoPoolBlockInClearAsync()
    {
        using var ring = await fixture.Stack.PlatformKeyAsync();
        var sealer = new EntropyBlockSealer(ring, RedisEntropyPool.PoolKey);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Stack.Redis.Configuration + ",allowAdmin=true");
        var db = redis.GetDatabase();
        var sealedBlocks = (await db.ListRangeAsync(RedisEntropyPool.PoolKey)).Select(v => (byte[])v!).ToList();
        Assert.NotEmpty(sealedBlocks);
        var blocks = sealedBlocks.Select(b => sealer.TryOpen(b) ?? throw new Xunit.Sdk.XunitException("a pool block does not open")).ToList();

        var values = new List<byte[]>();
        foreach (var redisKey in redis.GetServer(redis.GetEndPoints()[0]).Keys(pattern: "*"))
        {
            values.Add(System.Text.Encoding.UTF8.GetBytes(redisKey.ToString()));
            switch (await db.KeyTypeAsync(redisKey))
            {
                case RedisType.String:
                    values.Add((byte[])(await db.StringGetAsync(redisKey))! ?? []);
                    break;
                case RedisType.Hash:
                    values.AddRange((await db.HashGetAllAsync(redisKey)).Select(e => (byte[])e.Value!));
                    break;
                case RedisType.List:
                    values.AddRange((await db.ListRangeAsync(redisKey)).Select(v => (byte[])v!));
                    break;
                case RedisType.Set:
                    values.AddRange((await db.SetMembersAsync(redisKey)).Select(v => (byte[])v!));
                    break;
                case RedisType.SortedSet:
                    values.AddRange((await db.SortedSetRangeByRankAsync(redisKey)).Select(v => (byte[])v!));
                    break;
            }
        }

        foreach (var block in blocks)
        {
            for (var offset = 0; offset + 16 <= block.Length; offset += 16)
            {
                var marker = block.AsSpan(offset, 16).ToArray();
                var hex = System.Text.Encoding.ASCII.GetBytes(Convert.ToHexString(marker));
                var base64 = System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String(marker)[..20]);
                Assert.All(values, v =>
                {
                    Assert.Equal(-1, v.AsSpan().IndexOf(marker));
                    Assert.Equal(-1, v.AsSpan().IndexOf(hex));
                    Assert.Equal(-1, v.AsSpan().IndexOf(base64));
                });
            }
        }
    }
}

/// <summary>With no QRNG configured (the tenancy platform), the platform runs on OS entropy and says so.</summary>
[Collection(TenancyCollection.Name)]
public sealed class NoQrngEntropyTests(TenancyFixture fixture)
{
    [Fact]
    public async Task Without_a_qrng_random_reports_os_and_readiness_says_no_qrng_is_configured()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant);
        using var client = fixture.WithKey(key);
        using var response = await client.PostAsJsonAsync(new Uri("/api/v1/random", UriKind.Relative), new { bytes = 32 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("os", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("source").GetString());

        using var gateway = fixture.Stack.Gateway.CreateClient();
        foreach (var service in new[] { "api", "worker" })
        {
            var body = await gateway.GetStringAsync(new Uri($"/health/{service}", UriKind.Relative));
            var check = JsonDocument.Parse(body).RootElement.GetProperty("checks").GetProperty("entropy");
            Assert.Equal("Healthy", check.GetProperty("status").GetString());
            Assert.Equal("os (no QRNG configured)", check.GetProperty("description").GetString());
        }
    }
}
