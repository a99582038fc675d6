using System.Collections.Frozen;
using System.Security.Cryptography;
using Mislata.Crypto.Envelope;

namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>
/// The MAC keys of the audit chain: HKDF-SHA-256 of each configured master key with the purpose label
/// <c>mislata/v1/audit-chain-mac</c>, named by that master key's id (<c>mk-…</c>, stored beside every MAC). New links are
/// MAC'd under the current master key; during a master-key rotation (<c>QAPI_MASTER_KEY_PREVIOUS</c>) links made under
/// the previous one still verify. Without the master key, nobody can recompute a link — not even with full database access.
/// </summary>
public sealed class AuditChainKeys : IDisposable
{
    internal const string Purpose = "audit-chain-mac";
    private const int KeyLength = 32;

    private readonly FrozenDictionary<string, byte[]> _keys;

    public AuditChainKeys(MasterKeyRing masterKeys)
    {
        ArgumentNullException.ThrowIfNull(masterKeys);
        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal) { [masterKeys.Current.Id] = Derive(masterKeys.Current) };
        if (masterKeys.Previous is { } previous)
        {
            keys[previous.Id] = Derive(previous);
        }

        CurrentId = masterKeys.Current.Id;
        _keys = keys.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The id of the master key new links are MAC'd under.</summary>
    public string CurrentId { get; }

    internal byte[] Current => _keys[CurrentId];

    /// <summary>The MAC key of a master-key id, or null when that master key is not configured (any more).</summary>
    internal byte[]? Find(string keyId) => _keys.GetValueOrDefault(keyId);

    public void Dispose()
    {
        foreach (var key in _keys.Values)
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static byte[] Derive(MasterKey master)
    {
        var key = new byte[KeyLength];
        master.DeriveKey(Purpose, key);
        return key;
    }
}
