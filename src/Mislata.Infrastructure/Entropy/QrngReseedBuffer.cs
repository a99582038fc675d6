using System.Security.Cryptography;
using Mislata.Crypto.Entropy;

namespace Mislata.Infrastructure.Entropy;

/// <summary>
/// The api process's few decrypted pool blocks, handed to the DRBG in 32-byte slices that are used once and zeroed.
/// <see cref="TryTake"/> is memory-only (it runs under the DRBG's lock on the request path); a background reader
/// (<see cref="EntropyReseedService"/>) pops blocks from Redis when <see cref="Wants"/> says so.
/// </summary>
public sealed class QrngReseedBuffer(int capacityBlocks) : IQrngReseedSource, IDisposable
{
    private readonly Queue<byte[]> _blocks = new();
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _demand = new(0, 1);
    private int _offset;
    private string _fallbackReason = "QRNG pool not read yet";

    /// <summary>True when the buffer has room for another block.</summary>
    public bool Wants
    {
        get
        {
            lock (_gate)
            {
                return _blocks.Count < capacityBlocks;
            }
        }
    }

    public int BlockCount
    {
        get
        {
            lock (_gate)
            {
                return _blocks.Count;
            }
        }
    }

    public string FallbackReason
    {
        get
        {
            lock (_gate)
            {
                return _fallbackReason;
            }
        }
    }

    public bool TryTake(Span<byte> destination)
    {
        var signal = false;
        try
        {
            lock (_gate)
            {
                var available = -_offset;
                foreach (var block in _blocks)
                {
                    available += block.Length;
                }

                if (available < destination.Length)
                {
                    signal = true;
                    return false;
                }

                var filled = 0;
                while (filled < destination.Length)
                {
                    var head = _blocks.Peek();
                    var n = Math.Min(head.Length - _offset, destination.Length - filled);
                    var taken = head.AsSpan(_offset, n);
                    taken.CopyTo(destination[filled..]);
                    CryptographicOperations.ZeroMemory(taken);
                    filled += n;
                    _offset += n;
                    if (_offset == head.Length)
                    {
                        _blocks.Dequeue();
                        _offset = 0;
                        signal = true;
                    }
                }

                return true;
            }
        }
        finally
        {
            if (signal)
            {
                Signal();
            }
        }
    }

    /// <summary>Adds a decrypted block (the buffer owns it from now on and zeroes it when used).</summary>
    public void Add(byte[] block)
    {
        ArgumentNullException.ThrowIfNull(block);
        lock (_gate)
        {
            _blocks.Enqueue(block);
        }
    }

    /// <summary>Why the next reseed would run on OS entropy (set by the reader when the pool gives nothing).</summary>
    public void SetFallbackReason(string reason)
    {
        lock (_gate)
        {
            _fallbackReason = reason;
        }
    }

    /// <summary>Waits until a block was used up (or a reseed found the buffer short), at most <paramref name="timeout"/>.</summary>
    public async Task WaitForDemandAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        await _demand.WaitAsync(timeout, cancellationToken);

    private void Signal()
    {
        try
        {
            _demand.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            while (_blocks.Count > 0)
            {
                CryptographicOperations.ZeroMemory(_blocks.Dequeue());
            }
        }

        _demand.Dispose();
    }
}
