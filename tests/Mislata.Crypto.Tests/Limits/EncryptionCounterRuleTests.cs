using Mislata.Crypto.Limits;

namespace Mislata.Crypto.Tests.Limits;

/// <summary>Argument rules of the invocation counter (issue 9).</summary>
public sealed class EncryptionCounterRuleTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task A_reservation_of_no_encryptions_is_refused(int count)
    {
        var counter = new InMemoryEncryptionCounter(limit: 10);
        var key = Guid.NewGuid();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => counter.ReserveAsync(key, 1, count, CancellationToken.None).AsTask());
        Assert.Equal(0, counter.Used(key, 1));
    }

    [Fact]
    public async Task A_cancelled_reservation_reserves_nothing()
    {
        var counter = new InMemoryEncryptionCounter(limit: 10);
        var key = Guid.NewGuid();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => counter.ReserveAsync(key, 1, 1, cts.Token).AsTask());
        Assert.Equal(0, counter.Used(key, 1));
    }
}
