using System.Security.Cryptography;
using Mislata.Crypto.Entropy;

namespace Mislata.Crypto.Tests.Entropy;

/// <summary>Pool, DRBG-mixing and health-test boundaries with a scripted source (issue 9).</summary>
public sealed class EntropyPoolRuleTests
{
    /// <summary>Hands out scripted blocks (or throws) and keeps the buffers it filled, so a test can see them wiped.</summary>
    private sealed class ScriptedSource(params Func<byte[]>[] blocks) : IEntropySource
    {
        private int _next;

        public List<Memory<byte>> Filled { get; } = [];

        public string Name => "scripted";

        public ValueTask ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            var block = blocks[Math.Min(_next++, blocks.Length - 1)]();
            block.CopyTo(buffer);
            Filled.Add(buffer);
            return ValueTask.CompletedTask;
        }
    }

    private static Func<byte[]> Healthy(int size) => () => Distinct(size, RandomNumberGenerator.GetInt32(256));

    /// <summary>Bytes with no repetition and no value more than twice in 512 (passes both tests).</summary>
    private static byte[] Distinct(int size, int start) => Enumerable.Range(start, size).Select(i => (byte)(i % 256)).ToArray();

    private static Func<byte[]> Stuck(int size) => () => Enumerable.Repeat((byte)0x5A, size).ToArray();

    private static Func<byte[]> Fails() => () => throw new CryptoException(CryptoError.EntropyUnavailable, "down");

    [Fact]
    public void A_new_pool_is_healthy_until_a_block_fails()
    {
        using var pool = new EntropyPool(new ScriptedSource(Healthy(16)), blockSize: 16);
        Assert.True(pool.Health.Healthy);
        Assert.Equal(0, pool.Health.AvailableBlocks);
        Assert.Equal("scripted", pool.Health.SourceName);
    }

    [Fact]
    public async Task Refill_stops_at_capacity()
    {
        var source = new ScriptedSource(Healthy(16));
        using var pool = new EntropyPool(source, blockSize: 16, capacity: 2);
        Assert.Equal(2, await pool.RefillAsync(5, CancellationToken.None));
        Assert.Equal(2, pool.Health.AvailableBlocks);
        Assert.Equal(2, pool.Health.AcceptedBlocks);
        Assert.Equal(2, source.Filled.Count);
        Assert.Equal(0, await pool.RefillAsync(1, CancellationToken.None));
    }

    [Fact]
    public async Task The_pool_uses_its_own_health_test_options()
    {
        // Five equal samples trip the default repetition cut-off (5) but not the one for H = 1 (21).
        byte[] Run() => [.. Enumerable.Repeat((byte)7, 5), .. Distinct(11, 100)];
        using var strict = new EntropyPool(new ScriptedSource(Run), blockSize: 16);
        Assert.Equal(0, await strict.RefillAsync(1, CancellationToken.None));
        using var lenient = new EntropyPool(new ScriptedSource(Run), new HealthTestOptions(ClaimedMinEntropyBits: 1), blockSize: 16);
        Assert.Equal(1, await lenient.RefillAsync(1, CancellationToken.None));
    }

    [Fact]
    public async Task A_rejected_block_is_wiped_and_the_tests_restart_on_fresh_samples()
    {
        // After a stuck block fails, a block that starts with one more 0x5A must pass: the repetition count restarted.
        var source = new ScriptedSource(Stuck(16), () => [0x5A, .. Distinct(15, 0)]);
        using var pool = new EntropyPool(source, blockSize: 16);
        Assert.Equal(1, await pool.RefillAsync(2, CancellationToken.None));
        Assert.All(source.Filled[0].ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(1, pool.Health.RejectedBlocks);
        Assert.Equal(1, pool.Health.AcceptedBlocks);
        Assert.Equal(HealthTestFailure.RepetitionCount, pool.Health.LastFailure);
        Assert.True(pool.Health.Healthy);
    }

    [Fact]
    public async Task An_unhealthy_pool_gives_nothing_even_with_blocks_left()
    {
        using var pool = new EntropyPool(new ScriptedSource(Healthy(16), Stuck(16)), blockSize: 16);
        Assert.Equal(1, await pool.RefillAsync(2, CancellationToken.None));
        Assert.Equal(1, pool.Health.AvailableBlocks);
        Assert.False(pool.Health.Healthy);
        Assert.False(pool.TryTake(new byte[8]));
    }

    [Fact]
    public async Task A_failing_source_makes_the_pool_give_nothing_until_it_delivers_again()
    {
        using var pool = new EntropyPool(new ScriptedSource(Healthy(16), Fails(), Healthy(16)), blockSize: 16);
        Assert.Equal(1, await pool.RefillAsync(2, CancellationToken.None));
        Assert.True(pool.Health.SourceError);
        Assert.False(pool.Health.Healthy);
        Assert.False(pool.TryTake(new byte[8]));
        Assert.Equal(1, await pool.RefillAsync(1, CancellationToken.None));
        Assert.False(pool.Health.SourceError);
        Assert.True(pool.TryTake(new byte[8]));
    }

    [Fact]
    public async Task TryTake_copies_whole_blocks_in_order_consumes_them_once_and_wipes_them()
    {
        var first = Distinct(16, 0);
        var second = Distinct(16, 50);
        var third = Distinct(16, 100);
        var blocks = new Queue<byte[]>([first, second, third]);
        var source = new ScriptedSource(() => blocks.Dequeue());
        using var pool = new EntropyPool(source, blockSize: 16);
        Assert.Equal(3, await pool.RefillAsync(3, CancellationToken.None));

        var taken = new byte[20];
        Assert.True(pool.TryTake(taken));
        Assert.Equal([.. first, .. second[..4]], taken);
        Assert.All(source.Filled[0].ToArray(), b => Assert.Equal(0, b));
        Assert.All(source.Filled[1].ToArray(), b => Assert.Equal(0, b)); // the rest of a partly used block is dropped
        Assert.Equal(1, pool.Health.AvailableBlocks);

        var exact = new byte[16];
        Assert.True(pool.TryTake(exact)); // exactly what is left
        Assert.Equal(third, exact);
        Assert.False(pool.TryTake(new byte[1]));
    }

    [Fact]
    public async Task Dispose_wipes_the_blocks_still_in_the_pool()
    {
        var source = new ScriptedSource(Healthy(16));
        var pool = new EntropyPool(source, blockSize: 16);
        await pool.RefillAsync(2, CancellationToken.None);
        pool.Dispose();
        Assert.All(source.Filled, m => Assert.All(m.ToArray(), b => Assert.Equal(0, b)));
        Assert.Equal(0, pool.Health.AvailableBlocks);
    }

    [Fact]
    public async Task The_fallback_reason_names_the_adaptive_proportion_test_when_that_test_failed()
    {
        // Every other sample is 0xA5: no repetition, but the window's first value recurs past the APT cut-off.
        byte[] Biased() => [.. Enumerable.Range(0, 512).Select(i => i % 2 == 0 ? (byte)0xA5 : (byte)(i % 251))];
        using var pool = new EntropyPool(new ScriptedSource(Biased), blockSize: 512);
        Assert.Equal(0, await pool.RefillAsync(1, CancellationToken.None));
        Assert.Equal(HealthTestFailure.AdaptiveProportion, pool.Health.LastFailure);
        using var drbg = new MixedDrbg(pool);
        drbg.Fill(new byte[8]);
        Assert.Equal("QRNG failed the adaptive proportion health test", drbg.FallbackReason);
        Assert.Equal(MixedDrbg.SourceOs, drbg.Source);
    }

    [Fact]
    public async Task The_fallback_reason_says_when_the_source_is_unavailable()
    {
        using var pool = new EntropyPool(new ScriptedSource(Fails()), blockSize: 16);
        Assert.Equal(0, await pool.RefillAsync(1, CancellationToken.None));
        using var drbg = new MixedDrbg(pool);
        drbg.Fill(new byte[8]);
        Assert.Equal("QRNG source unavailable", drbg.FallbackReason);
    }

    [Fact]
    public void The_drbg_reseeds_after_exactly_the_configured_byte_count()
    {
        using var drbg = new MixedDrbg(null, new MixedDrbgOptions(ReseedAfterBytes: 64));
        drbg.Fill(new byte[63]);
        drbg.Fill(new byte[1]);
        Assert.Equal(1, drbg.Reseeds); // 64 drawn on this seed, none yet past it
        drbg.Fill(new byte[1]);
        Assert.Equal(2, drbg.Reseeds);
    }

    [Fact]
    public void The_drbg_reseeds_when_exactly_the_interval_has_passed()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var drbg = new MixedDrbg(null, new MixedDrbgOptions(ReseedInterval: TimeSpan.FromMinutes(1)), time);
        drbg.Fill(new byte[8]);
        time.Advance(TimeSpan.FromMinutes(1) - TimeSpan.FromTicks(1));
        drbg.Fill(new byte[8]);
        Assert.Equal(1, drbg.Reseeds);
        time.Advance(TimeSpan.FromTicks(1));
        drbg.Fill(new byte[8]);
        Assert.Equal(2, drbg.Reseeds);
    }

    [Fact]
    public async Task Reseed_now_takes_fresh_qrng_bytes()
    {
        using var pool = new EntropyPool(new ScriptedSource(Healthy(32)), blockSize: 32);
        using var drbg = new MixedDrbg(pool);
        drbg.Fill(new byte[8]);
        Assert.Equal(MixedDrbg.SourceOs, drbg.Source);
        Assert.Equal("QRNG pool empty", drbg.FallbackReason);
        await pool.RefillAsync(1, CancellationToken.None);
        drbg.Reseed();
        Assert.Equal(2, drbg.Reseeds);
        Assert.Equal(MixedDrbg.SourceQrng, drbg.Source);
        Assert.Null(drbg.FallbackReason);
        Assert.Equal(0, pool.Health.AvailableBlocks);
    }
}
