using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.ApiKeys;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Persistence;

namespace Mislata.Infrastructure.ApiKeys;

/// <summary>What authentication needs of a stored API key (immutable, cached).</summary>
public sealed record ApiKeyRecord(
    Guid Id,
    Guid? TenantId,
    Guid? PartnerId,
    FrozenSet<string> Scopes,
    DateTimeOffset? ExpiresAt,
    IReadOnlyList<IPNetwork> IpAllowlist,
    int? RateLimitPerMinute,
    bool Revoked)
{
    public static ApiKeyRecord From(ApiKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new(key.Id, key.TenantId, key.PartnerId, key.Scopes.ToFrozenSet(StringComparer.Ordinal), key.ExpiresAt,
            [.. key.IpAllowlist.Select(IPNetwork.Parse)], key.RateLimitPerMinute, key.IsRevoked);
    }

    public bool AllowsAddress(IPAddress? address)
    {
        if (IpAllowlist.Count == 0)
        {
            return true;
        }

        if (address is null)
        {
            return false;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return IpAllowlist.Any(n => n.Contains(address));
    }
}

/// <summary>
/// Finds API keys by their hash, answering from memory on the hot path. Entries live <see cref="Ttl"/> at most and
/// are dropped at once on a revocation anywhere (<see cref="AccessInvalidation"/>). A lookup that raced with an
/// invalidation is not cached, so a revoked key is never cached back in.
/// </summary>
public sealed class ApiKeyDirectory
{
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(15);
    private const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<string, (ApiKeyRecord Record, long ExpiresAt)> _cache = new(StringComparer.Ordinal);
    private readonly IServiceScopeFactory _scopes;
    private readonly ApiKeySecret _secret;
    private readonly TimeProvider _time;
    private long _generation;

    public ApiKeyDirectory(IServiceScopeFactory scopes, ApiKeySecret secret, AccessInvalidation invalidation, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(invalidation);
        _scopes = scopes;
        _secret = secret;
        _time = time;
        invalidation.Invalidated += OnInvalidated;
    }

    /// <summary>The key's record, or null when no such key exists.</summary>
    public async Task<ApiKeyRecord?> FindAsync(string presentedKey, CancellationToken cancellationToken)
    {
        var hash = _secret.Hash(presentedKey);
        var cacheKey = Convert.ToHexString(hash);
        var now = _time.GetTimestamp();
        if (_cache.TryGetValue(cacheKey, out var entry) && entry.ExpiresAt > now)
        {
            return entry.Record;
        }

        var generation = Interlocked.Read(ref _generation);
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MislataDbContext>();
        var key = await db.Set<ApiKey>().AsNoTracking().SingleOrDefaultAsync(k => k.Hash == hash, cancellationToken);
        if (key is null)
        {
            return null;
        }

        var record = ApiKeyRecord.From(key);
        if (Interlocked.Read(ref _generation) == generation)
        {
            if (_cache.Count >= MaxEntries)
            {
                _cache.Clear();
            }

            _cache[cacheKey] = (record, now + (long)(Ttl.TotalSeconds * _time.TimestampFrequency));
        }

        return record;
    }

    private void OnInvalidated(string message)
    {
        Interlocked.Increment(ref _generation);
        if (message == AccessInvalidation.All)
        {
            _cache.Clear();
            return;
        }

        Func<ApiKeyRecord, bool>? match = null;
        if (message.StartsWith("key:", StringComparison.Ordinal) && Guid.TryParseExact(message[4..], "N", out var keyId))
        {
            match = r => r.Id == keyId;
        }
        else if (message.StartsWith("tenant:", StringComparison.Ordinal) && Guid.TryParseExact(message[7..], "N", out var tenantId))
        {
            match = r => r.TenantId == tenantId;
        }
        else if (message.StartsWith("partner:", StringComparison.Ordinal) && Guid.TryParseExact(message[8..], "N", out var partnerId))
        {
            match = r => r.PartnerId == partnerId;
        }

        if (match is null)
        {
            return;
        }

        foreach (var (k, v) in _cache)
        {
            if (match(v.Record))
            {
                _cache.TryRemove(k, out _);
            }
        }
    }
}
