using System.Text.Json;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Idempotency;

/// <summary>The first response to a request with an <c>Idempotency-Key</c>, replayed for 24 h.</summary>
public sealed record StoredResponse(int Status, string? ContentType, string? Location, byte[] Body);

public enum IdempotencyState
{
    /// <summary>First use: the caller runs the request then calls <see cref="RedisIdempotencyStore.CompleteAsync"/> or <see cref="RedisIdempotencyStore.AbandonAsync"/>.</summary>
    Started = 0,
    Replay = 1,
    InProgress = 2,
    BodyMismatch = 3,
}

/// <summary>
/// Idempotency records in Redis, keyed by owner (tenant + credential) and the SHA-256 of the client's key, holding the
/// SHA-256 of the request (method, path, body) so that reusing a key for a different request is refused.
/// </summary>
public sealed class RedisIdempotencyStore(IConnectionMultiplexer redis)
{
    public static readonly TimeSpan Retention = TimeSpan.FromHours(24);
    private static readonly TimeSpan InFlightLock = TimeSpan.FromMinutes(1);

    public async Task<(IdempotencyState State, StoredResponse? Response)> BeginAsync(string recordKey, string requestHash)
    {
        var db = redis.GetDatabase();
        var pending = JsonSerializer.Serialize(new Record(requestHash, null));
        if (await db.StringSetAsync(recordKey, pending, InFlightLock, When.NotExists))
        {
            return (IdempotencyState.Started, null);
        }

        var existing = await db.StringGetAsync(recordKey);
        if (!existing.HasValue)
        {
            // Expired between the two calls: take it again.
            return await db.StringSetAsync(recordKey, pending, InFlightLock, When.NotExists)
                ? (IdempotencyState.Started, null)
                : (IdempotencyState.InProgress, null);
        }

        var record = JsonSerializer.Deserialize<Record>(existing.ToString())!;
        if (!string.Equals(record.RequestHash, requestHash, StringComparison.Ordinal))
        {
            return (IdempotencyState.BodyMismatch, null);
        }

        return record.Response is null ? (IdempotencyState.InProgress, null) : (IdempotencyState.Replay, record.Response);
    }

    public async Task CompleteAsync(string recordKey, string requestHash, StoredResponse response) =>
        await redis.GetDatabase().StringSetAsync(recordKey, JsonSerializer.Serialize(new Record(requestHash, response)), Retention);

    public async Task AbandonAsync(string recordKey) => await redis.GetDatabase().KeyDeleteAsync(recordKey);

    private sealed record Record(string RequestHash, StoredResponse? Response);
}
