using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Entropy;
using Mislata.Worker.Features.Entropy;
using StackExchange.Redis;

namespace Mislata.Worker.Tests.Entropy;

/// <summary>
/// The entropy pool over a real Redis with the services' own ACL users: the worker's filler (watermarks, health-tested
/// and sealed blocks, one filler at a time) and the api's side (atomic pop, decrypt, DRBG reseed and its fallbacks).
/// Sources are character devices: /dev/urandom plays a healthy QRNG card, /dev/zero a stuck one.
/// </summary>
public sealed class EntropyPoolTests : IAsyncLifetime
{
    private readonly PlatformKey _platformKey = PlatformKey.Generate();
    private readonly List<IDisposable> _disposables = [];
    private RedisInstance? _redis;
    private ConnectionMultiplexer? _worker;
    private ConnectionMultiplexer? _api;
    private ConnectionMultiplexer? _operator;

    private RedisInstance Redis => _redis!;

    public async Task InitializeAsync()
    {
        _redis = await RedisInstance.LaunchAsync();
        _worker = await Connect(Redis.ConfigurationFor("worker"));
        _api = await Connect(Redis.ConfigurationFor("api"));
        _operator = await Connect(Redis.Configuration);
    }

    public async Task DisposeAsync()
    {
        foreach (var d in _disposables)
        {
            d.Dispose();
        }

        foreach (var c in new[] { _worker, _api, _operator })
        {
            if (c is not null)
            {
                await c.DisposeAsync();
            }
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        _platformKey.Dispose();
    }

    private static async Task<ConnectionMultiplexer> Connect(string configuration) =>
        await ConnectionMultiplexer.ConnectAsync(configuration + ",abortConnect=false,connectRetry=1,connectTimeout=1000,syncTimeout=2000,asyncTimeout=2000");

    private static EntropyOptions Options(string device = "", int low = 4, int high = 10) =>
        new() { QrngDevice = device, BlockSize = 256, LowWatermark = low, HighWatermark = high, FillInterval = TimeSpan.FromMilliseconds(200) };

    private EntropyBlockSealer Sealer => new(_platformKey, RedisEntropyPool.PoolKey);

    private (EntropyPoolFiller Filler, MetricsProbe Metrics) Filler(EntropyOptions options)
    {
        var probe = new MetricsProbe();
        _disposables.Add(probe);
        var filler = new EntropyPoolFiller(new RedisEntropyPool(_worker!), Sealer, probe.Metrics, Microsoft.Extensions.Options.Options.Create(options),
            new NoHttp(), TimeProvider.System, NullLogger<EntropyPoolFiller>.Instance);
        _disposables.Add(filler);
        return (filler, probe);
    }

    private async Task<long> Level() => await _operator!.GetDatabase().ListLengthAsync(RedisEntropyPool.PoolKey);

    [Fact]
    public async Task The_filler_fills_to_the_high_watermark_only_when_the_pool_is_below_the_low_one()
    {
        var (filler, probe) = Filler(Options("/dev/urandom"));
        Assert.Equal(10, await filler.RunOnceAsync(CancellationToken.None));
        Assert.Equal(10, await Level());
        var api = new RedisEntropyPool(_api!);
        for (var i = 0; i < 6; i++)
        {
            Assert.NotNull(await api.PopAsync());
        }

        Assert.Equal(0, await filler.RunOnceAsync(CancellationToken.None)); // 4 left: not below the low watermark
        Assert.Equal(4, await Level());
        Assert.NotNull(await api.PopAsync());
        Assert.Equal(7, await filler.RunOnceAsync(CancellationToken.None)); // 3 left: refilled up to 10
        Assert.Equal(10, await Level());
        Assert.True(probe.Sum("mislata.entropy.blocks.accepted") >= 17);
        Assert.Equal(0, probe.Sum("mislata.entropy.blocks.rejected"));

        var status = await api.ReadStatusAsync();
        Assert.NotNull(status);
        Assert.Equal(("device-qrng", true, 0L), (status.Source, status.Healthy, status.Rejected));
    }

    [Fact]
    public async Task No_pool_block_is_stored_in_clear()
    {
        var (filler, _) = Filler(Options("/dev/urandom"));
        Assert.Equal(10, await filler.RunOnceAsync(CancellationToken.None));

        var stored = (await _operator!.GetDatabase().ListRangeAsync(RedisEntropyPool.PoolKey)).Select(v => (byte[])v!).ToList();
        Assert.Equal(10, stored.Count);
        foreach (var blob in stored)
        {
            var block = Sealer.TryOpen(blob);
            Assert.NotNull(block);
            Assert.Equal(256, block.Length);

            // No 16-byte run of any block appears in any stored value.
            for (var offset = 0; offset + 16 <= block.Length; offset += 16)
            {
                Assert.All(stored, value => Assert.Equal(-1, value.AsSpan().IndexOf(block.AsSpan(offset, 16))));
            }
        }
    }

    [Fact]
    public async Task A_stuck_source_is_rejected_counted_and_reported_and_nothing_enters_the_pool()
    {
        var (filler, probe) = Filler(Options("/dev/zero"));
        Assert.Equal(0, await filler.RunOnceAsync(CancellationToken.None));
        Assert.Equal(0, await Level());
        Assert.Equal(EntropyPoolFiller.MaxConsecutiveRejections, probe.Sum("mislata.entropy.blocks.rejected"));
        Assert.Equal(0, probe.Last("mislata.entropy.source.healthy"));

        var status = await new RedisEntropyPool(_api!).ReadStatusAsync();
        Assert.Equal(("device-qrng", false, (long)EntropyPoolFiller.MaxConsecutiveRejections, "repetition count test"),
            (status!.Source, status.Healthy, status.Rejected, status.LastRejection));

        // The api sees an empty pool, says why, and its DRBG runs on OS entropy; readiness is degraded, not unhealthy.
        var (service, drbg, buffer, _) = ApiSide();
        Assert.False(await service.TryStockOneAsync());
        Assert.Equal("QRNG pool empty (source unhealthy: repetition count test)", buffer.FallbackReason);
        Assert.Equal(MixedDrbg.SourceOs, drbg.FillReportingSource(new byte[32]));
        var health = await HealthOf(drbg, Options("/dev/zero"));
        Assert.Equal(HealthStatus.Degraded, health.Status);
        Assert.Contains("unhealthy", health.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_replays_the_same_bytes_yields_one_block_only()
    {
        var path = Path.Combine(TestEnvironment.NewFolder("qrng"), "replaying");
        await File.WriteAllBytesAsync(path, System.Security.Cryptography.RandomNumberGenerator.GetBytes(4096));
        var (filler, probe) = Filler(Options(path));
        Assert.Equal(1, await filler.RunOnceAsync(CancellationToken.None));
        Assert.Equal(EntropyPoolFiller.MaxConsecutiveRejections, probe.Sum("mislata.entropy.blocks.rejected"));
    }

    [Fact]
    public async Task A_missing_device_is_a_source_error_and_the_round_stops()
    {
        var (filler, probe) = Filler(Options("/nonexistent/qrng"));
        Assert.Equal(0, await filler.RunOnceAsync(CancellationToken.None));
        Assert.Equal(1, probe.Sum("mislata.entropy.blocks.rejected"));
        Assert.Equal("source error", (await new RedisEntropyPool(_api!).ReadStatusAsync())!.LastRejection);
    }

    [Fact]
    public async Task Only_the_lock_holder_fills()
    {
        var (first, _) = Filler(Options("/dev/urandom"));
        var (second, _) = Filler(Options("/dev/urandom"));
        Assert.Equal(10, await first.RunOnceAsync(CancellationToken.None));
        await _operator!.GetDatabase().KeyDeleteAsync(RedisEntropyPool.PoolKey);

        Assert.Equal(0, await second.RunOnceAsync(CancellationToken.None)); // the first one holds the lock
        Assert.Equal(0, await Level());
        Assert.Equal(10, await first.RunOnceAsync(CancellationToken.None));

        // The holder stops (releases its lock): the other takes over.
        await first.StartAsync(CancellationToken.None);
        await first.StopAsync(CancellationToken.None);
        await _operator.GetDatabase().KeyDeleteAsync(RedisEntropyPool.PoolKey);
        Assert.Equal(10, await second.RunOnceAsync(CancellationToken.None));
    }

    [Fact]
    public async Task With_no_qrng_configured_the_filler_says_so_and_the_api_runs_on_os()
    {
        var (filler, _) = Filler(Options());
        Assert.Equal(0, await filler.RunOnceAsync(CancellationToken.None));
        Assert.Equal(EntropySourceStatus.NoSource, (await new RedisEntropyPool(_api!).ReadStatusAsync())!.Source);

        var (service, drbg, buffer, _) = ApiSide();
        Assert.False(await service.TryStockOneAsync());
        Assert.Equal("no QRNG configured", buffer.FallbackReason);
        Assert.Equal(MixedDrbg.SourceOs, drbg.FillReportingSource(new byte[32]));
        Assert.Equal(MixedDrbg.SourceOs, drbg.Source);
        var health = await HealthOf(drbg, Options());
        Assert.Equal((HealthStatus.Healthy, "os (no QRNG configured)"), (health.Status, health.Description));
    }

    [Fact]
    public async Task The_api_drbg_reseeds_from_a_popped_block_and_reports_qrng()
    {
        var (filler, _) = Filler(Options("/dev/urandom"));
        await filler.RunOnceAsync(CancellationToken.None);
        var (service, drbg, buffer, probe) = ApiSide();

        Assert.Equal(MixedDrbg.SourceOs, drbg.FillReportingSource(new byte[8])); // first seed: nothing popped yet
        Assert.True(await service.TryStockOneAsync());
        Assert.Equal(9, await Level());
        Assert.Equal(1, buffer.BlockCount);
        Assert.Equal(MixedDrbg.SourceQrng, drbg.FillReportingSource(new byte[8])); // reseeded at once from the block
        Assert.Equal(1, probe.Sum("mislata.entropy.drbg.reseeds", "source", "qrng"));
        Assert.Equal(1, probe.Sum("mislata.entropy.fallbacks"));

        var health = await HealthOf(drbg, Options("/dev/urandom"));
        Assert.Equal(HealthStatus.Healthy, health.Status);
        Assert.StartsWith("drbg qrng; source device-qrng healthy; pool 9 block(s)", health.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tampered_or_foreign_block_in_redis_is_discarded_never_used()
    {
        var db = _operator!.GetDatabase();
        var genuine = Sealer.Seal(new byte[256], OsRandomSource.Instance);
        var tampered = (byte[])genuine.Clone();
        tampered[^1] ^= 1;
        using var otherRing = PlatformKey.Generate();
        var foreign = new EntropyBlockSealer(otherRing, RedisEntropyPool.PoolKey).Seal(new byte[256], OsRandomSource.Instance);
        var swapped = new EntropyBlockSealer(_platformKey, "mislata:entropy:elsewhere").Seal(new byte[256], OsRandomSource.Instance);
        await db.ListRightPushAsync(RedisEntropyPool.PoolKey, [tampered, foreign, swapped, "plain bytes"u8.ToArray()]);

        var (service, drbg, buffer, probe) = ApiSide();
        for (var i = 0; i < 4; i++)
        {
            Assert.True(await service.TryStockOneAsync());
        }

        Assert.Equal(0, buffer.BlockCount);
        Assert.Equal(4, probe.Sum("mislata.entropy.blocks.unopenable"));
        Assert.Equal(MixedDrbg.SourceOs, drbg.FillReportingSource(new byte[8]));
    }

    [Fact]
    public async Task The_api_user_may_only_pop_the_pool_and_read_its_status()
    {
        var (filler, _) = Filler(Options("/dev/urandom"));
        await filler.RunOnceAsync(CancellationToken.None);
        var db = _api!.GetDatabase();
        Assert.True((await db.ListLeftPopAsync(RedisEntropyPool.PoolKey)).HasValue);
        Assert.Equal(9, await db.ListLengthAsync(RedisEntropyPool.PoolKey));
        foreach (var (command, args) in new (string, object[])[]
        {
            ("RPUSH", [RedisEntropyPool.PoolKey, "planted"]),
            ("LPUSH", [RedisEntropyPool.PoolKey, "planted"]),
            ("LRANGE", [RedisEntropyPool.PoolKey, 0, -1]),
            ("LTRIM", [RedisEntropyPool.PoolKey, 0, 0]),
            ("DEL", [RedisEntropyPool.PoolKey]),
            ("HSET", [RedisEntropyPool.StatusKey, "healthy", "1"]),
            ("SET", [RedisEntropyPool.FillerLockKey, "x"]),
        })
        {
            var denied = await Assert.ThrowsAsync<RedisServerException>(() => db.ExecuteAsync(command, args));
            Assert.StartsWith("NOPERM", denied.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_redis_down_the_api_drbg_keeps_running_on_os_entropy_and_says_why()
    {
        var (service, drbg, buffer, _) = ApiSide();
        await Redis.StopAsync();
        try
        {
            await service.StartAsync(CancellationToken.None);
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (buffer.FallbackReason != "entropy pool unreachable" && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }

            Assert.Equal("entropy pool unreachable", buffer.FallbackReason);
            var bytes = new byte[64];
            Assert.Equal(MixedDrbg.SourceOs, drbg.FillReportingSource(bytes));
            Assert.NotEqual(new byte[64], bytes);
            Assert.Equal(HealthStatus.Degraded, (await HealthOf(drbg, Options("/dev/urandom"))).Status);
            await service.StopAsync(CancellationToken.None);
        }
        finally
        {
            await Redis.StartAsync();
        }
    }

    private (EntropyReseedService Service, MixedDrbg Drbg, QrngReseedBuffer Buffer, MetricsProbe Metrics) ApiSide()
    {
        var probe = new MetricsProbe();
        var buffer = new QrngReseedBuffer(2);
        var drbg = new MixedDrbg(buffer, new MixedDrbgOptions(Reseeded: probe.Metrics.Reseeded));
        var service = new EntropyReseedService(new RedisEntropyPool(_api!), Sealer, buffer, drbg, probe.Metrics,
            Microsoft.Extensions.Options.Options.Create(Options()), NullLogger<EntropyReseedService>.Instance);
        _disposables.AddRange([probe, buffer, drbg, service]);
        return (service, drbg, buffer, probe);
    }

    private async Task<HealthCheckResult> HealthOf(MixedDrbg drbg, EntropyOptions options)
    {
        await using var services = new ServiceCollection().AddSingleton(drbg).BuildServiceProvider();
        var check = new EntropyHealthCheck(new RedisEntropyPool(_api!), Microsoft.Extensions.Options.Options.Create(options), services);
        return await check.CheckHealthAsync(new HealthCheckContext(), CancellationToken.None);
    }

    private sealed class NoHttp : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => throw new InvalidOperationException("no HTTP source in these tests");
    }

    /// <summary>Its own <see cref="EntropyMetrics"/> and a listener that adds up what they record.</summary>
    private sealed class MetricsProbe : IDisposable
    {
        private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        private readonly MeterListener _listener = new();
        private readonly List<(string Name, long Value, KeyValuePair<string, object?>[] Tags)> _measurements = [];

        public MetricsProbe()
        {
            var factory = _services.GetRequiredService<IMeterFactory>();
            Metrics = new EntropyMetrics(factory);
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == EntropyMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i.Name, v, tags));
            _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i.Name, v, tags));
            _listener.Start();
        }

        public EntropyMetrics Metrics { get; }

        public long Sum(string name, string? tag = null, string? value = null)
        {
            lock (_measurements)
            {
                return _measurements.Where(m => m.Name == name && (tag is null || m.Tags.Any(t => t.Key == tag && (string?)t.Value == value))).Sum(m => m.Value);
            }
        }

        public long Last(string name)
        {
            _listener.RecordObservableInstruments();
            lock (_measurements)
            {
                return _measurements.Last(m => m.Name == name).Value;
            }
        }

        private void Record(string name, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            lock (_measurements)
            {
                _measurements.Add((name, value, tags.ToArray()));
            }
        }

        public void Dispose()
        {
            _listener.Dispose();
            _services.Dispose();
        }
    }
}
