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

/// <summary>The operating system's CSPRNG.</summary>
public sealed class OsRandomSource : IRandomSource
{
    public static OsRandomSource Instance { get; } = new();

    private OsRandomSource()
    {
    }

    public void Fill(Span<byte> destination) => RandomNumberGenerator.Fill(destination);
}
