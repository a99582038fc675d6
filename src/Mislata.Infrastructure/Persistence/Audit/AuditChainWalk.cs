namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>
/// Checks the links of one chain in sequence order from a trusted starting point (the genesis, a MAC'd checkpoint, or
/// a row already checked): each row must be the next sequence of this chain, point at the previous link, and carry
/// the link its rule gives (<see cref="AuditChain"/>). Because keyed links cannot be forged, a walk may start anywhere.
/// </summary>
internal sealed class AuditChainWalk
{
    private readonly Guid _chain;
    private readonly AuditChainKeys _keys;

    private AuditChainWalk(Guid chain, AuditChainKeys keys, long lastSequence, byte[] previous, bool keyedSeen)
    {
        _chain = chain;
        _keys = keys;
        LastSequence = lastSequence;
        Previous = previous;
        KeyedSeen = keyedSeen;
    }

    public Guid Chain => _chain;

    /// <summary>The sequence of the last link accepted (0 before the first).</summary>
    public long LastSequence { get; private set; }

    /// <summary>The hash of the last link accepted (the genesis before the first).</summary>
    public byte[] Previous { get; private set; }

    /// <summary>Whether a keyed link was seen: from then on a v1 (unkeyed) row is invalid.</summary>
    public bool KeyedSeen { get; private set; }

    public long Checked { get; private set; }

    public static AuditChainWalk FromGenesis(Guid chain, AuditChainKeys keys) => new(chain, keys, 0, AuditChain.Genesis, false);

    public static AuditChainWalk After(Guid chain, AuditChainKeys keys, long sequence, byte[] hash, bool keyedSeen) =>
        new(chain, keys, sequence, hash, keyedSeen);

    /// <summary>
    /// Checks the next row and, when it holds, moves past it. <paramref name="retiredKeyAccepted"/>: a link MAC'd under a
    /// master key that is no longer configured is accepted by its place in the chain alone (it was verified while the key
    /// was there: only rows at or below a MAC'd checkpoint may be walked so); otherwise it is invalid.
    /// </summary>
    public bool Step(AuditEventRecord e, bool retiredKeyAccepted)
    {
        ArgumentNullException.ThrowIfNull(e);
        Checked++;
        if (e.Sequence != LastSequence + 1 || e.Chain != _chain || e.TenantId != AuditChain.TenantOf(_chain)
            || !AuditChain.SameHash(e.PrevHash, Previous) || e.Hash.Length != AuditChain.HashSize)
        {
            return false;
        }

        bool linkHolds;
        if (e.MacKeyId is null)
        {
            linkHolds = !KeyedSeen && AuditChain.SameHash(e.Hash, AuditChain.ComputeLegacy(Previous, e));
        }
        else if (_keys.Find(e.MacKeyId) is { } key)
        {
            linkHolds = AuditChain.SameHash(e.Hash, AuditChain.ComputeKeyed(key, Previous, e));
        }
        else
        {
            linkHolds = retiredKeyAccepted;
        }

        if (!linkHolds)
        {
            return false;
        }

        LastSequence = e.Sequence;
        Previous = e.Hash;
        KeyedSeen |= e.MacKeyId is not null;
        return true;
    }
}
