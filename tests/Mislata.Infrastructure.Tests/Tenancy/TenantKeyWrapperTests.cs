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

        var secret = new ApiKeySecret(_ring);
        Assert.Equal(secret.Hash(key), secret.Hash(key));
        Assert.NotEqual(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(key)), secret.Hash(key));
        using var otherRing = MasterKeyRing.FromBase64(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), null);
        Assert.NotEqual(secret.Hash(key), new ApiKeySecret(otherRing).Hash(key));
    }
}
