using System.Security.Cryptography;
using Mislata.Crypto.Primitives;

namespace Mislata.Crypto.Tests.Primitives;

/// <summary>AES-GCM primitive boundaries: tag lengths, nonce sizes, buffer sizes and wiping on failure (issue 9).</summary>
public sealed class AesGcmPrimitiveRuleTests
{
    private static readonly byte[] Key = Convert.FromHexString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    private static readonly byte[] Plaintext = "sixteen byte msg and more"u8.ToArray();
    private static readonly byte[] Aad = "aad"u8.ToArray();

    private static (byte[] Ciphertext, byte[] Tag) Seal(byte[] nonce, int tagLength)
    {
        var ct = new byte[Plaintext.Length];
        var tag = new byte[tagLength];
        AesGcmPrimitive.Encrypt(Key, nonce, Plaintext, ct, tag, Aad);
        return (ct, tag);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(15)]
    public void A_shorter_tag_is_the_prefix_of_the_full_tag_for_a_96_bit_nonce(int tagLength)
    {
        var nonce = new byte[12];
        nonce[0] = 7;
        var (fullCt, fullTag) = Seal(nonce, 16);
        var (ct, tag) = Seal(nonce, tagLength);
        Assert.Equal(fullCt, ct);
        Assert.Equal(fullTag[..tagLength], tag);
    }

    [Fact]
    public void A_96_bit_tag_decrypts()
    {
        var nonce = new byte[12];
        var (ct, tag) = Seal(nonce, 12);
        var plaintext = new byte[ct.Length];
        AesGcmPrimitive.Decrypt(Key, nonce, ct, tag, plaintext, Aad);
        Assert.Equal(Plaintext, plaintext);
    }

    [Theory]
    [InlineData(12, 8)]
    [InlineData(16, 8)]
    [InlineData(16, 4)]
    public void Tags_shorter_than_96_bits_are_refused_even_where_GCM_could_verify_them(int nonceLength, int tagLength)
    {
        var nonce = RandomNumberGenerator.GetBytes(nonceLength);
        var (ct, tag) = Seal(nonce, tagLength);
        var ex = Assert.Throws<CryptoException>(() => AesGcmPrimitive.Decrypt(Key, nonce, ct, tag, new byte[ct.Length], Aad));
        Assert.Equal(CryptoError.DecryptionFailed, ex.Error);
    }

    [Fact]
    public void A_plaintext_buffer_of_another_length_than_the_ciphertext_is_refused_on_the_long_nonce_path()
    {
        var nonce = RandomNumberGenerator.GetBytes(16);
        var (ct, tag) = Seal(nonce, 16);
        var ok = new byte[ct.Length];
        AesGcmPrimitive.Decrypt(Key, nonce, ct, tag, ok, Aad);
        Assert.Equal(Plaintext, ok);
        var ex = Assert.Throws<CryptoException>(() => AesGcmPrimitive.Decrypt(Key, nonce, ct, tag, new byte[ct.Length + 1], Aad));
        Assert.Equal(CryptoError.DecryptionFailed, ex.Error);
    }

    [Theory]
    [InlineData(12)]
    [InlineData(16)]
    public void A_failed_decryption_wipes_the_callers_plaintext_buffer(int nonceLength)
    {
        var nonce = RandomNumberGenerator.GetBytes(nonceLength);
        var (ct, tag) = Seal(nonce, 16);
        tag[0] ^= 1;
        var plaintext = new byte[ct.Length];
        plaintext.AsSpan().Fill(0xEE);
        Assert.Throws<CryptoException>(() => AesGcmPrimitive.Decrypt(Key, nonce, ct, tag, plaintext, Aad));
        Assert.All(plaintext, b => Assert.Equal(0, b));
    }

    [Fact]
    public void An_empty_nonce_is_refused_with_a_crypto_error_on_encrypt()
    {
        var ex = Assert.Throws<CryptoException>(() => AesGcmPrimitive.Encrypt(Key, [], Plaintext, new byte[Plaintext.Length], new byte[16], Aad));
        Assert.Equal(CryptoError.DecryptionFailed, ex.Error);
    }
}
