using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mislata.Client.Offline;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Kems;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mislata.Client.Tests.Offline;

/// <summary>
/// The offline payload follows CRYPTO.md to the byte: opened here from the page alone (decapsulation, HKDF, AES-GCM
/// with the documented associated data). That /decrypt accepts it is checked against the running platform (end-to-end).
/// </summary>
public sealed class OfflineEncryptorTests
{
    private static (OfflinePublicKey Public, MLKemPrivateKeyParameters Private) MlKem(string algorithm)
    {
        var parameters = algorithm switch { "ML-KEM-512" => MLKemParameters.ml_kem_512, "ML-KEM-768" => MLKemParameters.ml_kem_768, _ => MLKemParameters.ml_kem_1024 };
        var generator = new MLKemKeyPairGenerator();
        generator.Init(new MLKemKeyGenerationParameters(new SecureRandom(), parameters));
        var pair = generator.GenerateKeyPair();
        return (new OfflinePublicKey(Guid.NewGuid(), 3, algorithm, ((MLKemPublicKeyParameters)pair.Public).GetEncoded()), (MLKemPrivateKeyParameters)pair.Private);
    }

    private static byte[] Open(string payload, Func<string, byte[], byte[]> contentKey, string? context)
    {
        var json = JsonDocument.Parse(Convert.FromBase64String(payload)).RootElement;
        Assert.Equal(["v", "a", "k", "kv", "ek", "n", "c", "t", "e"], json.EnumerateObject().Select(p => p.Name).ToArray());
        var a = json.GetProperty("a").GetString()!;
        var cek = contentKey(a, json.GetProperty("ek").GetBytesFromBase64());
        var aad = Encoding.ASCII.GetBytes($"mislata/v1|{a}|{json.GetProperty("k").GetString()}|{json.GetProperty("kv").GetInt32()}|{json.GetProperty("e").GetString()}|")
            .Concat(context is null ? [] : Encoding.UTF8.GetBytes(context)).ToArray();
        var c = json.GetProperty("c").GetBytesFromBase64();
        var plaintext = new byte[c.Length];
        using var aes = new AesGcm(cek, 16);
        aes.Decrypt(json.GetProperty("n").GetBytesFromBase64(), c, json.GetProperty("t").GetBytesFromBase64(), plaintext, aad);
        return plaintext;
    }

    [Theory]
    [InlineData("ML-KEM-512")]
    [InlineData("ML-KEM-768")]
    [InlineData("ML-KEM-1024")]
    public void An_ML_KEM_payload_opens_with_the_private_key_following_CRYPTO_md(string algorithm)
    {
        var (pub, priv) = MlKem(algorithm);
        var plaintext = RandomNumberGenerator.GetBytes(1000);

        var payload = OfflineEncryptor.Encrypt(pub, plaintext, "base64", "order-42");

        var json = JsonDocument.Parse(Convert.FromBase64String(payload)).RootElement;
        Assert.Equal((1, algorithm + "+A256GCM", pub.KeyId.ToString("D"), 3, "base64"),
            (json.GetProperty("v").GetInt32(), json.GetProperty("a").GetString(), json.GetProperty("k").GetString(), json.GetProperty("kv").GetInt32(), json.GetProperty("e").GetString()));
        var opened = Open(payload, (a, ek) =>
        {
            var decapsulator = new MLKemDecapsulator(priv.Parameters);
            decapsulator.Init(priv);
            var ss = new byte[decapsulator.SecretLength];
            decapsulator.Decapsulate(ek, 0, ek.Length, ss, 0, ss.Length);
            return HKDF.DeriveKey(HashAlgorithmName.SHA256, ss, 32, [], Encoding.ASCII.GetBytes("mislata/v1/" + a));
        }, "order-42");
        Assert.Equal(plaintext, opened);
        Assert.ThrowsAny<CryptographicException>(() => Open(payload, (a, ek) =>
        {
            var decapsulator = new MLKemDecapsulator(priv.Parameters);
            decapsulator.Init(priv);
            var ss = new byte[decapsulator.SecretLength];
            decapsulator.Decapsulate(ek, 0, ek.Length, ss, 0, ss.Length);
            return HKDF.DeriveKey(HashAlgorithmName.SHA256, ss, 32, [], Encoding.ASCII.GetBytes("mislata/v1/" + a));
        }, "order-43"));
    }

    [Fact]
    public void An_RSA_payload_opens_with_OAEP_SHA256()
    {
        using var rsa = RSA.Create(2048);
        var pub = new OfflinePublicKey(Guid.NewGuid(), 1, "RSA-2048", rsa.ExportRSAPublicKey());

        var payload = OfflineEncryptor.EncryptText(pub, "héllo");

        Assert.Equal("héllo", Encoding.UTF8.GetString(Open(payload, (a, ek) =>
        {
            Assert.Equal("RSA-OAEP-256+A256GCM", a);
            return rsa.Decrypt(ek, RSAEncryptionPadding.OaepSHA256);
        }, null)));
    }

    [Fact]
    public void Keys_that_cannot_encrypt_and_bad_encodings_are_refused()
    {
        Assert.Throws<NotSupportedException>(() => OfflineEncryptor.Encrypt(new OfflinePublicKey(Guid.NewGuid(), 1, "ML-DSA-65", new byte[1952]), [1]));
        Assert.Throws<ArgumentException>(() => OfflineEncryptor.Encrypt(MlKem("ML-KEM-768").Public, [1], "hex"));
        Assert.ThrowsAny<Exception>(() => OfflineEncryptor.Encrypt(new OfflinePublicKey(Guid.NewGuid(), 1, "ML-KEM-768", new byte[10]), [1]));
    }
}
