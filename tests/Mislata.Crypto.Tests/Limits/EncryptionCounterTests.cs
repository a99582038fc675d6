using Mislata.Crypto.Limits;

namespace Mislata.Crypto.Tests.Limits;

public sealed class EncryptionCounterTests
{
    [Fact]
    public async Task Refuses_past_two_to_the_32_encryptions()
    {
        var counter = new InMemoryEncryptionCounter();
        var key = Guid.NewGuid();
        Assert.Equal(1L << 32, counter.Limit);
        counter.Set(key, 1, (1L << 32) - 2);
        Assert.Equal(1, await counter.ReserveAsync(key, 1, 1, CancellationToken.None));
        Assert.Equal(0, await counter.ReserveAsync(key, 1, 1, CancellationToken.None));
        var ex = await Assert.ThrowsAsync<CryptoException>(() => counter.ReserveAsync(key, 1, 1, CancellationToken.None).AsTask());
        Assert.Equal(CryptoError.UsageLimitExceeded, ex.Error);
        Assert.Equal(1L << 32, counter.Used(key, 1));

        // Another version starts fresh; a batch that would cross the limit is refused whole.
        Assert.Equal((1L << 32) - 1, await counter.ReserveAsync(key, 2, 1, CancellationToken.None));
        counter.Set(key, 3, (1L << 32) - 5);
        await Assert.ThrowsAsync<CryptoException>(() => counter.ReserveAsync(key, 3, 6, CancellationToken.None).AsTask());
        Assert.Equal((1L << 32) - 5, counter.Used(key, 3));
    }

    [Fact]
    public async Task Concurrent_reservations_never_exceed_the_limit()
    {
        var counter = new InMemoryEncryptionCounter(limit: 1000);
        var key = Guid.NewGuid();
        var granted = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, 2000), async (_, ct) =>
        {
            try
            {
                await counter.ReserveAsync(key, 1, 1, ct);
                Interlocked.Increment(ref granted);
            }
            catch (CryptoException)
            {
            }
        });
        Assert.Equal(1000, granted);
    }
}
