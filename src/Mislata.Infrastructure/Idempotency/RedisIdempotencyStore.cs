using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
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
/// Idempotency records in Redis, keyed by owner (tenant + credential) and the SHA-256 of the client's key. Requests and
/// responses carry secrets (passwords, a new API key or client secret shown once), so neither is kept readable: the
/// request is remembered as an HMAC under a platform-key derived key (no offline guessing of a password from a plain
/// hash), and the response is sealed with AES-256-GCM under another derived key, bound to its record.
/// </summary>
public sealed class RedisIdempotencyStore(IConnectionMultiplexer redis, PlatformKey platformKey, IRandomSource? random = null)
{
    public static readonly TimeSpan Retention = TimeSpan.FromHours(24);
    private static readonly TimeSpan InFlightLock = TimeSpan.FromMinutes(1);
    private const string RequestPurpose = "idempotency-request";
    private const string ResponsePurpose = "idempotency-response";

    /// <summary>The keyed hash that identifies a request (method, path, body) without revealing it.</summary>
    public IncrementalHash CreateRequestHash()
    {
        Span<byte> key = stackalloc byte[32];
        try
        {
            platformKey.DeriveKey(RequestPurpose, key);
            return IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    public async Task<(IdempotencyState State, StoredResponse? Response)> BeginAsync(string recordKey, string requestHash)
    {
        var db = redis.GetDatabase();
        var pending = JsonSerializer.Serialize(new Record(requestHash));
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

        if (record.Sealed is null)
        {
            return (IdempotencyState.InProgress, null);
        }

        // A response sealed under another platform key (a restored database, another installation) cannot be replayed: the safe answer is
        // "in progress" (409), never running the creating request a second time.
        var response = Open(recordKey, record);
        return response is null ? (IdempotencyState.InProgress, null) : (IdempotencyState.Replay, response);
    }

    public async Task CompleteAsync(string recordKey, string requestHash, StoredResponse response) =>
        await redis.GetDatabase().StringSetAsync(recordKey, JsonSerializer.Serialize(Seal(recordKey, requestHash, response)), Retention);

    public async Task AbandonAsync(string recordKey) => await redis.GetDatabase().KeyDeleteAsync(recordKey);

    private Record Seal(string recordKey, string requestHash, StoredResponse response)
    {
        var master = platformKey;
        var plaintext = JsonSerializer.SerializeToUtf8Bytes(response);
        var sealedBytes = new byte[12 + plaintext.Length + 16];
        Span<byte> key = stackalloc byte[32];
        try
        {
            master.DeriveKey(ResponsePurpose, key);
            (random ?? OsRandomSource.Instance).Fill(sealedBytes.AsSpan(0, 12));
            using var aes = new AesGcm(key, 16);
            aes.Encrypt(sealedBytes.AsSpan(0, 12), plaintext, sealedBytes.AsSpan(12, plaintext.Length), sealedBytes.AsSpan(12 + plaintext.Length), Encoding.UTF8.GetBytes(recordKey));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(plaintext);
        }

        return new Record(requestHash, master.Id, Convert.ToBase64String(sealedBytes));
    }

    private StoredResponse? Open(string recordKey, Record record)
    {
        if (!string.Equals(record.MasterKeyId, platformKey.Id, StringComparison.Ordinal))
        {
            return null;
        }

        var master = platformKey;

        var sealedBytes = Convert.FromBase64String(record.Sealed!);
        if (sealedBytes.Length < 28)
        {
            return null;
        }

        var plaintext = new byte[sealedBytes.Length - 28];
        Span<byte> key = stackalloc byte[32];
        try
        {
            master.DeriveKey(ResponsePurpose, key);
            using var aes = new AesGcm(key, 16);
            aes.Decrypt(sealedBytes.AsSpan(0, 12), sealedBytes.AsSpan(12, plaintext.Length), sealedBytes.AsSpan(12 + plaintext.Length), plaintext, Encoding.UTF8.GetBytes(recordKey));
            return JsonSerializer.Deserialize<StoredResponse>(plaintext);
        }
        catch (CryptographicException)
        {
            return null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>
    /// What Redis holds: the request's keyed hash and, once answered, the sealed response with the id of the key that
    /// sealed it (<c>MasterKeyId</c> kept as the field's name: records written before the key hierarchy carry it).
    /// </summary>
    private sealed record Record(string RequestHash, string? MasterKeyId = null, string? Sealed = null);
}
