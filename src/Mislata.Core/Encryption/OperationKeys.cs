using Mislata.Core.Keys;
using Mislata.Crypto.Algorithms;

namespace Mislata.Core.Encryption;

/// <summary>
/// What the operations need to know about a key, as it was when it was loaded: state, algorithm, type, versions and
/// their states. Immutable; a change of the key (rotate, disable, delete, update…) replaces the snapshot on every replica.
/// </summary>
public sealed record KeySnapshot(
    Guid Id,
    Guid TenantId,
    AlgorithmInfo Algorithm,
    KeyType Type,
    KeyState State,
    int CurrentVersion,
    int MinDecryptionVersion,
    IReadOnlyDictionary<int, KeyVersionState> Versions)
{
    /// <summary>What a key of this algorithm and type may do.</summary>
    public AlgorithmCapabilities Capabilities => Algorithm.CapabilitiesFor(Type);
}

/// <summary>
/// A key leased for the duration of one operation (or one batch): its snapshot and the unwrapped material of its
/// versions. Dispose it when done; the material stays valid until then even if the key is evicted meanwhile.
/// </summary>
public interface IOperationKey : IDisposable
{
    KeySnapshot Key { get; }

    /// <summary>
    /// The unwrapped material of a version that exists and is not destroyed (the caller checks the rules first). Owned by
    /// the lease: never dispose it.
    /// </summary>
    KeyMaterial Material(int version);
}

/// <summary>The keys of the operations: a tenant's key by id (another tenant's key is not found), or its default key.</summary>
public interface IOperationKeys
{
    /// <summary>The key leased for an operation, or null when the tenant has no key of this id.</summary>
    ValueTask<IOperationKey?> AcquireAsync(Guid tenantId, Guid keyId, CancellationToken cancellationToken);

    /// <summary>The id of the tenant's default key of <paramref name="type"/>, or null when it has none.</summary>
    ValueTask<Guid?> FindDefaultAsync(Guid tenantId, KeyType type, CancellationToken cancellationToken);
}

/// <summary>
/// Coarse usage of key versions: last use, the AES-GCM encryptions of a symmetric version (at most 2^32 with random
/// nonces) and the encryptions of every version (coverage). Counted in memory and written in the background, never a
/// write per operation.
/// </summary>
public interface IKeyUsage
{
    /// <summary>Notes that the version was used now.</summary>
    void RecordUse(Guid keyId, int version);

    /// <summary>Notes an encryption under an asymmetric version (a payload now exists under it: the key's coverage counts these).</summary>
    void RecordEncryption(Guid keyId, int version);

    /// <summary>
    /// Reserves <paramref name="count"/> encryptions under the version and notes its use; false (nothing reserved) when
    /// the version would pass its limit.
    /// </summary>
    bool TryReserveEncryptions(Guid keyId, int version, int count);
}

/// <summary>Tells every replica that a key changed (rotate, disable, enable, delete, restore, update, destroy).</summary>
public interface IKeyChangeNotifier
{
    Task KeyChangedAsync(Guid tenantId, Guid keyId);
}
