using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;
using Mislata.Crypto.Payloads;
using Mislata.Testing.Docs;

namespace Mislata.Crypto.Tests.Docs;

/// <summary>
/// docs/formats.md is the public description of the formats: every example marked <c>formats-example:</c> is decoded,
/// decrypted or verified here with the test key it shows, and compared with the golden files, so the page, the golden
/// files and the code cannot drift apart. (The licence example is checked by Mislata.Api.Tests, which has the licence code.)
/// </summary>
public sealed class FormatsDocTests
{
    private const string Marker = "formats-example";
    private static readonly string GoldenDir = Path.Combine(SharedData.RepoRoot, "tests", "Mislata.Crypto.Tests", "Golden");
    private static readonly string[] Kinds = ["payload.", "signature.", "mac.", "public.", "licence."];

    private static IReadOnlyList<MarkdownExample> All() =>
        MarkdownExamples.Read(File.ReadAllText(Path.Combine(SharedData.RepoRoot, "docs", "formats.md")), Marker);

    private static MarkdownExample Example(string name) =>
        All().SingleOrDefault(e => e.Name == name) ?? throw new Xunit.Sdk.XunitException($"docs/formats.md has no example '{name}'");

    private static string GoldenText(string file)
    {
        var path = Path.Combine(GoldenDir, file);
        Assert.True(File.Exists(path), "missing golden file " + path);
        return File.ReadAllText(path).TrimEnd();
    }

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    /// <summary>The example's test key, imported the way <c>POST /keys/import</c> imports material.</summary>
    private static KeyMaterial ImportKey(JsonElement example)
    {
        var key = example.GetProperty("key");
        return KeyImporter.Import(
            key.GetProperty("algorithm").GetString()!,
            Enum.Parse<KeyType>(key.GetProperty("type").GetString()!, ignoreCase: true),
            Enum.Parse<ImportFormat>(key.GetProperty("format").GetString()!, ignoreCase: true),
            key.GetProperty("material").GetString()!);
    }

    [Fact]
    public void Every_example_is_of_a_checked_kind_and_every_scheme_has_one()
    {
        var all = All();
        Assert.NotEmpty(all);
        Assert.All(all, e => Assert.True(Kinds.Any(k => e.Name.StartsWith(k, StringComparison.Ordinal)), $"example '{e.Name}' (line {e.Line}) is of no kind a test checks"));
        foreach (var scheme in PayloadSchemes.All)
        {
            Example("payload." + scheme);
        }

        Console.WriteLine($"docs/formats.md: {all.Count} marked examples");
    }

    public static TheoryData<string> PayloadSchemeNames => [.. PayloadSchemes.All];

    [Theory]
    [MemberData(nameof(PayloadSchemeNames))]
    public void Payload_example_decrypts_with_its_test_key_and_is_the_golden_file(string scheme)
    {
        using var doc = JsonDocument.Parse(Example("payload." + scheme).Body);
        var example = doc.RootElement;
        var payload = example.GetProperty("encryptedPayload").GetString()!;
        Assert.Equal(GoldenText($"payload.{scheme}.txt"), payload);

        using var key = ImportKey(example);
        if (key.PublicKey is not null)
        {
            // The doc's private key is the one whose public export is pinned.
            Assert.Equal(GoldenText($"public.{key.Algorithm}.{key.KeyType.ToString().ToLowerInvariant()}.raw"), Convert.ToBase64String(key.PublicKey.Raw));
        }

        var parsed = EncryptedPayloadCodec.Parse(payload);
        Assert.Equal(scheme, parsed.Scheme);
        Assert.Equal(Guid.Parse(example.GetProperty("keyId").GetString()!), parsed.KeyId);
        Assert.Equal(example.GetProperty("keyVersion").GetInt32(), parsed.KeyVersion);

        var context = example.GetProperty("context").GetString();
        var decrypted = EncryptedPayloadCodec.Decrypt(key, parsed, context);
        Assert.Equal(example.GetProperty("plaintext").GetString(), Encoding.UTF8.GetString(decrypted.Plaintext));
        var wrongContext = Assert.Throws<CryptoException>(() => EncryptedPayloadCodec.Decrypt(key, parsed, context + "x"));
        Assert.Equal(CryptoError.DecryptionFailed, wrongContext.Error);
    }

    [Fact]
    public void The_decoded_payload_example_is_the_json_inside_the_golden_payload()
    {
        var inside = JsonNode.Parse(Convert.FromBase64String(GoldenText("payload.A256GCM.txt")));
        var shown = JsonNode.Parse(Example("payload.A256GCM.decoded").Body);
        Assert.True(JsonNode.DeepEquals(inside, shown), "docs/formats.md payload.A256GCM.decoded differs from: " + inside!.ToJsonString());
    }

