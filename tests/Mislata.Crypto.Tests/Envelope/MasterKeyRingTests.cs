using System.Security.Cryptography;
using System.Text;
using Mislata.Crypto.Envelope;

namespace Mislata.Crypto.Tests.Envelope;

/// <summary>The platform's root keys: strict parsing that never echoes a value, stable public ids, purpose-bound derivation.</summary>
public sealed class MasterKeyRingTests
{
    private static readonly byte[] KeyA = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];
    private static readonly byte[] KeyB = [.. Enumerable.Range(101, 32).Select(i => (byte)i)];
    private static readonly string A = Convert.ToBase64String(KeyA);
    private static readonly string B = Convert.ToBase64String(KeyB);

    private static byte[] Derive(MasterKey key, string purpose, int length = 32)
    {
        var output = new byte[length];
        key.DeriveKey(purpose, output);
        return output;
    }

    private static byte[] Hkdf(byte[] ikm, string purpose, int length = 32) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, length, [], Encoding.ASCII.GetBytes("mislata/v1/" + purpose));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void A_missing_current_key_is_refused_naming_the_variable(string? value)
    {
        var e = Assert.Throws<MasterKeyException>(() => MasterKeyRing.FromBase64(value, B));
        Assert.StartsWith("QAPI_MASTER_KEY is not set", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_key_is_refused_naming_the_variable_and_never_echoing_the_value()
    {
        var notBase64 = Assert.Throws<MasterKeyException>(() => MasterKeyRing.FromBase64("secret-value!!", null));
        Assert.Equal("QAPI_MASTER_KEY is malformed: it is not valid base64.", notBase64.Message);

        var shortKey = Convert.ToBase64String(KeyA[..31]);
        var tooShort = Assert.Throws<MasterKeyException>(() => MasterKeyRing.FromBase64(shortKey, null));
        Assert.Equal("QAPI_MASTER_KEY is malformed: it decodes to 31 bytes, 32 are required.", tooShort.Message);
        Assert.DoesNotContain(shortKey, tooShort.Message, StringComparison.Ordinal);

        var longKey = Convert.ToBase64String([.. KeyA, 7]);
        Assert.Equal("QAPI_MASTER_KEY_PREVIOUS is malformed: it decodes to 33 bytes, 32 are required.",
            Assert.Throws<MasterKeyException>(() => MasterKeyRing.FromBase64(A, longKey)).Message);
        Assert.Equal("QAPI_MASTER_KEY_PREVIOUS is malformed: it is not valid base64.",
            Assert.Throws<MasterKeyException>(() => MasterKeyRing.FromBase64(A, "%%%")).Message);
    }

    [Fact]
    public void A_key_with_surrounding_whitespace_is_accepted_and_the_previous_key_is_optional()
    {
        using var ring = MasterKeyRing.FromBase64(" " + A + "\n", "  ");
        Assert.Null(ring.Previous);
        using var plain = MasterKeyRing.FromBase64(A, null);
        Assert.Equal(plain.Current.Id, ring.Current.Id);
        Assert.Equal(32, MasterKeyRing.KeyLength);
    }

    [Fact]
    public void The_id_is_a_one_way_stable_function_of_the_key()
    {
        using var a1 = MasterKeyRing.FromBase64(A, null);
        using var a2 = MasterKeyRing.FromBase64(A, null);
        using var b = MasterKeyRing.FromBase64(B, null);
        Assert.Equal(a1.Current.Id, a2.Current.Id);
        Assert.NotEqual(a1.Current.Id, b.Current.Id);
        var expected = "mk-" + Convert.ToHexStringLower(HKDF.DeriveKey(HashAlgorithmName.SHA256, KeyA, 8, [], "mislata/v1/master-key-id"u8.ToArray()));
        Assert.Equal(expected, a1.Current.Id);
    }

    [Fact]
    public void During_a_rotation_both_keys_are_found_by_id_and_a_previous_equal_to_the_current_is_dropped()
    {
        using var ring = MasterKeyRing.FromBase64(B, A);
        Assert.NotNull(ring.Previous);
        using var a = MasterKeyRing.FromBase64(A, null);
        Assert.Equal(a.Current.Id, ring.Previous.Id);
        Assert.Same(ring.Current, ring.Find(ring.Current.Id));
        Assert.Same(ring.Previous, ring.Find(ring.Previous.Id));
        Assert.Null(ring.Find("mk-0000000000000000"));
        Assert.Null(a.Find("mk-0000000000000000"));
        Assert.Same(a.Current, a.Find(a.Current.Id));

        using var same = MasterKeyRing.FromBase64(A, A);
        Assert.Null(same.Previous);
        Assert.Equal(Hkdf(KeyA, "x"), Derive(same.Current, "x"));
    }

    [Fact]
    public void Derived_keys_are_HKDF_SHA256_bound_to_their_purpose_and_zeroed_with_the_ring()
    {
        var ring = MasterKeyRing.FromBase64(B, A);
        Assert.Equal(Hkdf(KeyB, "api-key-hash"), Derive(ring.Current, "api-key-hash"));
        Assert.Equal(Hkdf(KeyA, "api-key-hash"), Derive(ring.Previous!, "api-key-hash"));
        Assert.Equal(Hkdf(KeyB, "tenant-dek", 64), Derive(ring.Current, "tenant-dek", 64));
        Assert.NotEqual(Derive(ring.Current, "a"), Derive(ring.Current, "b"));
        Assert.Throws<ArgumentException>(() => ring.Current.DeriveKey(string.Empty, new byte[32]));
        Assert.Throws<ArgumentNullException>(() => ring.Current.DeriveKey(null!, new byte[32]));

        var current = ring.Current;
        var previous = ring.Previous!;
        ring.Dispose();
        var zero = new byte[32];
        Assert.Equal(Hkdf(zero, "p"), Derive(current, "p"));
        Assert.Equal(Hkdf(zero, "p"), Derive(previous, "p"));
    }
}
