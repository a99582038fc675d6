using System.Security.Cryptography;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.ApiKeys;
using Mislata.Infrastructure.Persistence.Tenants;

namespace Mislata.Infrastructure.Tests.Tenancy;

public sealed class TenantKeyWrapperTests : IDisposable
{
    private readonly MasterKeyRing _ring = MasterKeyRing.FromBase64(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), null);

    public void Dispose() => _ring.Dispose();

    [Fact]
    public void A_wrapped_data_key_unwraps_only_for_its_tenant_and_version()
    {
        var wrapper = new AesGcmTenantKeyWrapper(_ring);
        var tenant = Guid.NewGuid();
        var wrapped = wrapper.CreateDataKey(tenant, 1);
        Assert.Equal(_ring.Current.Id, wrapped.MasterKeyId);
        Assert.Equal(12 + 32 + 16, wrapped.WrappedKey.Length);

        var dek = wrapper.Unwrap(wrapped);
        Assert.Equal(32, dek.Length);
        Assert.Equal(dek, wrapper.Unwrap(wrapped));

        Assert.ThrowsAny<CryptographicException>(() => wrapper.Unwrap(wrapped with { TenantId = Guid.NewGuid() }));
        Assert.ThrowsAny<CryptographicException>(() => wrapper.Unwrap(wrapped with { Version = 2 }));
        Assert.ThrowsAny<CryptographicException>(() => wrapper.Unwrap(wrapped with { MasterKeyId = "mk-unknown" }));
        var tampered = (byte[])wrapped.WrappedKey.Clone();
        tampered[20] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => wrapper.Unwrap(wrapped with { WrappedKey = tampered }));
    }

    [Fact]
    public void A_wrapped_data_key_is_refused_when_truncated_extended_or_changed_anywhere()
    {
        var wrapper = new AesGcmTenantKeyWrapper(_ring);
        var wrapped = wrapper.CreateDataKey(Guid.NewGuid(), 1);
        Assert.ThrowsAny<CryptographicException>(() => wrapper.Unwrap(wrapped with { WrappedKey = wrapped.WrappedKey[1..] }));
        Assert.ThrowsAny<CryptographicException>(() => wrapper.Unwrap(wrapped with { WrappedKey = [.. wrapped.WrappedKey, 0] }));
        for (var i = 0; i < wrapped.WrappedKey.Length; i++)
        {
            var tampered = (byte[])wrapped.WrappedKey.Clone();
            tampered[i] ^= 0x80;
            Assert.ThrowsAny<CryptographicException>(() => wrapper.Unwrap(wrapped with { WrappedKey = tampered }));
        }
    }

    [Fact]
    public void The_wrapping_key_is_derived_from_the_master_key_not_the_master_key_itself()
    {
        // The master key is the root of every derivation (CRYPTO.md, PRODUCT.md): using its raw bytes as an AES key for
        // one purpose would tie that purpose's ciphertexts to every other derivation's input.
        var masterBytes = RandomNumberGenerator.GetBytes(32);
        using var ring = MasterKeyRing.FromBase64(Convert.ToBase64String(masterBytes), null);
        var wrapped = new AesGcmTenantKeyWrapper(ring).CreateDataKey(Guid.NewGuid(), 1);
        var blob = wrapped.WrappedKey;
        var aad = System.Text.Encoding.UTF8.GetBytes($"mislata/v1/dek|{wrapped.TenantId:D}|1|{wrapped.MasterKeyId}");
        using var raw = new AesGcm(masterBytes, 16);
        Assert.ThrowsAny<CryptographicException>(() => raw.Decrypt(blob[..12], blob.AsSpan(12, 32), blob.AsSpan(44), new byte[32], aad));

        var kek = new byte[32];
        ring.Current.DeriveKey("tenant-dek-wrap", kek);
        using var derived = new AesGcm(kek, 16);
        var dek = new byte[32];
        derived.Decrypt(blob[..12], blob.AsSpan(12, 32), blob.AsSpan(44), dek, aad);
        Assert.Equal(new AesGcmTenantKeyWrapper(ring).Unwrap(wrapped), dek);
    }

    [Fact]
    public void During_a_master_key_rotation_a_data_key_wrapped_under_the_previous_key_still_unwraps()
    {
        var oldKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var newKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var tenant = Guid.NewGuid();
        WrappedDataKey wrapped;
        byte[] dek;
        using (var before = MasterKeyRing.FromBase64(oldKey, null))
        {
            wrapped = new AesGcmTenantKeyWrapper(before).CreateDataKey(tenant, 3);
            dek = new AesGcmTenantKeyWrapper(before).Unwrap(wrapped);
        }

        using (var rotating = MasterKeyRing.FromBase64(newKey, oldKey))
        {
            Assert.NotEqual(rotating.Current.Id, wrapped.MasterKeyId);
            Assert.Equal(dek, new AesGcmTenantKeyWrapper(rotating).Unwrap(wrapped));
            var fresh = new AesGcmTenantKeyWrapper(rotating).CreateDataKey(tenant, 4);
            Assert.Equal(rotating.Current.Id, fresh.MasterKeyId);
        }

        // Without the previous key (after the rotation), what it wrapped no longer unwraps.
        using var after = MasterKeyRing.FromBase64(newKey, null);
        Assert.ThrowsAny<CryptographicException>(() => new AesGcmTenantKeyWrapper(after).Unwrap(wrapped));
    }

    [Fact]
    public void Rewrap_moves_a_data_key_to_the_current_master_key_and_keeps_its_bytes_tenant_and_version()
    {
        var oldKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var newKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var tenant = Guid.NewGuid();
        using var before = MasterKeyRing.FromBase64(oldKey, null);
        var wrapped = new AesGcmTenantKeyWrapper(before).CreateDataKey(tenant, 2);
        var dek = new AesGcmTenantKeyWrapper(before).Unwrap(wrapped);

        using var rotating = MasterKeyRing.FromBase64(newKey, oldKey);
        var rewrapped = new AesGcmTenantKeyWrapper(rotating).Rewrap(wrapped);
        Assert.Equal((tenant, 2, rotating.Current.Id), (rewrapped.TenantId, rewrapped.Version, rewrapped.MasterKeyId));

        using var after = MasterKeyRing.FromBase64(newKey, null);
        Assert.Equal(dek, new AesGcmTenantKeyWrapper(after).Unwrap(rewrapped));
        Assert.ThrowsAny<CryptographicException>(() => new AesGcmTenantKeyWrapper(after).Rewrap(wrapped));
    }

    [Fact]
    public void Another_master_key_cannot_unwrap()
    {
        var tenant = Guid.NewGuid();
        var wrapped = new AesGcmTenantKeyWrapper(_ring).CreateDataKey(tenant, 1);
        using var otherRing = MasterKeyRing.FromBase64(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), null);
        Assert.ThrowsAny<CryptographicException>(() => new AesGcmTenantKeyWrapper(otherRing).Unwrap(wrapped));
    }

    [Fact]
    public void Api_keys_have_the_documented_shape_and_a_keyed_hash()
    {
        var key = ApiKeySecret.Generate();
        Assert.Matches("^qapi_[A-Za-z0-9_-]{43}$", key);
        Assert.True(ApiKeySecret.LooksLikeKey(key));
        Assert.False(ApiKeySecret.LooksLikeKey(key[..^1]));
        Assert.False(ApiKeySecret.LooksLikeKey(key[..^1] + "!"));
        Assert.NotEqual(key, ApiKeySecret.Generate());

        using var platformKey = PlatformKey.Generate();
        var secret = new ApiKeySecret(platformKey);
        Assert.Equal(secret.Hash(key), secret.Hash(key));
        Assert.NotEqual(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(key)), secret.Hash(key));
        using var otherKey = PlatformKey.Generate();
        Assert.NotEqual(secret.Hash(key), new ApiKeySecret(otherKey).Hash(key));
    }
}
