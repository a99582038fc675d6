using System.Collections.Frozen;
using System.Security.Cryptography;
using Mislata.Crypto.Envelope;

namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>
/// The MAC key of the audit chain: HKDF-SHA-256 of the platform key with the purpose label
/// <c>mislata/v1/audit-chain-mac</c>, named by the platform key's id (stored beside every MAC; <c>mk-…</c> in an
/// installation that predates the key hierarchy, whose platform key is its first master key). The platform key outlives
/// master-key rotations, so every link keeps verifying. Without the master key (which unwraps the platform key), nobody
/// can recompute a link — not even with full database access.
/// </summary>
public sealed class AuditChainKeys : IDisposable
{
    internal const string Purpose = "audit-chain-mac";
    private const int KeyLength = 32;

    private readonly FrozenDictionary<string, byte[]> _keys;

    public AuditChainKeys(PlatformKey platformKey)
    {
        ArgumentNullException.ThrowIfNull(platformKey);
        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal) { [platformKey.Id] = Derive(platformKey) };
        CurrentId = platformKey.Id;
        _keys = keys.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The id of the platform key new links are MAC'd under.</summary>
    public string CurrentId { get; }

    internal byte[] Current => _keys[CurrentId];

    /// <summary>The MAC key of a key id, or null when it is not this installation's platform key.</summary>
    internal byte[]? Find(string keyId) => _keys.GetValueOrDefault(keyId);

    public void Dispose()
    {
        foreach (var key in _keys.Values)
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static byte[] Derive(PlatformKey master)
    {
        var key = new byte[KeyLength];
        master.DeriveKey(Purpose, key);
        return key;
    }
}
