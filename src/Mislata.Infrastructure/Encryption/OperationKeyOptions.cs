using System.ComponentModel.DataAnnotations;
using Mislata.Crypto.Limits;

namespace Mislata.Infrastructure.Encryption;

/// <summary>The hot path of the operations (section <c>OperationKeys</c>): the key cache, usage flushing and slow signatures.</summary>
public sealed class OperationKeyOptions
{
    public const string Section = "OperationKeys";

    /// <summary>Most keys whose unwrapped material one process holds (least recently used beyond that are evicted and zeroed).</summary>
    [Range(1, 10_000_000)]
    public int MaxKeys { get; set; } = 100_000;

    /// <summary>Longest time a key's material stays in memory after it was loaded (the safety net behind the Redis invalidations).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often last use and invocation counts are written (one UPDATE per key version used since).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan UsageFlushInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>AES-GCM encryptions per symmetric key version (2^32 with random 96-bit nonces; lower only in tests).</summary>
    [Range(1L, DefaultEncryptionLimit)]
    public long EncryptionLimit { get; set; } = DefaultEncryptionLimit;

    public const long DefaultEncryptionLimit = InvocationLimits.AesGcmRandomNonce;

    /// <summary>Slow signatures (SLH-DSA) at once; 0 = half the cores, at least one.</summary>
    [Range(0, 1024)]
    public int SlowSignatureSlots { get; set; }
}
