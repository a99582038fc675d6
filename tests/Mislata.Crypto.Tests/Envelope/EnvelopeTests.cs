using Mislata.Crypto.Envelope;

namespace Mislata.Crypto.Tests.Envelope;

public sealed class EnvelopeTests
{
    private static readonly Guid TenantA = Guid.Parse("aaaaaaaa-0000-4000-8000-000000000001");
    private static readonly Guid TenantB = Guid.Parse("bbbbbbbb-0000-4000-8000-000000000002");

    [Fact]
    public void Field_ciphertext_is_bound_to_its_row_version_field_and_tenant()
    {
        var random = new DeterministicRandom("field");
        using var dekA = TenantDataKey.Generate(TenantA, 1, random);
        var cipher = new FieldCipher(dekA, random);
        var row1 = Guid.NewGuid();
        var row2 = Guid.NewGuid();
        var blob = cipher.Encrypt(row1, 1, "privateKey", "secret"u8);
        Assert.Equal(1, FieldCipher.DekVersionOf(blob));
        Assert.Equal("secret"u8.ToArray(), cipher.Decrypt(row1, 1, "privateKey", blob));

        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => cipher.Decrypt(row2, 1, "privateKey", blob)).Error);
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => cipher.Decrypt(row1, 2, "privateKey", blob)).Error);
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => cipher.Decrypt(row1, 1, "secretValue", blob)).Error);

        using var dekB = TenantDataKey.Generate(TenantB, 1, random);
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => new FieldCipher(dekB, random).Decrypt(row1, 1, "privateKey", blob)).Error);
        blob[10] ^= 1;
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => cipher.Decrypt(row1, 1, "privateKey", blob)).Error);
    }

    [Fact]
    public void Dek_is_zeroed_on_dispose()
    {
        var dek = TenantDataKey.Generate(TenantA, 1, new DeterministicRandom("zero"));
        dek.Dispose();
        Assert.Throws<ObjectDisposedException>(() => dek.Key.ToArray());
    }
}
