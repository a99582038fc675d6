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

    /// <summary>
    /// Fills <paramref name="destination"/> and says where its seed came from: <c>qrng</c> or <c>os</c>, decided under
    /// the same lock as the bytes (so <c>/random</c> never reports a source its bytes did not come from).
    /// </summary>
    string FillReportingSource(Span<byte> destination)
    {
        Fill(destination);
        return MixedDrbg.SourceOs;
    }
}

/// <summary>
/// Health-tested QRNG bytes ready in process memory for a DRBG reseed. <see cref="TryTake"/> never does I/O: it is
/// called under the DRBG's lock on the request path.
/// </summary>
public interface IQrngReseedSource
{
    /// <summary>Fills <paramref name="destination"/> with QRNG bytes used once; false (nothing taken) when not enough are ready.</summary>
    bool TryTake(Span<byte> destination);

    /// <summary>Why no QRNG bytes are ready (e.g. "QRNG pool empty"); asked only after <see cref="TryTake"/> returned false.</summary>
    string FallbackReason { get; }
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
