using System.Security.Cryptography;
using System.Text;
using Mislata.Crypto.Entropy;

namespace Mislata.Crypto.Envelope;

/// <summary>
/// The platform key: one random 32-byte root from which everything except the tenant data-key wrap derives (API-key
/// hashes, idempotency seals, audit-chain MACs, the Data Protection ring, identity's signing keys, token encryption and
/// user secrets, entropy-pool seals). It is stored only wrapped by the master key, so a master-key rotation rewraps one
/// row instead of invalidating everything derived from it.
/// </summary>
/// <remarks>
/// Wrap: AES-256-GCM under <c>HKDF(master key, "mislata/v1/platform-key-wrap")</c>, associated data
/// <c>mislata/v1/platform-key|{platform key id}|{master key id}</c>; layout nonce (12) ‖ ciphertext (32) ‖ tag (16).
/// </remarks>
public sealed class PlatformKey : RootKey
{
    public const int WrappedLength = NonceLength + Length + TagLength;
    private const string WrapPurpose = "platform-key-wrap";
    private const int NonceLength = 12;
    private const int TagLength = 16;

    private PlatformKey(ReadOnlySpan<byte> key, string id)
        : base(key, id)
    {
    }

    /// <summary>A fresh installation's platform key: random bytes and an id <c>pk-</c> + 16 hex digits.</summary>
    public static PlatformKey Generate(IRandomSource? random = null)
    {
        var source = random ?? OsRandomSource.Instance;
        Span<byte> key = stackalloc byte[Length];
        Span<byte> id = stackalloc byte[8];
        try
        {
            source.Fill(key);
            source.Fill(id);
            return new PlatformKey(key, "pk-" + Convert.ToHexStringLower(id));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>
    /// An installation that already holds master-derived data: the platform key is the master key's bytes under the master
    /// key's id, so every derivation, stored key id and hash made before keeps working unchanged.
    /// </summary>
    public static PlatformKey FromLegacyMasterKey(MasterKey master)
    {
        ArgumentNullException.ThrowIfNull(master);
        return new PlatformKey(master.KeyBytes, master.Id);
    }

    /// <summary>This key wrapped under <paramref name="master"/> (the stored form).</summary>
    public byte[] WrapUnder(MasterKey master, IRandomSource? random = null)
    {
        ArgumentNullException.ThrowIfNull(master);
        var blob = new byte[WrappedLength];
        Span<byte> kek = stackalloc byte[Length];
        try
        {
            master.DeriveKey(WrapPurpose, kek);
            (random ?? OsRandomSource.Instance).Fill(blob.AsSpan(0, NonceLength));
            using var aes = new AesGcm(kek, TagLength);
            aes.Encrypt(blob.AsSpan(0, NonceLength), KeyBytes, blob.AsSpan(NonceLength, Length), blob.AsSpan(NonceLength + Length), Aad(Id, master.Id));
            return blob;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(kek);
        }
    }

    /// <summary>
    /// The platform key <paramref name="id"/> from its stored form. Throws <see cref="CryptographicException"/> (no key
    /// material in the message) when the blob is malformed or was not wrapped under <paramref name="master"/> for this id.
    /// </summary>
    public static PlatformKey Unwrap(string id, ReadOnlySpan<byte> wrapped, MasterKey master)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(master);
        if (wrapped.Length != WrappedLength)
        {
            throw new CryptographicException("The wrapped platform key has the wrong length.");
        }

        Span<byte> kek = stackalloc byte[Length];
        Span<byte> key = stackalloc byte[Length];
        try
        {
            master.DeriveKey(WrapPurpose, kek);
            using var aes = new AesGcm(kek, TagLength);
            aes.Decrypt(wrapped[..NonceLength], wrapped.Slice(NonceLength, Length), wrapped[(NonceLength + Length)..], key, Aad(id, master.Id));
            return new PlatformKey(key, id);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(kek);
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static byte[] Aad(string id, string masterKeyId) => Encoding.ASCII.GetBytes($"mislata/v1/platform-key|{id}|{masterKeyId}");
}
