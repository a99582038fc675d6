using System.Security.Cryptography;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;

namespace Mislata.Crypto.Tests.Algorithms;

public sealed class AlgorithmTests
{
    private static readonly AlgorithmRegistry Registry = AlgorithmRegistry.Default;

    public static TheoryData<string> Signers => new()
    {
        AlgorithmNames.MlDsa44, AlgorithmNames.MlDsa65, AlgorithmNames.MlDsa87, AlgorithmNames.SlhDsaSha2_128f,
        AlgorithmNames.EcdsaP256, AlgorithmNames.EcdsaP384, AlgorithmNames.Ed25519, AlgorithmNames.Rsa2048,
    };

    [Fact]
    public void Registry_lists_exactly_the_API_algorithms_with_their_capabilities()
    {
        string[] expected =
        [
            "ML-KEM-512", "ML-KEM-768", "ML-KEM-1024", "AES-256-GCM", "RSA-2048", "RSA-3072", "RSA-4096", "ML-DSA-44", "ML-DSA-65",
            "ML-DSA-87", "SLH-DSA-SHA2-128s", "SLH-DSA-SHA2-128f", "ECDSA-P256", "ECDSA-P384", "Ed25519", "HMAC-SHA256", "HMAC-SHA512",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), Registry.All.Select(a => a.Name).Order(StringComparer.Ordinal));
        Assert.Equal(AlgorithmCapabilities.Encrypt | AlgorithmCapabilities.Wrap, Registry.Get("ML-KEM-768").Info.CapabilitiesFor(KeyType.Encryption));
        Assert.Equal(AlgorithmCapabilities.Sign, Registry.Get("RSA-3072").Info.CapabilitiesFor(KeyType.Signing));
        Assert.Equal(AlgorithmCapabilities.Encrypt | AlgorithmCapabilities.Wrap, Registry.Get("RSA-3072").Info.CapabilitiesFor(KeyType.Encryption));
        Assert.Equal(AlgorithmCapabilities.None, Registry.Get("ML-DSA-65").Info.CapabilitiesFor(KeyType.Encryption));
        Assert.Equal(AlgorithmCapabilities.Hmac, Registry.Get("HMAC-SHA512").Info.CapabilitiesFor(KeyType.Hmac));
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() => Registry.GetSigner("ML-KEM-768")).Error);
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() => Registry.Get("ml-kem-768")).Error);
    }

    [Theory]
    [MemberData(nameof(Signers))]
    public void Sign_verify_round_trip_through_storage_and_tampering_fails(string algorithm)
    {
        var signer = Registry.GetSigner(algorithm);
        var random = new DeterministicRandom("sign/" + algorithm);
        using var generated = Registry.Generate(algorithm, KeyType.Signing, random);
        var stored = generated.ExportForStorage();
        using var key = KeyMaterial.FromStorage(stored);
        Assert.True(key.PublicKey!.Raw.SequenceEqual(generated.PublicKey!.Raw));

        var pqc = algorithm.StartsWith("ML-DSA", StringComparison.Ordinal) || algorithm.StartsWith("SLH", StringComparison.Ordinal);
        var context = pqc ? "tenant-context"u8.ToArray() : [];
        var message = "hello, Mislata"u8.ToArray();
        var signature = signer.Sign(key, message, context, random);
        var pub = PublicKey.FromRaw(algorithm, KeyType.Signing, generated.PublicKey.Raw);
        Assert.True(signer.Verify(pub, message, context, signature));

        Assert.False(signer.Verify(pub, "hello, Mislatb"u8, context, signature));
        var bad = (byte[])signature.Clone();
        bad[bad.Length / 2] ^= 1;
        Assert.False(signer.Verify(pub, message, context, bad));
        Assert.False(signer.Verify(pub, message, context, signature.AsSpan(1)));
        if (pqc)
        {
            Assert.False(signer.Verify(pub, message, "other"u8, signature));
            Assert.Equal(CryptoError.InvalidArgument, Assert.Throws<CryptoException>(() => signer.Sign(key, message, new byte[256], random)).Error);
            Assert.NotNull(signer.Sign(key, message, new byte[255], random));
        }
    }

    [Fact]
    public void Signature_sizes_and_formats_follow_CRYPTO_md()
    {
        var random = new DeterministicRandom("sizes");
        using var p256 = Registry.Generate("ECDSA-P256", KeyType.Signing, random);
        Assert.Equal(64, Registry.GetSigner("ECDSA-P256").Sign(p256, "m"u8, [], random).Length); // P1363 r‖s
        using var ed = Registry.Generate("Ed25519", KeyType.Signing, random);
        Assert.Equal(64, Registry.GetSigner("Ed25519").Sign(ed, "m"u8, [], random).Length);
        using var ml = Registry.Generate("ML-DSA-65", KeyType.Signing, random);
        Assert.Equal(3309, Registry.GetSigner("ML-DSA-65").Sign(ml, "m"u8, [], random).Length);

        // RSA-PSS salt 32 (= SHA-256 length) verifies with an independent .NET verifier.
        using var rsa = Registry.Generate("RSA-2048", KeyType.Signing, random);
        var sig = Registry.GetSigner("RSA-2048").Sign(rsa, "m"u8, [], random);
        using var net = RSA.Create();
        net.ImportRSAPublicKey(rsa.PublicKey!.Raw, out _);
        Assert.True(net.VerifyData("m"u8, sig, HashAlgorithmName.SHA256, RSASignaturePadding.Pss));
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() =>
            Registry.GetKeyTransport("RSA-2048").WrapKey(rsa.PublicKey, new byte[32])).Error);
    }

    [Fact]
    public void Slh_dsa_128s_signs_once()
    {
        // Slow (~ seconds): one signature only.
        var random = new DeterministicRandom("slh-s");
        using var key = Registry.Generate(AlgorithmNames.SlhDsaSha2_128s, KeyType.Signing, random);
        var signer = Registry.GetSigner(AlgorithmNames.SlhDsaSha2_128s);
        var sig = signer.Sign(key, "m"u8, "c"u8, random);
        Assert.Equal(7856, sig.Length);
        Assert.True(signer.Verify(key.PublicKey!, "m"u8, "c"u8, sig));
        Assert.False(signer.Verify(key.PublicKey!, "m"u8, [], sig));
    }

    [Theory]
    [InlineData("ML-KEM-512")]
    [InlineData("ML-KEM-768")]
    [InlineData("ML-KEM-1024")]
    public void Kem_round_trip(string algorithm)
    {
        var kem = Registry.GetKem(algorithm);
        var random = new DeterministicRandom(algorithm);
        using var key = KeyMaterial.FromStorage(Registry.Generate(algorithm, KeyType.Encryption, random).ExportForStorage());
        var (ct, ss) = kem.Encapsulate(key.PublicKey!, random);
        Assert.Equal(kem.CiphertextLength, ct.Length);
        Assert.Equal(ss, kem.Decapsulate(key, ct));
        ct[0] ^= 1;
        Assert.NotEqual(ss, kem.Decapsulate(key, ct)); // implicit rejection
    }

    [Fact]
    public void Hmac_verifies_in_constant_time_and_rejects_wrong_length()
    {
        var mac = Registry.GetMac(AlgorithmNames.HmacSha512);
        using var key = Registry.Generate(AlgorithmNames.HmacSha512, KeyType.Hmac, new DeterministicRandom("hmac"));
        var tag = mac.Compute(key, "msg"u8);
        Assert.Equal(64, tag.Length);
        Assert.True(mac.Verify(key, "msg"u8, tag));
        Assert.False(mac.Verify(key, "msg"u8, tag.AsSpan(0, 32)));
        tag[^1] ^= 1;
        Assert.False(mac.Verify(key, "msg"u8, tag));
    }

    [Fact]
    public void Storage_form_rejects_garbage_and_zeroes_on_dispose()
    {
        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(() => KeyMaterial.FromStorage([1, 2])).Error);
        var key = Registry.Generate("AES-256-GCM", KeyType.Symmetric, new DeterministicRandom("aes"));
        var stored = key.ExportForStorage();
        stored[^33] = 9; // corrupt nothing structural: still one byte less → wrong key length
        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(() => KeyMaterial.FromStorage(stored.AsSpan(0, stored.Length - 1))).Error);
        key.Dispose();
        Assert.Throws<ObjectDisposedException>(() => key.ExportForStorage());
    }

    [Fact]
    public void Import_validates_material()
    {
        var random = new DeterministicRandom("import");
        InvalidKey(() => KeyImporter.Import("ML-KEM-768", KeyType.Encryption, ImportFormat.Raw, Convert.ToBase64String(new byte[63])));
        InvalidKey(() => KeyImporter.Import("Ed25519", KeyType.Signing, ImportFormat.Raw, "not base64!"));
        InvalidKey(() => KeyImporter.Import("AES-256-GCM", KeyType.Symmetric, ImportFormat.Raw, Convert.ToBase64String(new byte[16])));
        InvalidKey(() => KeyImporter.Import("ECDSA-P256", KeyType.Signing, ImportFormat.Jwk, "{\"kty\":\"EC\",\"crv\":\"P-384\",\"d\":\"AA\"}"));
        InvalidKey(() => KeyImporter.Import("ECDSA-P256", KeyType.Signing, ImportFormat.Jwk, "{not json"));

        // Wrong curve: a P-384 PKCS#8 offered as ECDSA-P256.
        using (var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384))
        {
            InvalidKey(() => KeyImporter.Import("ECDSA-P256", KeyType.Signing, ImportFormat.Pkcs8, Convert.ToBase64String(p384.ExportPkcs8PrivateKey())));
        }

        // Invalid point: (1, 1) is not on P-256.
        var point = new byte[65];
        point[0] = 4;
        point[32] = 1;
        point[64] = 1;
        InvalidKey(() => PublicKey.FromRaw("ECDSA-P256", KeyType.Signing, point));
        InvalidKey(() => PublicKey.FromRaw("ML-KEM-512", KeyType.Encryption, Enumerable.Repeat((byte)0xFF, 800).ToArray()));

        // JWK with a public part that does not match the private part.
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var p = ec.ExportParameters(true);
        var jwk = $"{{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":\"{B64u(p.D!)}\",\"x\":\"{B64u(p.Q.Y!)}\",\"y\":\"{B64u(p.Q.X!)}\"}}";
        InvalidKey(() => KeyImporter.Import("ECDSA-P256", KeyType.Signing, ImportFormat.Jwk, jwk));

        // Good imports: every format.
        var good = $"{{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":\"{B64u(p.D!)}\",\"x\":\"{B64u(p.Q.X!)}\",\"y\":\"{B64u(p.Q.Y!)}\"}}";
        using var fromJwk = KeyImporter.Import("ECDSA-P256", KeyType.Signing, ImportFormat.Jwk, good);
        using var fromPkcs8 = KeyImporter.Import("ECDSA-P256", KeyType.Signing, ImportFormat.Pkcs8, ec.ExportPkcs8PrivateKeyPem());
        using var fromRaw = KeyImporter.Import("ECDSA-P256", KeyType.Signing, ImportFormat.Raw, Convert.ToBase64String(p.D!));
        Assert.True(fromJwk.PublicKey!.Raw.SequenceEqual(fromPkcs8.PublicKey!.Raw));
        Assert.True(fromRaw.PublicKey!.Raw.SequenceEqual(fromPkcs8.PublicKey!.Raw));

        using var seed = Registry.Generate("ML-DSA-44", KeyType.Signing, random);
        var akp = $"{{\"kty\":\"AKP\",\"alg\":\"ML-DSA-44\",\"priv\":\"{B64u(seed.ExportForStorage().AsSpan(4 + 9).ToArray())}\",\"pub\":\"{B64u(seed.PublicKey!.Raw.ToArray())}\"}}";
        using var fromAkp = KeyImporter.Import("ML-DSA-44", KeyType.Signing, ImportFormat.Jwk, akp);
        Assert.True(fromAkp.PublicKey!.Raw.SequenceEqual(seed.PublicKey.Raw));

        using var rsa = RSA.Create(2048);
        using var rsaKey = KeyImporter.Import("RSA-2048", KeyType.Encryption, ImportFormat.Pkcs8, Convert.ToBase64String(rsa.ExportPkcs8PrivateKey()));
        InvalidKey(() => KeyImporter.Import("RSA-3072", KeyType.Encryption, ImportFormat.Pkcs8, Convert.ToBase64String(rsa.ExportPkcs8PrivateKey())));
    }

    private static string B64u(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static void InvalidKey(Action action) =>
        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(action).Error);

    [Fact]
    public void Jwk_export_carries_kid_use_and_AKP_shape()
    {
        var id = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        using var key = Registry.Generate("ML-DSA-65", KeyType.Signing, new DeterministicRandom("jwk"));
        var jwk = PublicKeyExporter.Export(key.PublicKey!, PublicKeyFormat.Jwk, id, 3);
        using var doc = System.Text.Json.JsonDocument.Parse(jwk);
        Assert.Equal("AKP", doc.RootElement.GetProperty("kty").GetString());
        Assert.Equal("ML-DSA-65", doc.RootElement.GetProperty("alg").GetString());
        Assert.Equal("0f8fad5b-d9cb-469f-a165-70867728950e.3", doc.RootElement.GetProperty("kid").GetString());
        Assert.Equal("sig", doc.RootElement.GetProperty("use").GetString());
        var pem = PublicKeyExporter.Export(key.PublicKey!, PublicKeyFormat.Pem, id, 3);
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", pem, StringComparison.Ordinal);
        var spki = PublicKeyExporter.ExportSpki(key.PublicKey!);
        var reader = new System.Formats.Asn1.AsnReader(spki, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
        Assert.Equal("2.16.840.1.101.3.4.3.18", reader.ReadSequence().ReadObjectIdentifier());
    }
}
