using System.Security.Cryptography;
using Mislata.Crypto.Envelope;

namespace Mislata.Crypto.Tests.Envelope;

public sealed class PlatformKeyTests
{
    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static byte[] Derive(RootKey key, string purpose)
    {
        var derived = new byte[32];
        key.DeriveKey(purpose, derived);
        return derived;
    }

    [Fact]
    public void A_wrapped_platform_key_unwraps_only_with_its_master_key_and_its_id()
    {
        using var ring = MasterKeyRing.FromBase64(NewKey(), null);
        using var other = MasterKeyRing.FromBase64(NewKey(), null);
        using var key = PlatformKey.Generate();
        var wrapped = key.WrapUnder(ring.Current);

        Assert.Equal(PlatformKey.WrappedLength, wrapped.Length);
        using (var unwrapped = PlatformKey.Unwrap(key.Id, wrapped, ring.Current))
        {
            Assert.Equal(key.Id, unwrapped.Id);
            Assert.Equal(Derive(key, "x"), Derive(unwrapped, "x"));
        }

        Assert.ThrowsAny<CryptographicException>(() => PlatformKey.Unwrap(key.Id, wrapped, other.Current));
        Assert.ThrowsAny<CryptographicException>(() => PlatformKey.Unwrap("pk-0000000000000000", wrapped, ring.Current));
        Assert.ThrowsAny<CryptographicException>(() => PlatformKey.Unwrap(key.Id, wrapped.AsSpan(1), ring.Current));
        for (var i = 0; i < wrapped.Length; i += 5)
        {
            var tampered = (byte[])wrapped.Clone();
            tampered[i] ^= 1;
            Assert.ThrowsAny<CryptographicException>(() => PlatformKey.Unwrap(key.Id, tampered, ring.Current));
        }
    }

    [Fact]
    public void A_generated_key_is_random_with_a_pk_id_and_a_legacy_key_derives_as_its_master_key()
    {
        using var a = PlatformKey.Generate();
        using var b = PlatformKey.Generate();
        Assert.Matches("^pk-[0-9a-f]{16}$", a.Id);
        Assert.NotEqual(a.Id, b.Id);
        Assert.NotEqual(Derive(a, "x"), Derive(b, "x"));

        using var ring = MasterKeyRing.FromBase64(NewKey(), null);
        using var legacy = PlatformKey.FromLegacyMasterKey(ring.Current);
        Assert.Equal(ring.Current.Id, legacy.Id);
        Assert.Equal(Derive(ring.Current, "api-key-hash"), Derive(legacy, "api-key-hash"));
        Assert.NotEqual(Derive(legacy, "api-key-hash"), Derive(legacy, "audit-chain-mac"));
    }
}
