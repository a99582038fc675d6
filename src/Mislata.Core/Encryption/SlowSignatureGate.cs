namespace Mislata.Core.Encryption;

/// <summary>
/// A bounded number of slow signatures (SLH-DSA: ~0.7 s of CPU each for 128s) at once per process. A request that finds
/// every slot taken is refused at once (<c>429 rate_limited</c> with <see cref="RetryAfter"/>) instead of queueing, so
/// slow signatures never starve the other operations of threads and cores.
/// </summary>
public sealed class SlowSignatureGate : IDisposable
{
    private readonly SemaphoreSlim _slots;

    public SlowSignatureGate(int slots)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(slots);
        Slots = slots;
        _slots = new SemaphoreSlim(slots, slots);
    }

    /// <summary>Half the cores, at least one: the other half stays for everything else.</summary>
    public static int DefaultSlots => Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>What a refused caller is told to wait (seconds): about one SLH-DSA-128s signature.</summary>
    public static int RetryAfterSeconds => 1;

    public int Slots { get; }

    public int Free => _slots.CurrentCount;

    /// <summary>A slot, or null when all are taken. Dispose the slot to free it.</summary>
    public IDisposable? TryEnter() => _slots.Wait(0) ? new Slot(_slots) : null;

    public void Dispose() => _slots.Dispose();

    private sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                slots.Release();
            }
        }
    }
}