    [Fact]
    public void The_step_by_step_example_derives_the_content_key_and_associated_data_of_the_ml_kem_768_payload()
    {
        using var payloadDoc = JsonDocument.Parse(Example("payload.ML-KEM-768+A256GCM").Body);
        using var stepsDoc = JsonDocument.Parse(Example("payload.ML-KEM-768+A256GCM.steps").Body);
        var steps = stepsDoc.RootElement;
        using var key = ImportKey(payloadDoc.RootElement);
        var parsed = EncryptedPayloadCodec.Parse(payloadDoc.RootElement.GetProperty("encryptedPayload").GetString()!);

        var sharedSecret = AlgorithmRegistry.Default.GetKem(key.Algorithm).Decapsulate(key, parsed.EncapsulatedKey.Span);
        StepIs(steps, "sharedSecret", Hex(sharedSecret));
        StepIs(steps, "hkdfInfo", "mislata/v1/" + parsed.Scheme);
        var cek = new byte[32];
        EncryptedPayloadCodec.DeriveCek(sharedSecret, parsed.Scheme, cek);
        StepIs(steps, "contentKey", Hex(cek));
        var aad = EncryptedPayloadCodec.Aad(parsed.Scheme, parsed.KeyId.ToString("D"), parsed.KeyVersion, parsed.Encoding, payloadDoc.RootElement.GetProperty("context").GetString());
        StepIs(steps, "associatedData", Encoding.UTF8.GetString(aad));

        // The content key, nonce and associated data shown are enough to open the ciphertext with plain AES-256-GCM.
        var plaintext = new byte[parsed.Ciphertext.Length];
        using var aes = new System.Security.Cryptography.AesGcm(Convert.FromHexString(steps.GetProperty("contentKey").GetString()!), 16);
        aes.Decrypt(parsed.Nonce.Span, parsed.Ciphertext.Span, parsed.Tag.Span, plaintext, Encoding.UTF8.GetBytes(steps.GetProperty("associatedData").GetString()!));
        Assert.Equal(payloadDoc.RootElement.GetProperty("plaintext").GetString(), Encoding.UTF8.GetString(plaintext));
    }

    private static void StepIs(JsonElement steps, string member, string computed) =>
        Assert.True(steps.GetProperty(member).GetString() == computed, $"docs/formats.md steps: {member} should be {computed}");

    public static TheoryData<string> SignatureExamples => [.. All().Where(e => e.Name.StartsWith("signature.", StringComparison.Ordinal)).Select(e => e.Name)];

    [Theory]
    [MemberData(nameof(SignatureExamples))]
    public void Signature_example_verifies_with_the_golden_public_key_and_fails_when_changed(string name)
    {
        using var doc = JsonDocument.Parse(Example(name).Body);
        var example = doc.RootElement;
        using var key = ImportKey(example);
        var publicKey = example.GetProperty("publicKey").GetString()!;
        Assert.Equal(Convert.ToBase64String(key.PublicKey!.Raw), publicKey);
        Assert.Equal(GoldenText($"public.{key.Algorithm}.signing.raw"), publicKey);

        var verifier = AlgorithmRegistry.Default.GetSigner(key.Algorithm);
        var pub = PublicKey.FromRaw(key.Algorithm, KeyType.Signing, Convert.FromBase64String(publicKey));
        var message = Encoding.UTF8.GetBytes(example.GetProperty("message").GetString()!);
        var context = example.TryGetProperty("context", out var c) ? Encoding.UTF8.GetBytes(c.GetString()!) : [];
        var signature = Convert.FromBase64String(example.GetProperty("signature").GetString()!);
        Assert.True(verifier.Verify(pub, message, context, signature), name + " does not verify");

        var changed = (byte[])signature.Clone();
        changed[^1] ^= 1;
        Assert.False(verifier.Verify(pub, message, context, changed));
        Assert.False(verifier.Verify(pub, [.. message, (byte)'!'], context, signature));
    }

    [Fact]
    public void Signature_examples_cover_every_family()
    {
        var names = All().Select(e => e.Name).ToList();
        foreach (var family in new[] { "ML-DSA-", "SLH-DSA-", "ECDSA-", "Ed25519", "RSA-" })
        {
            Assert.Contains(names, n => n.StartsWith("signature." + family, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Mac_example_is_what_the_code_computes()
    {
        using var doc = JsonDocument.Parse(Example("mac.HMAC-SHA256").Body);
        using var key = ImportKey(doc.RootElement);
        var mac = AlgorithmRegistry.Default.GetMac(key.Algorithm).Compute(key, Encoding.UTF8.GetBytes(doc.RootElement.GetProperty("message").GetString()!));
        Assert.Equal(doc.RootElement.GetProperty("mac").GetString(), Convert.ToBase64String(mac));
    }

    public static TheoryData<string> PublicKeyExamples => [.. All().Where(e => e.Name.StartsWith("public.", StringComparison.Ordinal)).Select(e => e.Name)];

    [Theory]
    [MemberData(nameof(PublicKeyExamples))]
    public void Public_key_example_is_the_golden_export(string name)
    {
        var example = Example(name);
        var golden = GoldenText(name);
        if (name.EndsWith(".jwk", StringComparison.Ordinal))
        {
            // Shown indented; the API writes it compact. Same members, same values.
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(golden), JsonNode.Parse(example.Body)), name + " differs from the golden file");
        }
        else
        {
            Assert.Equal(golden, example.Body.TrimEnd());
        }
    }
}
