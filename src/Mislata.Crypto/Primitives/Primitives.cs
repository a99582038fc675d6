using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mislata.Crypto.Primitives;

/// <summary>HMAC over .NET with constant-time verification.</summary>
internal static class Hmac
{
    public static byte[] Compute(HashAlgorithmName hash, ReadOnlySpan<byte> key, ReadOnlySpan<byte> message) =>
        CryptographicOperations.HmacData(hash, key, message);

    /// <summary>
    /// Verifies a MAC truncated to <paramref name="macLength"/> bytes (the product uses the full length; Wycheproof also
    /// exercises truncated tags). Constant time in the MAC contents.
    /// </summary>
    public static bool Verify(HashAlgorithmName hash, ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> mac, int macLength)
    {
        if (mac.Length != macLength)
        {
            return false;
        }

        var computed = Compute(hash, key, message);
        try
        {
            return macLength <= computed.Length && CryptographicOperations.FixedTimeEquals(computed.AsSpan(0, macLength), mac);
        }
        finally
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the computed MAC, never returned
            CryptographicOperations.ZeroMemory(computed);
        }
    }
}

/// <summary>HKDF-SHA256 (RFC 5869) over .NET, with output-length errors translated.</summary>
internal static class Hkdf
{
    public static void Sha256(ReadOnlySpan<byte> ikm, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> info, Span<byte> output)
    {
        if (output.Length == 0 || output.Length > 255 * 32)
        {
            throw new CryptoException(CryptoError.InvalidArgument, "HKDF-SHA256 output must be 1..8160 bytes.");
        }

        HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, output, salt, info);
    }
}

/// <summary>
/// AES-GCM: .NET <see cref="AesGcm"/> for 96-bit nonces (the only size the product uses); other nonce sizes, which
/// only Wycheproof exercises, go to BouncyCastle's GCM. Decryption failure is one generic error.
/// </summary>
internal static class AesGcmPrimitive
{
    public const int NonceLength = 12;
    public const int TagLength = 16;

    public static void Encrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> aad)
    {
        if (nonce.Length == NonceLength && tag.Length is >= 12 and <= 16)
        {
            using var gcm = new AesGcm(key, tag.Length);
            gcm.Encrypt(nonce, plaintext, ciphertext, tag, aad);
            // Stryker disable once Statement : without the return, BouncyCastle GCM recomputes the same ciphertext and tag into the same buffers
            return;
        }

        var output = Bc(true, key, nonce, tag.Length, aad, plaintext);
        output.AsSpan(0, plaintext.Length).CopyTo(ciphertext);
        output.AsSpan(plaintext.Length).CopyTo(tag);
    }

    /// <summary>With one of <paramref name="pool"/>'s contexts (its key's, 96-bit nonce, 128-bit tag): no key schedule per call.</summary>
    public static void Encrypt(AesGcmPool pool, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> aad)
    {
        var gcm = pool.Rent();
        try
        {
            gcm.Encrypt(nonce, plaintext, ciphertext, tag, aad);
        }
        finally
        {
            pool.Return(gcm);
        }
    }

    /// <summary>As <see cref="Decrypt(ReadOnlySpan{byte}, ReadOnlySpan{byte}, ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte}, ReadOnlySpan{byte})"/>, with one of <paramref name="pool"/>'s contexts.</summary>
    public static void Decrypt(AesGcmPool pool, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> aad)
    {
        if (nonce.Length != NonceLength || tag.Length != TagLength || plaintext.Length != ciphertext.Length)
        {
            throw CryptoException.DecryptionFailed();
        }

        AesGcm? gcm = null;
        try
        {
            gcm = pool.Rent();
            gcm.Decrypt(nonce, ciphertext, tag, plaintext, aad);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw CryptoException.DecryptionFailed();
        }
        finally
        {
            if (gcm is not null)
            {
                pool.Return(gcm);
            }
        }
    }

    public static void Decrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> aad)
    {
        if (key.Length is not (16 or 24 or 32) || nonce.IsEmpty || tag.Length is < 12 or > 16 || plaintext.Length != ciphertext.Length)
        {
            throw CryptoException.DecryptionFailed();
        }

        try
        {
            if (nonce.Length == NonceLength)
            {
                using var gcm = new AesGcm(key, tag.Length);
                gcm.Decrypt(nonce, ciphertext, tag, plaintext, aad);
                // Stryker disable once Statement : without the return, BouncyCastle GCM decrypts the same authenticated input again into the same buffer
                return;
            }

            var output = Bc(false, key, nonce, tag.Length, aad, [.. ciphertext, .. tag]);
            output.CopyTo(plaintext);
        }
        catch (Exception e) when (e is CryptographicException or Org.BouncyCastle.Crypto.InvalidCipherTextException or ArgumentException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw CryptoException.DecryptionFailed();
        }
    }

    private static byte[] Bc(bool encrypt, ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, int tagLength, ReadOnlySpan<byte> aad, ReadOnlySpan<byte> input)
    {
        if (nonce.IsEmpty)
        {
            throw CryptoException.DecryptionFailed();
        }

        var gcm = new GcmBlockCipher(new AesEngine());
        gcm.Init(encrypt, new AeadParameters(new KeyParameter(key), tagLength * 8, nonce.ToArray(), aad.ToArray()));
        var output = new byte[gcm.GetOutputSize(input.Length)];
        var n = gcm.ProcessBytes(input, output);
        gcm.DoFinal(output.AsSpan(n));
        return output;
    }
}

/// <summary>
/// The AES-GCM contexts of one AES key (<see cref="AesGcm"/> is not thread-safe: one per concurrent caller), kept for
/// reuse so that a cached key does not expand its key schedule on every call. Held in the key's
/// <see cref="Algorithms.KeyMaterial"/> and disposed with it: every idle context is freed (OpenSSL cleanses its key
/// schedule), and a context given back after that is freed at once. At most <see cref="Capacity"/> idle contexts.
/// </summary>
internal sealed class AesGcmPool(Algorithms.KeyMaterial key) : IDisposable
{
    internal const int Capacity = 8;
    private readonly AesGcm?[] _idle = new AesGcm?[Capacity];
    private int _disposed;

    /// <summary>An idle context, or a new one over the key (ObjectDisposedException once the key is disposed).</summary>
    public AesGcm Rent()
    {
        for (var i = 0; i < _idle.Length; i++)
        {
            if (Interlocked.Exchange(ref _idle[i], null) is { } gcm)
            {
                return gcm;
            }
        }

        return new AesGcm(key.Secret, AesGcmPrimitive.TagLength);
    }

    public void Return(AesGcm gcm)
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            for (var i = 0; i < _idle.Length; i++)
            {
                if (Interlocked.CompareExchange(ref _idle[i], gcm, null) is null)
                {
                    // Disposed meanwhile: take it back out unless Dispose already freed it.
                    if (Volatile.Read(ref _disposed) != 0)
                    {
                        Interlocked.Exchange(ref _idle[i], null)?.Dispose();
                    }

                    return;
                }
            }
        }

        gcm.Dispose();
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        for (var i = 0; i < _idle.Length; i++)
        {
            Interlocked.Exchange(ref _idle[i], null)?.Dispose();
        }
    }
}
