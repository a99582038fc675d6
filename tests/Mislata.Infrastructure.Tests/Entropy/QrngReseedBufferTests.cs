using System.ComponentModel.DataAnnotations;
using Mislata.Infrastructure.Entropy;

namespace Mislata.Infrastructure.Tests.Entropy;

/// <summary>The api's in-memory QRNG bytes for DRBG reseeds, and the entropy options' rules.</summary>
public sealed class QrngReseedBufferTests
{
    [Fact]
    public void Bytes_are_handed_out_once_in_order_and_wiped_and_a_short_buffer_gives_nothing()
    {
        using var buffer = new QrngReseedBuffer(2);
        Assert.True(buffer.Wants);
        var first = Enumerable.Range(0, 48).Select(i => (byte)i).ToArray();
        var second = Enumerable.Range(100, 48).Select(i => (byte)i).ToArray();
        buffer.Add(first);
        buffer.Add(second);
        Assert.False(buffer.Wants);

        var a = new byte[32];
        Assert.True(buffer.TryTake(a));
        Assert.Equal(Enumerable.Range(0, 32).Select(i => (byte)i), a);
        Assert.All(first.AsSpan(0, 32).ToArray(), b => Assert.Equal(0, b));

        var b = new byte[32];
        Assert.True(buffer.TryTake(b)); // 16 from the first block, 16 from the second
        Assert.Equal(Enumerable.Range(32, 16).Concat(Enumerable.Range(100, 16)).Select(i => (byte)i), b);
        Assert.Equal(new byte[48], first);
        Assert.Equal(1, buffer.BlockCount);
        Assert.True(buffer.Wants);

        var c = new byte[64];
        Assert.False(buffer.TryTake(c)); // 32 left: not enough, nothing taken
        Assert.Equal(new byte[64], c);
        Assert.True(buffer.TryTake(c.AsSpan(0, 32)));
        Assert.Equal(Enumerable.Range(116, 32).Select(i => (byte)i), c[..32]);
        Assert.Equal(0, buffer.BlockCount);
        Assert.Equal("QRNG pool not read yet", buffer.FallbackReason);
    }

    [Fact]
    public async Task Using_up_a_block_signals_the_reader()
    {
        using var buffer = new QrngReseedBuffer(1);
        buffer.Add(new byte[32]);
        Assert.True(buffer.TryTake(new byte[32]));
        var waited = buffer.WaitForDemandAsync(TimeSpan.FromMinutes(5), CancellationToken.None);
        Assert.True(waited.IsCompleted); // released at once: the demand was signalled
        await waited;
    }

    [Theory]
    [InlineData("", "", 10, 20, true)]
    [InlineData("https://qrng.example/random?bytes={bytes}", "", 10, 20, true)]
    [InlineData("", "/dev/qrng0", 10, 20, true)]
    [InlineData("https://qrng.example/random", "/dev/qrng0", 10, 20, false)]
    [InlineData("ftp://qrng.example/random", "", 10, 20, false)]
    [InlineData("not a url", "", 10, 20, false)]
    [InlineData("", "", 20, 20, false)]
    public void Options_need_one_source_at_most_and_ordered_watermarks(string url, string device, int low, int high, bool valid)
    {
        var options = new EntropyOptions { QrngUrl = url, QrngDevice = device, LowWatermark = low, HighWatermark = high };
        var results = new List<ValidationResult>();
        Assert.Equal(valid, Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true) && results.Count == 0);
    }
}
