using System.Security.Cryptography;
using System.Text;

namespace Mislata.Crypto.Algorithms;

/// <summary>How the private part is held (the body of the storage form).</summary>
internal enum PrivateForm : byte
{
    /// <summary>FIPS 203 (d‖z, 64 B) or FIPS 204 (ξ, 32 B) seed, or the RFC 8032 Ed25519 32-byte seed.</summary>
    Seed = 1,

    /// <summary>The expanded FIPS 203/204 private key (only when imported without its seed), or FIPS 205 SK (4n bytes).</summary>
    Expanded = 2,

    /// <summary>PKCS#8 PrivateKeyInfo DER (RSA, ECDSA).</summary>
    Pkcs8 = 3,

    /// <summary>Raw symmetric key bytes (AES-256-GCM, HMAC).</summary>
    Symmetric = 4,
}

/// <summary>
/// One key version's secret material. Dispose to zero it. <see cref="ExportForStorage"/> yields the bytes the
/// platform encrypts at rest (with <c>FieldCipher</c>); <see cref="FromStorage"/> reverses it.
/// </summary>
/// <remarks>
/// Storage form v1: <c>0x01 ‖ keyType (1 B) ‖ form (1 B) ‖ len (1 B) ‖ ASCII algorithm name ‖ body</c>, where body is
/// the FIPS seed for ML-KEM (64 B d‖z) and ML-DSA (32 B ξ) unless imported expanded-only, the FIPS 205 private key
/// (SK.seed‖SK.prf‖PK.seed‖PK.root) for SLH-DSA, the RFC 8032 seed for Ed25519, PKCS#8 for RSA and ECDSA, and the
/// raw key for AES/HMAC.
/// </remarks>
public sealed class KeyMaterial : IDisposable
{
    internal const byte StorageVersion = 1;
    private readonly byte[] _secret;
    private object? _cache;
    private bool _disposed;

    internal KeyMaterial(string algorithm, KeyType type, PrivateForm form, byte[] secret, PublicKey? publicKey)
    {
        Algorithm = algorithm;
        KeyType = type;
        Form = form;
        _secret = secret;
        PublicKey = publicKey;
    }

    public string Algorithm { get; }

    public KeyType KeyType { get; }

    /// <summary>The public part (null for AES and HMAC keys).</summary>
    public PublicKey? PublicKey { get; }

    internal PrivateForm Form { get; }

    internal ReadOnlySpan<byte> Secret
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _secret;
        }
    }

    public AlgorithmInfo Info => AlgorithmRegistry.Default.Get(Algorithm).Info;

    /// <summary>Parsed library object, cached per key (BouncyCastle parameters are immutable).</summary>
    internal T GetOrCreate<T>(Func<KeyMaterial, T> create)
        where T : class
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_cache is T cached)
        {
            return cached;
        }

        var created = create(this);
        Interlocked.CompareExchange(ref _cache, created, null);
        return created;
    }

    /// <summary>The versioned compact form to encrypt at rest. The caller zeroes the returned array after use.</summary>
    public byte[] ExportForStorage()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var name = Encoding.ASCII.GetBytes(Algorithm);
        var result = new byte[4 + name.Length + _secret.Length];
        result[0] = StorageVersion;
        result[1] = (byte)KeyType;
        result[2] = (byte)Form;
        result[3] = (byte)name.Length;
        name.CopyTo(result, 4);
        _secret.CopyTo(result, 4 + name.Length);
        return result;
    }

    /// <summary>Restores a key from <see cref="ExportForStorage"/> bytes; anything malformed → <see cref="CryptoError.InvalidKeyMaterial"/>.</summary>
    public static KeyMaterial FromStorage(ReadOnlySpan<byte> stored)
    {
        if (stored.Length < 5 || stored[0] != StorageVersion || stored[1] > (byte)KeyType.Symmetric ||
            stored[2] is < 1 or > 4 || stored.Length < 4 + stored[3])
        {
            throw CryptoException.InvalidKey("The stored key is malformed.");
        }

        var name = Encoding.ASCII.GetString(stored.Slice(4, stored[3]));
        if (!AlgorithmRegistry.Default.TryGet(name, out _))
        {
            throw CryptoException.InvalidKey("The stored key names an unknown algorithm.");
        }

        var algorithm = (KeyAlgorithm)AlgorithmRegistry.Default.Get(name);
        var type = (KeyType)stored[1];
        if (!algorithm.Info.Supports(type))
        {
            throw CryptoException.InvalidKey("The stored key has a key type its algorithm does not allow.");
        }

        return algorithm.Restore(type, (PrivateForm)stored[2], stored[(4 + stored[3])..]);
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            CryptographicOperations.ZeroMemory(_secret);
            (_cache as IDisposable)?.Dispose();
            _cache = null;
        }
    }
}

/// <summary>The public part of an asymmetric key version in its standard raw encoding (CRYPTO.md <c>format=raw</c>).</summary>
public sealed class PublicKey
{
    private readonly byte[] _raw;
    private object? _cache;

    internal PublicKey(string algorithm, KeyType type, byte[] raw)
    {
        Algorithm = algorithm;
        KeyType = type;
        _raw = raw;
    }

    public string Algorithm { get; }

    public KeyType KeyType { get; }

    /// <summary>FIPS 203/204/205 encoding, SEC1 uncompressed point, 32-byte Ed25519, or PKCS#1 RSAPublicKey.</summary>
    public ReadOnlySpan<byte> Raw => _raw;

    internal byte[] RawArray => _raw;

    internal T GetOrCreate<T>(Func<PublicKey, T> create)
        where T : class
    {
        if (_cache is T cached)
        {
            return cached;
        }

        var created = create(this);
        Interlocked.CompareExchange(ref _cache, created, null);
        return created;
    }

    /// <summary>Validates and wraps a raw public key (BYOK verify-only keys, third-party keys, tests).</summary>
    public static PublicKey FromRaw(string algorithm, KeyType type, ReadOnlySpan<byte> raw)
    {
        var a = (KeyAlgorithm)AlgorithmRegistry.Default.Get(algorithm);
        if (!a.Info.IsAsymmetric || !a.Info.Supports(type))
        {
            throw CryptoException.Mismatch(algorithm, "have a public key of this type");
        }

        return a.ImportPublicRaw(type, raw);
    }
}
