using System.Globalization;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Entropy;

/// <summary>What the pool's filler last saw of its QRNG source (no entropy in it). <c>Source</c> is <c>none</c> when no QRNG is configured.</summary>
public sealed record EntropySourceStatus(string Source, bool Healthy, long Accepted, long Rejected, string? LastRejection, DateTimeOffset UpdatedAt)
{
    public const string NoSource = "none";
}

/// <summary>
/// The platform's entropy pool in Redis: a list of sealed QRNG blocks (<see cref="PoolKey"/>; the worker pushes and
/// trims, each api pops), the filler's status (<see cref="StatusKey"/>) and the filler's lock (<see cref="FillerLockKey"/>).
/// Blocks are stored only sealed (<see cref="Crypto.Entropy.EntropyBlockSealer"/>).
/// </summary>
public sealed class RedisEntropyPool(IConnectionMultiplexer redis)
{
    public const string PoolKey = "mislata:entropy:pool";
    public const string StatusKey = "mislata:entropy:status";
    public const string FillerLockKey = "mislata:entropy:filler";

    /// <summary>Renews the lock only while this holder still has it (a lapsed holder never extends another's lock).</summary>
    private const string RenewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') and 1 or 0
        """;

    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

    public async Task<long> LevelAsync() => await redis.GetDatabase().ListLengthAsync(PoolKey);

    /// <summary>Takes the oldest sealed block atomically (each block goes to exactly one api process), or null when empty.</summary>
    public async Task<byte[]?> PopAsync()
    {
        var value = await redis.GetDatabase().ListLeftPopAsync(PoolKey);
        return value.HasValue ? (byte[]?)value : null;
    }

    /// <summary>Appends sealed blocks and trims the list to the newest <paramref name="highWatermark"/>, in one transaction; returns the level.</summary>
    public async Task<long> PushAsync(IReadOnlyList<byte[]> blobs, int highWatermark)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        var transaction = redis.GetDatabase().CreateTransaction();
        var pushed = transaction.ListRightPushAsync(PoolKey, blobs.Select(b => (RedisValue)b).ToArray());
        _ = transaction.ListTrimAsync(PoolKey, -highWatermark, -1);
        var length = transaction.ListLengthAsync(PoolKey);
        if (!await transaction.ExecuteAsync())
        {
            throw new RedisException("The entropy pool transaction was not executed.");
        }

        await pushed;
        return await length;
    }

    /// <summary>Takes or renews the filler lock for <paramref name="holder"/>; false when another filler holds it.</summary>
    public async Task<bool> HoldFillerLockAsync(string holder, TimeSpan ttl) =>
        (long)await redis.GetDatabase().ScriptEvaluateAsync(RenewScript, [FillerLockKey], [holder, (long)ttl.TotalMilliseconds]) == 1;

    public async Task ReleaseFillerLockAsync(string holder) =>
        await redis.GetDatabase().ScriptEvaluateAsync(ReleaseScript, [FillerLockKey], [holder]);

    /// <summary>Publishes the filler's status; it expires after <paramref name="ttl"/> so a stopped filler shows as unknown.</summary>
    public async Task WriteStatusAsync(EntropySourceStatus status, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(status);
        var db = redis.GetDatabase();
        var transaction = db.CreateTransaction();
        _ = transaction.HashSetAsync(StatusKey,
        [
            new HashEntry("source", status.Source),
            new HashEntry("healthy", status.Healthy ? "1" : "0"),
            new HashEntry("accepted", status.Accepted),
            new HashEntry("rejected", status.Rejected),
            new HashEntry("lastRejection", status.LastRejection ?? string.Empty),
            new HashEntry("updatedAt", status.UpdatedAt.ToUnixTimeMilliseconds()),
        ]);
        _ = transaction.KeyExpireAsync(StatusKey, ttl);
        await transaction.ExecuteAsync();
    }

    public async Task<EntropySourceStatus?> ReadStatusAsync()
    {
        var entries = await redis.GetDatabase().HashGetAllAsync(StatusKey);
        if (entries.Length == 0)
        {
            return null;
        }

        var map = entries.ToDictionary(e => (string)e.Name!, e => (string?)e.Value ?? string.Empty, StringComparer.Ordinal);
        string Get(string name) => map.TryGetValue(name, out var v) ? v : string.Empty;
        long Number(string name) => long.TryParse(Get(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        var source = Get("source");
        return source.Length == 0 ? null : new EntropySourceStatus(
            source,
            Get("healthy") == "1",
            Number("accepted"),
            Number("rejected"),
            Get("lastRejection") is { Length: > 0 } reason ? reason : null,
            DateTimeOffset.FromUnixTimeMilliseconds(Number("updatedAt")));
    }
}
