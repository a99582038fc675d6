using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Mislata.Core.Encryption;
using Mislata.Crypto;
using Mislata.Crypto.Limits;

namespace Mislata.Infrastructure.Encryption;

/// <summary>
/// Last use, AES-GCM encryption counts and encryptions of any algorithm (coverage) per key version, in memory; <see cref="KeyUsageFlusher"/> writes them every
/// few seconds (<c>count = count + delta</c>, so replicas add up). A symmetric version's count is the database's total
/// (read when the key is loaded and after every flush) plus what this process reserved since: other replicas' unflushed
/// encryptions (a few seconds' worth) are the only ones it cannot see, far below the 2^32 limit's margin of use.
/// </summary>
public sealed class KeyUsageTracker(TimeProvider time, IOptions<OperationKeyOptions> options) : IKeyUsage, IEncryptionCounter
{
    private readonly ConcurrentDictionary<(Guid KeyId, int Version), Counter> _counters = new();
    private readonly long _limit = options.Value.EncryptionLimit;

    public void RecordUse(Guid keyId, int version) => Volatile.Write(ref Get(keyId, version).LastUse, time.GetUtcNow().UtcTicks);

    public void RecordEncryption(Guid keyId, int version)
    {
        var counter = Get(keyId, version);
        Interlocked.Increment(ref counter.Encryptions);
        Volatile.Write(ref counter.LastUse, time.GetUtcNow().UtcTicks);
    }

    public bool TryReserveEncryptions(Guid keyId, int version, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var counter = Get(keyId, version);
        while (true)
        {
            var pending = Volatile.Read(ref counter.Pending);
            if (Volatile.Read(ref counter.Stored) + Volatile.Read(ref counter.InFlight) + pending + count > _limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref counter.Pending, pending + count, pending) == pending)
            {
                Interlocked.Add(ref counter.Encryptions, count);
                Volatile.Write(ref counter.LastUse, time.GetUtcNow().UtcTicks);
                return true;
            }
        }
    }

    /// <summary>The crypto layer's counter contract over the same counts: how many remain, or <see cref="CryptoError.UsageLimitExceeded"/>.</summary>
    public ValueTask<long> ReserveAsync(Guid keyId, int keyVersion, int count, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return TryReserveEncryptions(keyId, keyVersion, count)
            ? ValueTask.FromResult(Math.Max(0, _limit - Used(keyId, keyVersion)))
            : throw new CryptoException(CryptoError.UsageLimitExceeded, "The key version reached its encryption limit; rotate the key.");
    }

    /// <summary>The count the database holds for a version (when its key is loaded): the tracker never goes below it.</summary>
    public void Observe(Guid keyId, int version, long storedCount)
    {
        var counter = Get(keyId, version);
        Volatile.Write(ref counter.Observed, time.GetUtcNow().UtcTicks);
        Max(ref counter.Stored, storedCount);
    }

    /// <summary>What a version has used as far as this process knows (tests and the flusher's own checks).</summary>
    public long Used(Guid keyId, int version) =>
        _counters.TryGetValue((keyId, version), out var c) ? Volatile.Read(ref c.Stored) + Volatile.Read(ref c.InFlight) + Volatile.Read(ref c.Pending) : 0;

    /// <summary>Takes what changed since the last flush; each taken delta is in flight until <see cref="Flushed"/> or <see cref="FlushFailed"/>.</summary>
    internal List<UsageDelta> TakeChanges(DateTimeOffset forgetIdleBefore)
    {
        var changes = new List<UsageDelta>();
        foreach (var (id, counter) in _counters)
        {
            var lastUse = Volatile.Read(ref counter.LastUse);
            var delta = Interlocked.Exchange(ref counter.Pending, 0);
            var encryptions = Interlocked.Exchange(ref counter.Encryptions, 0);
            if (delta == 0 && encryptions == 0 && lastUse == counter.FlushedUse)
            {
                if (Math.Max(lastUse, Volatile.Read(ref counter.Observed)) < forgetIdleBefore.UtcTicks && Volatile.Read(ref counter.InFlight) == 0)
                {
                    // Idle for long: its key has left the cache too, and a reload observes the stored count again.
                    _counters.TryRemove(new KeyValuePair<(Guid, int), Counter>(id, counter));
                }

                continue;
            }

            Interlocked.Add(ref counter.InFlight, delta);
            changes.Add(new UsageDelta(id.KeyId, id.Version, delta, lastUse, encryptions));
        }

        return changes;
    }

    /// <summary>The database now holds <paramref name="storedCount"/> (this delta included).</summary>
    internal void Flushed(UsageDelta change, long? storedCount)
    {
        var counter = Get(change.KeyId, change.Version);
        if (storedCount is { } stored)
        {
            Max(ref counter.Stored, stored);
        }

        Interlocked.Add(ref counter.InFlight, -change.Delta);
        counter.FlushedUse = Math.Max(counter.FlushedUse, change.LastUseTicks);
    }

    /// <summary>The write failed: the delta is pending again for the next flush.</summary>
    internal void FlushFailed(UsageDelta change)
    {
        var counter = Get(change.KeyId, change.Version);
        Interlocked.Add(ref counter.Pending, change.Delta);
        Interlocked.Add(ref counter.Encryptions, change.Encryptions);
        Interlocked.Add(ref counter.InFlight, -change.Delta);
    }

    private Counter Get(Guid keyId, int version) => _counters.GetOrAdd((keyId, version), static _ => new Counter());

    private static void Max(ref long target, long value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    internal sealed class Counter
    {
        public long Stored;
        public long InFlight;
        public long Pending;
        public long LastUse;
        public long FlushedUse;
        public long Observed;
        public long Encryptions;
    }
}

/// <summary>One version's change since the last flush: AES-GCM reservations (<see cref="Delta"/>) and encryptions of any algorithm.</summary>
internal readonly record struct UsageDelta(Guid KeyId, int Version, long Delta, long LastUseTicks, long Encryptions = 0);
