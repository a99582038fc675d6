using Mislata.Crypto.Entropy;
using Org.BouncyCastle.Crypto.Prng;
using Org.BouncyCastle.Security;

namespace Mislata.Crypto.Primitives;

/// <summary>Feeds BouncyCastle from an <see cref="IRandomSource"/>, so every key and hedge comes from the entropy service.</summary>
internal sealed class BcRandom(IRandomSource source) : IRandomGenerator
{
    public static SecureRandom Create(IRandomSource source) => new(new BcRandom(source));

    // Seed material is ignored on purpose: the source is already a seeded CSPRNG/DRBG.
    public void AddSeedMaterial(byte[] seed)
    {
    }

    public void AddSeedMaterial(ReadOnlySpan<byte> seed)
    {
    }

    public void AddSeedMaterial(long seed)
    {
    }

    public void NextBytes(byte[] bytes) => source.Fill(bytes);

    public void NextBytes(byte[] bytes, int start, int len) => source.Fill(bytes.AsSpan(start, len));

    public void NextBytes(Span<byte> bytes) => source.Fill(bytes);
}
