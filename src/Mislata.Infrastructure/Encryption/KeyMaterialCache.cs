using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Mislata.Core.Encryption;
using Mislata.Core.Keys;
using Mislata.Crypto.Algorithms;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Tenants;

namespace Mislata.Infrastructure.Encryption;

/// <summary>
/// The keys of the operations, served from process memory after their first use: one PostgreSQL read per key (and per
/// tenant default) and then none until the key changes. Bounded: at most <see cref="OperationKeyOptions.MaxKeys"/> keys
/// (least recently used evicted) for at most <see cref="OperationKeyOptions.Lifetime"/> each. A version's material is
/// unsealed on its first use (the tenant's data key is unwrapped for that moment only and zeroed) and zeroed when its key
/// leaves the cache and the last operation using it ends. A change of a key anywhere (<c>ckey:</c> on the Redis
/// invalidation channel, published by <see cref="KeyAdministration"/>) drops it on every replica at once; a lost
/// connection drops everything.
/// </summary>
public sealed class KeyMaterialCache : IOperationKeys, IDisposable
{
    private readonly IDbContextFactory<MislataDbContext> _contexts;
    private readonly ITenantKeyWrapper _keyWrapper;
    private readonly KeyUsageTracker _usage;
    private readonly AccessInvalidation _invalidation;
    private readonly OperationKeyOptions _options;
    private readonly MemoryCache _cache;
    private readonly ConcurrentDictionary<(Guid, Guid), Task<CachedKey?>> _loading = new();
    private long _generation;

    public KeyMaterialCache(
        IDbContextFactory<MislataDbContext> contexts, ITenantKeyWrapper keyWrapper, KeyUsageTracker usage, AccessInvalidation invalidation,
        IOptions<OperationKeyOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _contexts = contexts;
        _keyWrapper = keyWrapper;
        _usage = usage;
        _invalidation = invalidation;
        _options = options.Value;
        _cache = new MemoryCache(new MemoryCacheOptions
        {
            SizeLimit = _options.MaxKeys,
            ExpirationScanFrequency = TimeSpan.FromSeconds(Math.Min(30, Math.Max(1, _options.Lifetime.TotalSeconds / 2))),
            CompactionPercentage = 0.05,
        });
        _invalidation.Invalidated += OnInvalidated;
    }

    /// <summary>Keys (and tenant defaults) held now.</summary>
    public int Count => _cache.Count;

    public async ValueTask<IOperationKey?> AcquireAsync(Guid tenantId, Guid keyId, CancellationToken cancellationToken)
    {
        var id = new KeyId(tenantId, keyId);
        while (true)
        {
            if (_cache.TryGetValue(id, out CachedKey? cached) && cached!.TryAcquire() is { } hit)
            {
                return hit;
            }

            CachedKey? loaded;
            try
            {
                loaded = await LoadOnceAsync(id, cancellationToken);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The shared load belonged to a request that went away: this one loads for itself.
                continue;
            }

            if (loaded is null)
            {
                return null;
            }

            // Null only when the key was evicted (and retired) between its load and now: look again.
            if (loaded.TryAcquire() is { } lease)
            {
                return lease;
            }
        }
    }

    public async ValueTask<Guid?> FindDefaultAsync(Guid tenantId, KeyType type, CancellationToken cancellationToken)
    {
        var id = new DefaultId(tenantId, type);
        if (_cache.TryGetValue(id, out DefaultKey? cached))
        {
            return cached!.KeyId;
        }

        var generation = Interlocked.Read(ref _generation);
        await using var db = await _contexts.CreateDbContextAsync(cancellationToken);
        var keyId = await db.Set<Key>().AsNoTracking()
            .Where(k => k.TenantId == tenantId && k.Type == type && k.IsDefault && k.State == KeyState.Enabled)
            .Select(k => (Guid?)k.Id)
            .FirstOrDefaultAsync(cancellationToken);
        if (Interlocked.Read(ref _generation) == generation)
        {
            _cache.Set(id, new DefaultKey(keyId), new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = _options.Lifetime });
        }

