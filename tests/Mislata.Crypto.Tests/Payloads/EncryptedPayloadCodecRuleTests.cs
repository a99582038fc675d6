using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;
using Mislata.Crypto.Payloads;

namespace Mislata.Crypto.Tests.Payloads;

/// <summary>Boundary rules of the payload codec that the mutation run showed untested (issue 9).</summary>
public sealed class EncryptedPayloadCodecRuleTests
{
    private static readonly Guid KeyId = Guid.Parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301");
    private static readonly AlgorithmRegistry Registry = AlgorithmRegistry.Default;

    private static KeyMaterial Key(string algorithm) =>
        Registry.Generate(algorithm, Registry.Get(algorithm).Info.DefaultKeyType, new DeterministicRandom("codec-rule-key/" + algorithm));

    private static JsonObject Json(string payload) => JsonNode.Parse(Convert.FromBase64String(payload))!.AsObject();

    private static string Encode(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json));

    private static CryptoError ParseError(string payload) =>
        Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Parse(payload)).Error;

    [Fact]
    public void Null_arguments_are_refused_with_ArgumentNullException()
    {
        using var key = Key(AlgorithmNames.Aes256Gcm);
        var random = new DeterministicRandom("null-args");
        Assert.Throws<ArgumentNullException>(() => EncryptedPayloadCodec.Encrypt((KeyMaterial)null!, KeyId, 1, "x"u8, "utf8", null, random));
        Assert.Throws<ArgumentNullException>(() => EncryptedPayloadCodec.Encrypt((PublicKey)null!, KeyId, 1, "x"u8, "utf8", null, random));
        Assert.Throws<ArgumentNullException>(() => EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "utf8", null, null!));
        var payload = EncryptedPayloadCodec.Parse(EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "utf8", null, random));
        Assert.Throws<ArgumentNullException>(() => EncryptedPayloadCodec.Decrypt(null!, payload, null));
        Assert.Throws<ArgumentNullException>(() => EncryptedPayloadCodec.Decrypt(key, (EncryptedPayload)null!, null));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Encrypt_refuses_a_key_version_below_one(int version)
    {
        using var key = Key(AlgorithmNames.Aes256Gcm);
        var ex = Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Encrypt(key, KeyId, version, "x"u8, "utf8", null, new DeterministicRandom("kv")));
        Assert.Equal(CryptoError.InvalidArgument, ex.Error);
        Assert.Equal(1, EncryptedPayloadCodec.Parse(EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "utf8", null, new DeterministicRandom("kv"))).KeyVersion);
    }

    [Theory]
    [InlineData("hex")]
    [InlineData("UTF8")]
    [InlineData("")]
    public void Encrypt_refuses_an_encoding_other_than_utf8_or_base64(string encoding)
    {
        using var key = Key(AlgorithmNames.Aes256Gcm);
        var ex = Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, encoding, null, new DeterministicRandom("e")));
        Assert.Equal(CryptoError.InvalidArgument, ex.Error);
    }

    [Fact]
    public void Rsa_content_key_is_drawn_from_the_entropy_service()
    {
        using var key = Key(AlgorithmNames.Rsa2048);
        var payload = EncryptedPayloadCodec.Parse(EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "utf8", null, new DeterministicRandom("rsa-cek")));
        var cek = Registry.GetKeyTransport(AlgorithmNames.Rsa2048).UnwrapKey(key, payload.EncapsulatedKey.Span);
        var expected = new byte[32];
        new DeterministicRandom("rsa-cek").Fill(expected); // the first 32 bytes the codec drew
        Assert.Equal(expected, cek);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(48)]
    public void Rsa_wrapped_content_key_of_the_wrong_length_is_a_generic_decryption_failure(int cekLength)
    {
        using var key = Key(AlgorithmNames.Rsa2048);
        var json = Json(EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "hello"u8, "utf8", null, new DeterministicRandom("rsa-len")));
        using var rsa = RSA.Create();
        rsa.ImportFromPem(PublicKeyExporter.ExportPem(key.PublicKey!));
        json["ek"] = Convert.ToBase64String(rsa.Encrypt(RandomNumberGenerator.GetBytes(cekLength), RSAEncryptionPadding.OaepSHA256));
        var ex = Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Decrypt(key, Encode(json.ToJsonString()), null));
        Assert.Equal(CryptoError.DecryptionFailed, ex.Error);
        Assert.Equal("Decryption failed.", ex.Message);
    }

    public static TheoryData<string, KeyType> NotEncryptionKeys => new()
    {
        { "no-such-algorithm", KeyType.Encryption },
        { AlgorithmNames.MlKem768, KeyType.Signing },
        { AlgorithmNames.MlDsa65, KeyType.Signing },
        { AlgorithmNames.HmacSha256, KeyType.Hmac },
        { AlgorithmNames.Rsa2048, KeyType.Signing },
        { AlgorithmNames.Aes256Gcm, KeyType.Encryption },
    };

    [Theory]
    [MemberData(nameof(NotEncryptionKeys))]
    public void SchemeFor_refuses_keys_that_cannot_encrypt(string algorithm, KeyType type) =>
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.SchemeFor(algorithm, type)).Error);

    [Theory]
    [InlineData(AlgorithmNames.MlKem512, KeyType.Encryption, PayloadSchemes.MlKem512)]
    [InlineData(AlgorithmNames.MlKem1024, KeyType.Encryption, PayloadSchemes.MlKem1024)]
    [InlineData(AlgorithmNames.Rsa4096, KeyType.Encryption, PayloadSchemes.RsaOaep256)]
    [InlineData(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, PayloadSchemes.A256Gcm)]
    public void SchemeFor_names_the_payload_scheme_of_each_encryption_key(string algorithm, KeyType type, string scheme) =>
        Assert.Equal(scheme, EncryptedPayloadCodec.SchemeFor(algorithm, type));

    [Fact]
    public void Trailing_commas_are_refused()
    {
        using var key = Key(AlgorithmNames.Aes256Gcm);
        var json = Json(EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "utf8", null, new DeterministicRandom("comma"))).ToJsonString();
        Assert.Equal(PayloadSchemes.A256Gcm, EncryptedPayloadCodec.Parse(Encode(json)).Scheme);
        Assert.Equal(CryptoError.InvalidPayload, ParseError(Encode(json[..^1] + ",}")));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("k")]
    [InlineData("n")]
    [InlineData("c")]
    [InlineData("t")]
    [InlineData("e")]
    public void A_string_field_that_is_null_or_a_number_is_invalid_payload(string field)
    {
        using var key = Key(AlgorithmNames.Aes256Gcm);
        var json = Json(EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "utf8", null, new DeterministicRandom("null-field")));
        json[field] = null;
        Assert.Equal(CryptoError.InvalidPayload, ParseError(Encode(json.ToJsonString())));
        json[field] = 1;
        Assert.Equal(CryptoError.InvalidPayload, ParseError(Encode(json.ToJsonString())));
    }

    [Fact]
    public void The_two_escapes_real_encoders_write_are_accepted_and_no_other()
    {
        using var key = Key(AlgorithmNames.MlKem512);
        var json = Json(EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "utf8", "ctx", new DeterministicRandom("escapes"))).ToJsonString();
        var plain = json.Replace("\\u002B", "+", StringComparison.Ordinal);
        Assert.Contains("ML-KEM-512+A256GCM", plain, StringComparison.Ordinal);

        // System.Text.Json writes '+' as \u002B; PHP writes '/' as \/.
        var stj = plain.Replace("ML-KEM-512+A256GCM", "ML-KEM-512\\u002BA256GCM", StringComparison.Ordinal);
        Assert.Equal(PayloadSchemes.MlKem512, EncryptedPayloadCodec.Parse(Encode(stj)).Scheme);
        Assert.Equal("x"u8.ToArray(), EncryptedPayloadCodec.Decrypt(key, Encode(stj), "ctx").Plaintext);
        var ek = Json(Encode(plain))["ek"]!.GetValue<string>();
        Assert.Contains("/", ek, StringComparison.Ordinal); // DeterministicRandom("escapes") gives an ek with a '/'
        var php = plain.Replace(ek, ek.Replace("/", "\\/", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Equal(PayloadSchemes.MlKem512, EncryptedPayloadCodec.Parse(Encode(php)).Scheme);
        Assert.Equal("x"u8.ToArray(), EncryptedPayloadCodec.Decrypt(key, Encode(php), "ctx").Plaintext);

        Assert.Equal(CryptoError.InvalidPayload, ParseError(Encode(plain.Replace("ML-KEM-512+A256GCM", "ML-KEM-512\\u002bA256GCM", StringComparison.Ordinal))));
        Assert.Equal(CryptoError.InvalidPayload, ParseError(Encode(plain.Replace("\"utf8\"", "\"\\u0075tf8\"", StringComparison.Ordinal))));
    }

    [Fact]
    public void Aad_binds_scheme_key_version_encoding_and_context_with_an_absent_context_as_empty()
    {
        Assert.Equal("mislata/v1|A256GCM|3f2504e0-4f89-41d3-9a0c-0305e82c3301|7|utf8|"u8.ToArray(),
            EncryptedPayloadCodec.Aad(PayloadSchemes.A256Gcm, KeyId.ToString("D"), 7, "utf8", null));
        Assert.Equal("mislata/v1|A256GCM|3f2504e0-4f89-41d3-9a0c-0305e82c3301|7|utf8|é"u8.ToArray(),
            EncryptedPayloadCodec.Aad(PayloadSchemes.A256Gcm, KeyId.ToString("D"), 7, "utf8", "é"));

        using var key = Key(AlgorithmNames.Aes256Gcm);
        var payload = EncryptedPayloadCodec.Encrypt(key, KeyId, 1, "x"u8, "utf8", null, new DeterministicRandom("aad"));
        Assert.Equal("x"u8.ToArray(), EncryptedPayloadCodec.Decrypt(key, payload, string.Empty).Plaintext);
    }
}
