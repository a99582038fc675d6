using System.Security.Cryptography;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;

namespace Mislata.Crypto.Tests.Entropy;

/// <summary>Sealing of pool blocks for Redis, the worker's block reader and the DRBG's QRNG reseeds (issue 12).</summary>
public sealed class PoolBlockTests
{
    private const string Pool = "mislata:entropy:pool";

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private sealed class ScriptedSource(params Func<byte[]>[] blocks) : IEntropySource
    {
        private int _next;

        public string Name => "scripted";

        public ValueTask ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            blocks[Math.Min(_next++, blocks.Length - 1)]().CopyTo(buffer);
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Bytes with no repetition and each value at most once per 256 (passes both health tests).</summary>
    private static byte[] Distinct(int size, int start) => Enumerable.Range(start, size).Select(i => (byte)(i % 256)).ToArray();

    [Fact]
    public void A_sealed_block_opens_to_its_bytes_and_does_not_contain_them()
    {
        using var ring = PlatformKey.Generate();
        var sealer = new EntropyBlockSealer(ring, Pool);
        var block = RandomNumberGenerator.GetBytes(1024);
        var blob = sealer.Seal(block, OsRandomSource.Instance);

        Assert.Equal(block, sealer.TryOpen(blob));
        Assert.Equal(-1, blob.AsSpan().IndexOf(block.AsSpan(0, 16)));
        Assert.NotEqual(blob, sealer.Seal(block, OsRandomSource.Instance)); // fresh nonce each time
    }

    [Fact]
    public void A_tampered_truncated_or_foreign_blob_does_not_open()
    {
        using var ring = PlatformKey.Generate();
        var sealer = new EntropyBlockSealer(ring, Pool);
        var blob = sealer.Seal(RandomNumberGenerator.GetBytes(256), OsRandomSource.Instance);

        for (var i = 0; i < blob.Length; i += 7)
        {
            var tampered = (byte[])blob.Clone();
            tampered[i] ^= 0x01;
            Assert.Null(sealer.TryOpen(tampered));
        }

        Assert.Null(sealer.TryOpen(blob.AsSpan(0, blob.Length - 1)));
        Assert.Null(sealer.TryOpen(blob.AsSpan(0, 20)));
        Assert.Null(sealer.TryOpen([]));

        // Swapped in from another purpose: a blob of another pool, or of another installation's master key.
        Assert.Null(new EntropyBlockSealer(ring, "mislata:entropy:other").TryOpen(blob));
        using var other = PlatformKey.Generate();
        Assert.Null(new EntropyBlockSealer(other, Pool).TryOpen(blob));
        Assert.Null(sealer.TryOpen(new EntropyBlockSealer(other, Pool).Seal(new byte[256], OsRandomSource.Instance)));
    }

    [Fact]
    public void Blocks_sealed_by_a_legacy_installation_open_with_its_platform_key()
    {
        // Before the key hierarchy blocks were sealed under the master key; a legacy platform key is that master key.
        using var master = MasterKeyRing.FromBase64(NewKey(), null);
        using var before = PlatformKey.FromLegacyMasterKey(master.Current);
        var block = RandomNumberGenerator.GetBytes(128);
        var blob = new EntropyBlockSealer(before, Pool).Seal(block, OsRandomSource.Instance);

        using var reloaded = PlatformKey.FromLegacyMasterKey(master.Current);
        Assert.Equal(block, new EntropyBlockSealer(reloaded, Pool).TryOpen(blob));
        using var fresh = PlatformKey.Generate();
        Assert.Null(new EntropyBlockSealer(fresh, Pool).TryOpen(blob));
    }

    [Fact]
    public async Task The_reader_accepts_healthy_blocks_and_rejects_stuck_repeated_and_failing_ones()
    {
        var start = 0;
        var reader = new QrngBlockReader(new ScriptedSource(
            () => Distinct(256, start++ * 3),
            () => Enumerable.Repeat((byte)0x5A, 256).ToArray(),
            () => Distinct(256, 40),
            () => Distinct(256, 40),
            () => throw new CryptoException(CryptoError.EntropyUnavailable, "down")), 256);

        var accepted = await reader.ReadAsync(CancellationToken.None);
        Assert.Equal(QrngBlockOutcome.Accepted, accepted.Outcome);
        Assert.Equal(Distinct(256, 0), accepted.Bytes);
        Assert.Equal(new QrngBlock(QrngBlockOutcome.RepetitionCount, null), await reader.ReadAsync(CancellationToken.None));
        Assert.Equal(QrngBlockOutcome.Accepted, (await reader.ReadAsync(CancellationToken.None)).Outcome);
        Assert.Equal(new QrngBlock(QrngBlockOutcome.RepeatedBlock, null), await reader.ReadAsync(CancellationToken.None));
        Assert.Equal(new QrngBlock(QrngBlockOutcome.SourceError, null), await reader.ReadAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_biased_source_fails_the_adaptive_proportion_test()
    {
        var reader = new QrngBlockReader(new SimulatedQrngSource(SimulatedQrngMode.Biased), 1024);
        var outcome = (await reader.ReadAsync(CancellationToken.None)).Outcome;
        Assert.True(outcome is QrngBlockOutcome.AdaptiveProportion or QrngBlockOutcome.RepetitionCount, outcome.ToString());
    }

    [Fact]
    public async Task The_drbg_goes_back_to_qrng_as_soon_as_qrng_bytes_are_ready_and_reports_each_reseed()
    {
        using var pool = new EntropyPool(new SimulatedQrngSource(SimulatedQrngMode.Healthy), blockSize: 64);
        var reseeds = new List<(string Source, string? Reason)>();
        using var drbg = new MixedDrbg(pool, new MixedDrbgOptions(Reseeded: (s, r) => reseeds.Add((s, r))));

        Assert.Equal(MixedDrbg.SourceOs, drbg.FillReportingSource(new byte[16]));
        Assert.False(drbg.TryReseedFromQrng()); // nothing ready: stays on os, no reseed
        Assert.Equal([(MixedDrbg.SourceOs, "QRNG pool empty")], reseeds);

        await pool.RefillAsync(1, CancellationToken.None);
        Assert.True(drbg.TryReseedFromQrng());
        Assert.Equal(MixedDrbg.SourceQrng, drbg.FillReportingSource(new byte[16]));
        Assert.False(drbg.TryReseedFromQrng()); // already on qrng: keeps its seed
        Assert.Equal([(MixedDrbg.SourceOs, "QRNG pool empty"), (MixedDrbg.SourceQrng, null)], reseeds);
        Assert.Equal(MixedDrbg.SourceOs, ((IRandomSource)OsRandomSource.Instance).FillReportingSource(new byte[4]));
    }
}
