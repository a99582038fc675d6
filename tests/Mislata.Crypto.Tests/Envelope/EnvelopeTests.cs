using System.Security.Cryptography;
using Mislata.Crypto.Envelope;

namespace Mislata.Crypto.Tests.Envelope;

public sealed class EnvelopeTests
{
    private static readonly Guid TenantA = Guid.Parse("aaaaaaaa-0000-4000-8000-000000000001");
    private static readonly Guid TenantB = Guid.Parse("bbbbbbbb-0000-4000-8000-000000000002");
    private static string NewMaster() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    [Fact]
    public void Wrapped_dek_is_bound_to_tenant_and_version()
    {
        using var ring = MasterKeyRing.FromBase64(NewMaster(), null);
        var random = new DeterministicRandom("dek");
        using var dek = TenantDataKey.Generate(TenantA, 1, random);
        var wrapped = DataKeyWrapper.Wrap(ring, dek, random);
        Assert.Equal(ring.Current.Id, DataKeyWrapper.MasterKeyIdOf(wrapped));

        using var back = DataKeyWrapper.Unwrap(ring, wrapped, TenantA, 1);
        Assert.True(back.Key.SequenceEqual(dek.Key));
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => DataKeyWrapper.Unwrap(ring, wrapped, TenantB, 1)).Error);
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => DataKeyWrapper.Unwrap(ring, wrapped, TenantA, 2)).Error);
        wrapped[^1] ^= 1;
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => DataKeyWrapper.Unwrap(ring, wrapped, TenantA, 1)).Error);
        Assert.Equal(CryptoError.InvalidPayload, Assert.Throws<CryptoException>(() => DataKeyWrapper.Unwrap(ring, wrapped.AsSpan(1), TenantA, 1)).Error);
    }

    [Fact]
    public void Rewrap_moves_to_the_current_master_key_and_the_old_key_is_no_longer_needed()
    {
        var oldKey = NewMaster();
        var newKey = NewMaster();
        var random = new DeterministicRandom("rewrap");
        byte[] wrapped;
        byte[] dekBytes;
        using (var before = MasterKeyRing.FromBase64(oldKey, null))
        using (var dek = TenantDataKey.Generate(TenantA, 3, random))
        {
            wrapped = DataKeyWrapper.Wrap(before, dek, random);
            dekBytes = dek.Key.ToArray();
        }

        byte[] rewrapped;
        using (var rotating = MasterKeyRing.FromBase64(newKey, oldKey))
        {
            Assert.True(DataKeyWrapper.NeedsRewrap(rotating, wrapped));
            rewrapped = DataKeyWrapper.Rewrap(rotating, wrapped, TenantA, 3, random);
            Assert.False(DataKeyWrapper.NeedsRewrap(rotating, rewrapped));
            Assert.Equal(rotating.Current.Id, DataKeyWrapper.MasterKeyIdOf(rewrapped));
        }

        using var after = MasterKeyRing.FromBase64(newKey, null);
        using var unwrapped = DataKeyWrapper.Unwrap(after, rewrapped, TenantA, 3);
        Assert.True(unwrapped.Key.SequenceEqual(dekBytes));
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => DataKeyWrapper.Unwrap(after, wrapped, TenantA, 3)).Error);
    }

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
