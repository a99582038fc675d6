using System.Collections.Concurrent;

namespace Mislata.Crypto.Limits;

/// <summary>
/// Counts AES-GCM encryptions per symmetric key version (random 96-bit nonces: at most 2^32 per key, NIST SP 800-38D §8.3).
/// The platform backs this with the database; <see cref="InMemoryEncryptionCounter"/> is the reference implementation.
/// </summary>
public interface IEncryptionCounter
{
    /// <summary>
    /// Atomically reserves <paramref name="count"/> encryptions for the key version and returns how many remain.
    /// Refuses (without reserving) with <see cref="CryptoError.UsageLimitExceeded"/> when the limit would be passed.
    /// </summary>
    ValueTask<long> ReserveAsync(Guid keyId, int keyVersion, int count, CancellationToken cancellationToken);
}

public static class InvocationLimits
{
    /// <summary>2^32 encryptions per AES-GCM key with random nonces.</summary>
    public const long AesGcmRandomNonce = 1L << 32;
}

public sealed class InMemoryEncryptionCounter(long limit = InvocationLimits.AesGcmRandomNonce) : IEncryptionCounter
{
    private readonly ConcurrentDictionary<(Guid, int), long> _counts = new();

    public long Limit { get; } = limit;

    public long Used(Guid keyId, int keyVersion) => _counts.TryGetValue((keyId, keyVersion), out var n) ? n : 0;

    public ValueTask<long> ReserveAsync(Guid keyId, int keyVersion, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        cancellationToken.ThrowIfCancellationRequested();
        while (true)
        {
            var current = _counts.GetOrAdd((keyId, keyVersion), 0);
            var next = current + count;
            if (next > Limit)
            {
                throw new CryptoException(CryptoError.UsageLimitExceeded, "The key version reached its encryption limit; rotate the key.");
            }

            if (_counts.TryUpdate((keyId, keyVersion), next, current))
            {
                return ValueTask.FromResult(Limit - next);
            }
        }
    }

    /// <summary>For tests and migrations: sets the count of a key version.</summary>
    public void Set(Guid keyId, int keyVersion, long used) => _counts[(keyId, keyVersion)] = used;
}
