using System.Security.Cryptography;

namespace Mislata.Crypto.Entropy;

/// <summary>
/// Where key material and nonces come from. Implementations: <see cref="OsRandomSource"/>, <see cref="MixedDrbg"/>
/// (the platform's entropy service), and deterministic sources in tests.
/// </summary>
public interface IRandomSource
{
    /// <summary>Fills <paramref name="destination"/> with random bytes, or throws <see cref="CryptoException"/> (<see cref="CryptoError.EntropyUnavailable"/>).</summary>
    void Fill(Span<byte> destination);
}

/// <summary>A source of 96-bit AES-GCM nonces; by default any <see cref="IRandomSource"/> is one.</summary>
public interface INonceSource
{
    void NextNonce(Span<byte> nonce);
}

/// <summary>The operating system's CSPRNG.</summary>
public sealed class OsRandomSource : IRandomSource, INonceSource
{
    public static OsRandomSource Instance { get; } = new();

    private OsRandomSource()
    {
    }

    public void Fill(Span<byte> destination) => RandomNumberGenerator.Fill(destination);

    public void NextNonce(Span<byte> nonce) => RandomNumberGenerator.Fill(nonce);
}

/// <summary>Adapts an <see cref="IRandomSource"/> to a nonce source.</summary>
public sealed class RandomNonceSource(IRandomSource random) : INonceSource
{
    public void NextNonce(Span<byte> nonce) => random.Fill(nonce);
}
