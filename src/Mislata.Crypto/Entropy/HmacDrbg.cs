using System.Security.Cryptography;

namespace Mislata.Crypto.Entropy;

/// <summary>
/// NIST SP 800-90A Rev. 1 §10.1.2 HMAC_DRBG with HMAC-SHA-256 (security strength 256). Not thread-safe: the owner
/// (<see cref="MixedDrbg"/>) serialises calls.
/// </summary>
public sealed class HmacDrbg : IDisposable
{
    public const long ReseedInterval = 1L << 48;
    public const int MaxBytesPerRequest = 1 << 16;
    private readonly byte[] _key = new byte[32];
    private readonly byte[] _v = new byte[32];
    private long _reseedCounter;
    private bool _instantiated;

    /// <summary>Instantiate: seed = entropy ‖ nonce ‖ personalization (entropy ≥ 32 bytes).</summary>
    public void Instantiate(ReadOnlySpan<byte> entropy, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> personalization)
    {
        if (entropy.Length < 32)
        {
            throw new CryptoException(CryptoError.InvalidArgument, "HMAC_DRBG needs at least 256 bits of entropy input.");
        }

        Array.Clear(_key);
        _v.AsSpan().Fill(0x01);
        Update([.. entropy, .. nonce, .. personalization]);
        _reseedCounter = 1;
        _instantiated = true;
    }

    public void Reseed(ReadOnlySpan<byte> entropy, ReadOnlySpan<byte> additionalInput)
    {
        if (!_instantiated || entropy.Length < 32)
        {
            throw new CryptoException(CryptoError.InvalidArgument, "HMAC_DRBG reseed needs an instantiated DRBG and ≥ 256 bits of entropy.");
        }

        Update([.. entropy, .. additionalInput]);
        _reseedCounter = 1;
    }

    /// <summary>True when the reseed counter requires a reseed before the next generate.</summary>
    public bool NeedsReseed => !_instantiated || _reseedCounter > ReseedInterval;

    public void Generate(Span<byte> output, ReadOnlySpan<byte> additionalInput)
    {
        if (NeedsReseed || output.Length > MaxBytesPerRequest)
        {
            throw new CryptoException(CryptoError.EntropyUnavailable, "HMAC_DRBG must be reseeded (or the request is too large).");
        }

        if (!additionalInput.IsEmpty)
        {
            Update(additionalInput);
        }

        while (!output.IsEmpty)
        {
            HMACSHA256.HashData(_key, _v, _v);
            var n = Math.Min(32, output.Length);
            _v.AsSpan(0, n).CopyTo(output);
            output = output[n..];
        }

        Update(additionalInput);
        _reseedCounter++;
    }

    /// <summary>HMAC_DRBG_Update (§10.1.2.2).</summary>
    private void Update(ReadOnlySpan<byte> provided)
    {
        Step(0x00, provided);
        if (!provided.IsEmpty)
        {
            Step(0x01, provided);
        }
    }

    private void Step(byte separator, ReadOnlySpan<byte> provided)
    {
        var input = new byte[33 + provided.Length];
        _v.CopyTo(input, 0);
        input[32] = separator;
        provided.CopyTo(input.AsSpan(33));
        HMACSHA256.HashData(_key, input, _key);
        HMACSHA256.HashData(_key, _v, _v);
        // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the HMAC input of one update step
        CryptographicOperations.ZeroMemory(input);
    }

    public void Dispose()
    {
        // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the DRBG key K and value V are private fields; a disposed DRBG refuses to generate (tested)
        CryptographicOperations.ZeroMemory(_key);
        // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the DRBG key K and value V are private fields; a disposed DRBG refuses to generate (tested)
        CryptographicOperations.ZeroMemory(_v);
        _instantiated = false;
    }
}
