using System.Security.Cryptography;
using System.Text;

namespace Mislata.Crypto.Envelope;

/// <summary>
/// A 32-byte key that only derives purpose-bound sub-keys (HKDF-SHA256, info = <c>"mislata/v1/" + purpose</c>) and has a
/// public, non-secret id that stored values name. The master key and the platform key are both root keys: a legacy
/// installation's platform key has the master key's bytes and id, so every derivation made before the hierarchy existed
/// is reproduced exactly.
/// </summary>
public abstract class RootKey : IDisposable
{
    public const int Length = 32;

    private readonly byte[] _key;

    private protected RootKey(ReadOnlySpan<byte> key, string id)
    {
        if (key.Length != Length)
        {
            throw new ArgumentException("A root key is 32 bytes.", nameof(key));
        }

        _key = key.ToArray();
        Id = id;
    }

    /// <summary>A stable identifier (safe to store and log).</summary>
    public string Id { get; }

    /// <summary>Derives an independent sub-key for one purpose (HKDF-SHA256, info = "mislata/v1/" + purpose).</summary>
    public void DeriveKey(string purpose, Span<byte> destination)
    {
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _key, destination, ReadOnlySpan<byte>.Empty, Encoding.ASCII.GetBytes("mislata/v1/" + purpose));
    }

    /// <summary>The key bytes, for the platform key's wrap (and a legacy installation's copy of the master key).</summary>
    internal ReadOnlySpan<byte> KeyBytes => _key;

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing) => CryptographicOperations.ZeroMemory(_key);
}
