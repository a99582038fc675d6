using Mislata.Crypto.Envelope;

namespace Mislata.Crypto.Tests.Envelope;

/// <summary>DEK and field-blob boundaries (issue 9).</summary>
public sealed class FieldCipherRuleTests
{
    private static readonly Guid Tenant = Guid.Parse("aaaaaaaa-0000-4000-8000-000000000001");
    private const int Overhead = 1 + 4 + 12 + 16;

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void A_dek_version_below_one_is_refused(int version) =>
        Assert.Equal(CryptoError.InvalidArgument, Assert.Throws<CryptoException>(() => TenantDataKey.Generate(Tenant, version, new DeterministicRandom("v"))).Error);

    [Fact]
    public void A_dek_is_32_bytes_drawn_from_the_entropy_service_at_any_version_from_one()
    {
        using var first = TenantDataKey.Generate(Tenant, 1, new DeterministicRandom("dek"));
        using var later = TenantDataKey.Generate(Tenant, 2, new DeterministicRandom("dek"));
        var expected = new byte[32];
        new DeterministicRandom("dek").Fill(expected);
        Assert.Equal(expected, first.Key.ToArray());
        Assert.Equal(expected, later.Key.ToArray());
        Assert.Equal(2, later.Version);
        Assert.Throws<ArgumentNullException>(() => TenantDataKey.Generate(Tenant, 1, null!));
    }

    [Fact]
    public void Dispose_zeroes_the_dek_bytes()
    {
        var dek = TenantDataKey.Generate(Tenant, 1, new DeterministicRandom("wipe"));
        var key = dek.Key;
        Assert.Contains(key.ToArray(), b => b != 0);
        dek.Dispose();
        Assert.All(key.ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Each_encryption_draws_a_fresh_nonce()
    {
        using var dek = TenantDataKey.Generate(Tenant, 1, new DeterministicRandom("nonce-dek"));
        var cipher = new FieldCipher(dek, new DeterministicRandom("nonce"));
        var row = Guid.NewGuid();
        var a = cipher.Encrypt(row, 1, "f", "same"u8);
        var b = cipher.Encrypt(row, 1, "f", "same"u8);
        Assert.NotEqual(a, b);
        var expected = new byte[12];
        new DeterministicRandom("nonce").Fill(expected);
        Assert.Equal(expected, a[5..17]);
    }

    [Fact]
    public void An_empty_field_name_is_refused()
    {
        using var dek = TenantDataKey.Generate(Tenant, 1, new DeterministicRandom("field"));
        var cipher = new FieldCipher(dek, new DeterministicRandom("f"));
        Assert.Throws<ArgumentException>(() => cipher.Encrypt(Guid.NewGuid(), 1, "", "x"u8));
        var blob = cipher.Encrypt(Guid.NewGuid(), 1, "f", "x"u8);
        Assert.Throws<ArgumentException>(() => cipher.Decrypt(Guid.NewGuid(), 1, "", blob));
    }

    [Fact]
    public void A_blob_of_exactly_the_overhead_is_an_empty_value_and_one_byte_less_is_malformed()
    {
        using var dek = TenantDataKey.Generate(Tenant, 7, new DeterministicRandom("overhead"));
        var cipher = new FieldCipher(dek, new DeterministicRandom("o"));
        var row = Guid.NewGuid();
        var empty = cipher.Encrypt(row, 1, "f", []);
        Assert.Equal(Overhead, empty.Length);
        Assert.Equal(7, FieldCipher.DekVersionOf(empty));
        Assert.Empty(cipher.Decrypt(row, 1, "f", empty));
        Assert.Equal(CryptoError.InvalidPayload, Assert.Throws<CryptoException>(() => FieldCipher.DekVersionOf(empty.AsSpan(0, Overhead - 1))).Error);
        Assert.Equal(CryptoError.InvalidPayload, Assert.Throws<CryptoException>(() => FieldCipher.DekVersionOf([])).Error);
    }

    [Fact]
    public void A_blob_of_another_format_version_is_malformed()
    {
        using var dek = TenantDataKey.Generate(Tenant, 1, new DeterministicRandom("format"));
        var cipher = new FieldCipher(dek, new DeterministicRandom("fv"));
        var row = Guid.NewGuid();
        var blob = cipher.Encrypt(row, 1, "f", "value"u8);
        blob[0] = 2;
        Assert.Equal(CryptoError.InvalidPayload, Assert.Throws<CryptoException>(() => FieldCipher.DekVersionOf(blob)).Error);
        Assert.Equal(CryptoError.InvalidPayload, Assert.Throws<CryptoException>(() => cipher.Decrypt(row, 1, "f", blob)).Error);
    }

    [Fact]
    public void A_blob_written_under_another_dek_version_fails_even_with_the_same_key_bytes()
    {
        using var v1 = TenantDataKey.Generate(Tenant, 1, new DeterministicRandom("same-bytes"));
        using var v2 = TenantDataKey.Generate(Tenant, 2, new DeterministicRandom("same-bytes"));
        var row = Guid.NewGuid();
        var blob = new FieldCipher(v1, new DeterministicRandom("a")).Encrypt(row, 1, "f", "value"u8);
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => new FieldCipher(v2, new DeterministicRandom("b")).Decrypt(row, 1, "f", blob)).Error);
    }
}
