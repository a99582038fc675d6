using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;
using Mislata.Crypto.Payloads;
using Org.BouncyCastle.Crypto.Kems;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mislata.Crypto.Tests.Payloads;

public sealed class EncryptedPayloadCodecTests
{
    private static readonly Guid KeyId = Guid.Parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301");
    private static readonly AlgorithmRegistry Registry = AlgorithmRegistry.Default;

    public static TheoryData<string, string> Schemes => new()
    {
        { PayloadSchemes.MlKem512, AlgorithmNames.MlKem512 },
        { PayloadSchemes.MlKem768, AlgorithmNames.MlKem768 },
        { PayloadSchemes.MlKem1024, AlgorithmNames.MlKem1024 },
        { PayloadSchemes.RsaOaep256, AlgorithmNames.Rsa2048 },
        { PayloadSchemes.A256Gcm, AlgorithmNames.Aes256Gcm },
    };

    private static KeyMaterial Key(string algorithm) =>
        Registry.Generate(algorithm, Registry.Get(algorithm).Info.DefaultKeyType, new DeterministicRandom("codec-key/" + algorithm));

    /// <summary>A third party following CRYPTO.md with BouncyCastle/.NET directly (not the codec).</summary>
    private static string ThirdPartyPayload(string scheme, KeyMaterial key, byte[] plaintext, string encoding, string? context)
    {
        var cek = new byte[32];
        byte[]? ek = null;
        if (scheme == PayloadSchemes.A256Gcm)
        {
            cek = key.ExportForStorage()[^32..];
        }
        else if (scheme == PayloadSchemes.RsaOaep256)
        {
            RandomNumberGenerator.Fill(cek);
            using var rsa = RSA.Create();
            rsa.ImportFromPem(PublicKeyExporter.ExportPem(key.PublicKey!));
            ek = rsa.Encrypt(cek, RSAEncryptionPadding.OaepSHA256);
        }
        else
        {
            var p = scheme switch { PayloadSchemes.MlKem512 => MLKemParameters.ml_kem_512, PayloadSchemes.MlKem768 => MLKemParameters.ml_kem_768, _ => MLKemParameters.ml_kem_1024 };
            var enc = new MLKemEncapsulator(p);
            enc.Init(new Org.BouncyCastle.Crypto.Parameters.ParametersWithRandom(MLKemPublicKeyParameters.FromEncoding(p, key.PublicKey!.Raw.ToArray()), new SecureRandom()));
            ek = new byte[enc.EncapsulationLength];
            var ss = new byte[32];
            enc.Encapsulate(ek, ss);
            cek = HKDF.DeriveKey(HashAlgorithmName.SHA256, ss, 32, [], Encoding.ASCII.GetBytes("mislata/v1/" + scheme));
        }

        var nonce = RandomNumberGenerator.GetBytes(12);
        var ct = new byte[plaintext.Length];
        var tag = new byte[16];
        var kid = KeyId.ToString();
        using (var gcm = new AesGcm(cek, 16))
        {
            gcm.Encrypt(nonce, plaintext, ct, tag, Encoding.UTF8.GetBytes($"mislata/v1|{scheme}|{kid}|1|{encoding}|{context}"));
        }

        var ekPart = ek is null ? string.Empty : $"\"ek\":\"{Convert.ToBase64String(ek)}\",";
        var json = $"{{\"v\":1,\"a\":\"{scheme}\",\"k\":\"{kid}\",\"kv\":1,{ekPart}\"n\":\"{Convert.ToBase64String(nonce)}\",\"c\":\"{Convert.ToBase64String(ct)}\",\"t\":\"{Convert.ToBase64String(tag)}\",\"e\":\"{encoding}\"}}";
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(json));
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Third_party_payload_decrypts(string scheme, string algorithm)
    {
        using var key = Key(algorithm);
        var payload = ThirdPartyPayload(scheme, key, "attack at dawn"u8.ToArray(), "utf8", "ctx-é");
        var parsed = EncryptedPayloadCodec.Parse(payload);
        Assert.Equal((scheme, KeyId, 1, "utf8"), (parsed.Scheme, parsed.KeyId, parsed.KeyVersion, parsed.Encoding));
        var result = EncryptedPayloadCodec.Decrypt(key, parsed, "ctx-é");
        Assert.Equal("attack at dawn", Encoding.UTF8.GetString(result.Plaintext));
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Decrypt(key, parsed, "ctx-e")).Error);
        Assert.Equal(CryptoError.DecryptionFailed, Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Decrypt(key, parsed, null)).Error);
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Every_changed_byte_and_header_fails(string scheme, string algorithm)
    {
        using var key = Key(algorithm);
        var payload = EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "0123456789abcdef"u8, "utf8", "c", new DeterministicRandom("flip"));
        Assert.Equal("0123456789abcdef", Encoding.UTF8.GetString(EncryptedPayloadCodec.Decrypt(key, payload, "c").Plaintext));
        var json = JsonNode.Parse(Convert.FromBase64String(payload))!.AsObject();
        var flips = 0;
        foreach (var field in new[] { "n", "c", "t", "ek" })
        {
            if (!json.ContainsKey(field))
            {
                continue;
            }

            var bytes = Convert.FromBase64String(json[field]!.GetValue<string>());
            for (var i = 0; i < bytes.Length; i++)
            {
                bytes[i] ^= 0x01;
                var tampered = json.DeepClone().AsObject();
                tampered[field] = Convert.ToBase64String(bytes);
                bytes[i] ^= 0x01;
                Fails(key, Encode(tampered), CryptoError.DecryptionFailed);
                flips++;
            }
        }

        // Every byte of n (12), t (16), c (the 16-byte plaintext) and ek (the scheme's length) was flipped once.
        Assert.Equal(12 + 16 + 16 + EncapsulatedKeyLength(scheme), flips);
        Fails(key, With(json, "k", "3f2504e0-4f89-41d3-9a0c-0305e82c3302"), CryptoError.DecryptionFailed);
        Fails(key, With(json, "kv", 2), CryptoError.DecryptionFailed);
        Fails(key, With(json, "e", "base64"), CryptoError.DecryptionFailed);
        Fails(key, With(json, "v", 2), CryptoError.InvalidPayload);
        foreach (var other in PayloadSchemes.All.Where(s => s != scheme))
        {
            var ex = Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Decrypt(key, With(json, "a", other), "c"));
            Assert.Contains(ex.Error, new[] { CryptoError.InvalidPayload, CryptoError.AlgorithmMismatch });
        }
    }

    private static int EncapsulatedKeyLength(string scheme) => scheme switch
    {
        PayloadSchemes.MlKem512 => 768,
        PayloadSchemes.MlKem768 => 1088,
        PayloadSchemes.MlKem1024 => 1568,
        PayloadSchemes.RsaOaep256 => 256,
        _ => 0,
    };

    private static void Fails(KeyMaterial key, string payload, CryptoError expected)
    {
        var ex = Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Decrypt(key, payload, "c"));
        Assert.Equal(expected, ex.Error);
        if (expected == CryptoError.DecryptionFailed)
        {
            Assert.Equal("Decryption failed.", ex.Message);
        }
    }

    private static string Encode(JsonObject json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json.ToJsonString()));

    private static string With(JsonObject json, string field, JsonNode? value)
    {
        var copy = json.DeepClone().AsObject();
        copy[field] = value;
        return Encode(copy);
    }

    [Fact]
    public void Strict_parsing_rejects_malformed_payloads()
    {
        using var key = Key(AlgorithmNames.MlKem512);
        var good = JsonNode.Parse(Convert.FromBase64String(EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "base64", null, new DeterministicRandom("strict"))))!.AsObject();
        Invalid("not base64 at all");
        Invalid(Convert.ToBase64String("[1,2]"u8));
        Invalid(Convert.ToBase64String("{\"v\":1"u8));
        Invalid(With(good, "v", 2));
        Invalid(With(good, "v", "1"));
        Invalid(With(good, "a", "ML-KEM-2048+A256GCM"));
        Invalid(With(good, "k", KeyId.ToString().ToUpperInvariant()));
        Invalid(With(good, "k", "{" + KeyId + "}"));
        Invalid(With(good, "kv", 0));
        Invalid(With(good, "kv", 1.5));
        Invalid(With(good, "kv", "1"));
        Invalid(With(good, "e", "hex"));
        Invalid(With(good, "n", Convert.ToBase64String(new byte[11])));
        Invalid(With(good, "t", Convert.ToBase64String(new byte[15])));
        Invalid(With(good, "ek", Convert.ToBase64String(new byte[767])));
        Invalid(With(good, "c", "AAA"));
        Invalid(With(good, "c", "AB=="));
        Invalid(With(good, "x", 1));
        var missing = good.DeepClone().AsObject();
        missing.Remove("t");
        Invalid(Encode(missing));
        var noEk = good.DeepClone().AsObject();
        noEk.Remove("ek");
        Invalid(Encode(noEk));
        Invalid(With(With2(good, "a", PayloadSchemes.A256Gcm), "ek", Convert.ToBase64String(new byte[768])));
        var dupJson = good.ToJsonString().Replace("\"v\":1", "\"v\":1,\"v\":1", StringComparison.Ordinal);
        Assert.NotEqual(good.ToJsonString(), dupJson);
        Invalid(Convert.ToBase64String(Encoding.UTF8.GetBytes(dupJson)));
    }

    private static JsonObject With2(JsonObject json, string field, JsonNode? value)
    {
        var copy = json.DeepClone().AsObject();
        copy[field] = value;
        return copy;
    }

    private static void Invalid(string payload) =>
        Assert.Equal(CryptoError.InvalidPayload, Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Parse(payload)).Error);

    [Fact]
    public void Signing_keys_cannot_encrypt()
    {
        using var key = Key(AlgorithmNames.MlDsa44);
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() =>
            EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "utf8", null, new DeterministicRandom("x"))).Error);
    }
}