        return keyId;
    }

    public void Dispose()
    {
        _invalidation.Invalidated -= OnInvalidated;
        _cache.Compact(1.0);
        _cache.Dispose();
    }

    /// <summary>Concurrent first uses of one key share one load.</summary>
    private async Task<CachedKey?> LoadOnceAsync(KeyId id, CancellationToken cancellationToken)
    {
        var mine = new TaskCompletionSource<CachedKey?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var loading = _loading.GetOrAdd((id.TenantId, id.Id), mine.Task);
        if (loading != mine.Task)
        {
            return await loading.WaitAsync(cancellationToken);
        }

        // The entry is removed before the waiters are released, so that none of them finds this load again.
        var entry = new KeyValuePair<(Guid, Guid), Task<CachedKey?>>((id.TenantId, id.Id), mine.Task);
        CachedKey? loaded;
        try
        {
            loaded = await LoadAsync(id, cancellationToken);
        }
        catch (Exception ex)
        {
            _loading.TryRemove(entry);
            mine.SetException(ex);
            throw;
        }

        _loading.TryRemove(entry);
        mine.SetResult(loaded);
        return loaded;
    }

    private async Task<CachedKey?> LoadAsync(KeyId id, CancellationToken cancellationToken)
    {
        var generation = Interlocked.Read(ref _generation);
        await using var db = await _contexts.CreateDbContextAsync(cancellationToken);
        var key = await db.Set<Key>().AsNoTracking().Include(k => k.Versions)
            .SingleOrDefaultAsync(k => k.TenantId == id.TenantId && k.Id == id.Id, cancellationToken);
        if (key is null)
        {
            return null;
        }

        var dekVersions = key.Versions.Select(v => v.DataKeyVersion).Distinct().ToList();
        var dataKeys = await db.Set<TenantDataKeyRecord>().AsNoTracking()
            .Where(r => r.TenantId == id.TenantId && dekVersions.Contains(r.Version))
            .ToListAsync(cancellationToken);
        var entry = new CachedKey(key, dataKeys.ToDictionary(r => r.Version, r => r.ToWrapped()), _keyWrapper);
        if (key.Info.Family == AlgorithmFamily.Aes)
        {
            foreach (var version in key.Versions)
            {
                _usage.Observe(key.Id, version.Version, version.InvocationCount);
            }
        }

        if (Interlocked.Read(ref _generation) == generation)
        {
            var options = new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = _options.Lifetime };
            options.RegisterPostEvictionCallback(static (_, value, _, _) => (value as CachedKey)?.Retire());
            _cache.Set(id, entry, options);
        }
        else
        {
            // The key changed while it was read: this copy serves no one but the callers already waiting for it.
            entry.RetireAfterUse();
        }

        return entry;
    }

    private void OnInvalidated(string message)
    {
        Interlocked.Increment(ref _generation);
        if (message == AccessInvalidation.All)
        {
            _cache.Compact(1.0);
            return;
        }

        if (CryptoKeyInvalidation.TryParse(message, out var tenantId, out var keyId))
        {
            _cache.Remove(new KeyId(tenantId, keyId));
            foreach (var type in Enum.GetValues<KeyType>())
            {
                _cache.Remove(new DefaultId(tenantId, type));
            }
        }
    }

    private readonly record struct KeyId(Guid TenantId, Guid Id);

    private readonly record struct DefaultId(Guid TenantId, KeyType Type);

    private sealed record DefaultKey(Guid? KeyId);

    /// <summary>
    /// One cached key: its snapshot, its sealed versions and the material unsealed so far. Lease-counted: retired when it
    /// leaves the cache, zeroed when retired and no lease is left.
    /// </summary>
    private sealed class CachedKey
    {
        private const int RetiredBit = 1 << 30;
        private readonly Dictionary<int, KeyVersion> _sealed;
        private readonly IReadOnlyDictionary<int, WrappedDataKey> _dataKeys;
        private readonly ITenantKeyWrapper _keyWrapper;
        private readonly ConcurrentDictionary<int, KeyMaterial> _materials = new();
        private readonly Lock _opening = new();
        private int _state;
        private int _disposed;
        private bool _retireAfterUse;

        public CachedKey(Key key, IReadOnlyDictionary<int, WrappedDataKey> dataKeys, ITenantKeyWrapper keyWrapper)
        {
            Snapshot = new KeySnapshot(key.Id, key.TenantId, key.Info, key.Type, key.State, key.CurrentVersion, key.MinDecryptionVersion,
                key.Versions.ToDictionary(v => v.Version, v => v.State));
            _sealed = key.Versions.Where(v => v.State != KeyVersionState.Destroyed).ToDictionary(v => v.Version);
            _dataKeys = dataKeys;
            _keyWrapper = keyWrapper;
        }

        public KeySnapshot Snapshot { get; }

        public IOperationKey? TryAcquire()
        {
            while (true)
            {
                var state = Volatile.Read(ref _state);
                if ((state & RetiredBit) != 0)
                {
                    return null;
                }

                if (Interlocked.CompareExchange(ref _state, state + 1, state) == state)
                {
                    return new Lease(this);
                }
            }
        }

        public void Retire()
        {
            var before = Interlocked.Or(ref _state, RetiredBit);
            if ((before & RetiredBit) == 0 && before == 0)
            {
                Zero();
            }
        }

        /// <summary>Not cached: retired when its last current lease ends (leases may still be taken until then by waiting loaders).</summary>
        public void RetireAfterUse() => _retireAfterUse = true;

        public KeyMaterial Material(int version)
        {
            if (_materials.TryGetValue(version, out var material))
            {
                return material;
            }

            lock (_opening)
            {
                if (_materials.TryGetValue(version, out material))
                {
                    return material;
                }

                var sealedVersion = _sealed.TryGetValue(version, out var v) ? v : throw new InvalidOperationException("The version is destroyed or does not exist.");
                var dek = _keyWrapper.Unwrap(_dataKeys[sealedVersion.DataKeyVersion]);
                try
                {
                    var storage = KeyMaterialSealer.Open(dek, sealedVersion.DataKeyVersion, Snapshot.TenantId, Snapshot.Id, version, Snapshot.Algorithm.Name, sealedVersion.SealedMaterial);
                    try
                    {
                        material = KeyMaterial.FromStorage(storage);
                    }
                    finally
                    {
                        CryptographicOperations.ZeroMemory(storage);
                    }
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(dek);
                }

                _materials[version] = material;
                return material;
            }
        }

        private void Release()
        {
            var after = Interlocked.Decrement(ref _state);
            if (after == 0 && _retireAfterUse)
            {
                Retire();
            }
            else if (after == RetiredBit)
            {
                Zero();
            }
        }

        private void Zero()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                foreach (var material in _materials.Values)
                {
                    material.Dispose();
                }

                _materials.Clear();
            }
        }

        private sealed class Lease(CachedKey owner) : IOperationKey
        {
            private int _released;

            public KeySnapshot Key => owner.Snapshot;

            public KeyMaterial Material(int version)
            {
                ObjectDisposedException.ThrowIf(Volatile.Read(ref _released) != 0, this);
                return owner.Material(version);
            }

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _released, 1) == 0)
                {
                    owner.Release();
                }
            }
        }
    }
}
