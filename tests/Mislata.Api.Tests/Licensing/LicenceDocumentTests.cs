using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mislata.Core.Licensing;
using Mislata.Testing.Licensing;

namespace Mislata.Api.Tests.Licensing;

/// <summary>The licence format: both signatures over the payload bytes as transmitted, the trusted key ids, the armour.</summary>
public sealed class LicenceDocumentTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private static string ValidLicence(Guid? id = null) => TestVendor.Issue(Start, Start.AddYears(1), graceDays: 30, maxTenants: 10, maxUsers: 20, maxKeys: 30, id: id);

    /// <summary>The envelope JSON inside an armoured licence, as a mutable tree.</summary>
    private static JsonObject Envelope(string licence)
    {
        var body = string.Concat(licence.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal)));
        return JsonNode.Parse(Convert.FromBase64String(body))!.AsObject();
    }

    private static string Armour(JsonObject envelope) => LicenceDocument.Armour(envelope.ToJsonString());

    [Fact]
    public void An_issued_licence_verifies_and_carries_its_payload()
    {
        var id = Guid.NewGuid();
        var check = LicenceDocument.Verify(ValidLicence(id), TestVendor.Anchors);

        Assert.True(check.IsAuthentic, check.Detail);
        Assert.Equal(TestVendor.KeyId, check.KeyId);
        var licence = check.Licence!;
        Assert.Equal(id, licence.Id);
        Assert.Equal("Test Licensee", licence.Licensee);
        Assert.Equal("enterprise", licence.Edition);
        Assert.Equal(Start, licence.NotBefore);
        Assert.Equal(Start.AddYears(1), licence.ExpiresAt);
        Assert.Equal(30, licence.GraceDays);
        Assert.Equal(new LicenceLimits(10, 20, 30), licence.Limits);
        Assert.Equal(["byok"], licence.Features);
    }

    [Fact]
    public void The_armour_and_the_bare_envelope_are_both_read_and_surrounding_whitespace_is_ignored()
    {
        var licence = ValidLicence();
        Assert.StartsWith(LicenceDocument.BeginLine + "\n", licence, StringComparison.Ordinal);
        Assert.All(licence.Split('\n').Where(l => l.Length > 0), l => Assert.True(l.Length <= 64 || l.StartsWith("-----", StringComparison.Ordinal)));
        Assert.True(LicenceDocument.Verify("\n  " + licence.Replace("\n", "\r\n", StringComparison.Ordinal) + "  \n", TestVendor.Anchors).IsAuthentic);
        Assert.True(LicenceDocument.Verify(Envelope(licence).ToJsonString(), TestVendor.Anchors).IsAuthentic);

        // On one line (an .env file or a ConfigMap value): the line breaks of the armour are whitespace.
        Assert.True(LicenceDocument.Verify(licence.Replace('\n', ' '), TestVendor.Anchors).IsAuthentic);
    }

    [Fact]
    public void A_tampered_payload_fails_both_signatures()
    {
        var envelope = Envelope(ValidLicence());
        var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(envelope["payload"]!.GetValue<string>()));
        var raised = payload.Replace("\"maxTenants\":10", "\"maxTenants\":99", StringComparison.Ordinal);
        Assert.NotEqual(payload, raised);
        envelope["payload"] = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(raised));

        var check = LicenceDocument.Verify(Armour(envelope), TestVendor.Anchors);

        Assert.Equal(LicenceProblem.BadSignature, check.Problem);
        Assert.Equal("neither signature verifies", check.Detail);
        Assert.Null(check.Licence);
    }

    [Fact]
    public void The_same_payload_reserialised_differently_is_not_the_signed_bytes()
    {
        // Whitespace added to the payload JSON: the same meaning, other bytes. Only the bytes as signed verify.
        var envelope = Envelope(ValidLicence());
        var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(envelope["payload"]!.GetValue<string>()));
        envelope["payload"] = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload.Replace(",", ", ", StringComparison.Ordinal)));

        Assert.Equal(LicenceProblem.BadSignature, LicenceDocument.Verify(Armour(envelope), TestVendor.Anchors).Problem);
    }

    [Theory]
    [InlineData("ml-dsa-65", "the ML-DSA-65 signature does not verify")]
    [InlineData("ed25519", "the Ed25519 signature does not verify")]
    public void One_of_the_two_signatures_wrong_fails_the_licence(string signature, string detail)
    {
        // The other signature taken from another licence by the same key: well formed, over other bytes.
        var envelope = Envelope(ValidLicence());
        var other = Envelope(ValidLicence());
        envelope["signatures"]![signature] = other["signatures"]![signature]!.GetValue<string>();

        var check = LicenceDocument.Verify(Armour(envelope), TestVendor.Anchors);

        Assert.Equal(LicenceProblem.BadSignature, check.Problem);
        Assert.Equal(detail, check.Detail);
    }

    [Theory]
    [InlineData("ml-dsa-65")]
    [InlineData("ed25519")]
    public void A_flipped_bit_in_a_signature_fails_the_licence(string signature)
    {
        var envelope = Envelope(ValidLicence());
        var bytes = Base64Url.DecodeFromChars(envelope["signatures"]![signature]!.GetValue<string>());
        bytes[bytes.Length / 2] ^= 0x01;
        envelope["signatures"]![signature] = Base64Url.EncodeToString(bytes);

        Assert.Equal(LicenceProblem.BadSignature, LicenceDocument.Verify(Armour(envelope), TestVendor.Anchors).Problem);
    }

    [Fact]
    public void A_licence_signed_by_an_unknown_key_is_refused_even_under_a_trusted_key_id()
    {
        using var stranger = VendorKeyPair.Generate("stranger-1");
        var licence = LicenceDocument.Issue(TestVendor.Payload(Start, Start.AddYears(1)), stranger);
        Assert.Equal(LicenceProblem.UnknownKey, LicenceDocument.Verify(licence, TestVendor.Anchors).Problem);

        // The stranger's signatures under the trusted key id: they do not verify with the trusted key.
        var envelope = Envelope(licence);
        envelope["keyId"] = TestVendor.KeyId;
        Assert.Equal(LicenceProblem.BadSignature, LicenceDocument.Verify(Armour(envelope), TestVendor.Anchors).Problem);
    }

    [Fact]
    public void The_release_does_not_trust_the_test_vendor_key()
    {
        var builtIn = new BuiltInLicenceTrustAnchors();
        Assert.NotEmpty(builtIn.All);
        Assert.Null(builtIn.Find(TestVendor.KeyId));
        Assert.Equal(LicenceProblem.UnknownKey, LicenceDocument.Verify(ValidLicence(), builtIn).Problem);
    }

    public static TheoryData<string> Malformed() => new()
    {
        "",
        "   ",
        "not a licence",
        LicenceDocument.BeginLine + "\n!!!!\n" + LicenceDocument.EndLine,
        LicenceDocument.BeginLine + "\nAAAA\n",
        "{}",
        "[]",
        "{\"format\":\"mislata-license\"}",
        "{\"format\":\"something-else\",\"version\":1}",
        "{\"format\":\"mislata-license\",\"version\":1,\"keyId\":\"mislata-test-vendor-1\",\"payload\":\"e30\",\"signatures\":{}}",
        "{\"format\":\"mislata-license\",\"version\":1,\"keyId\":\"UPPER CASE\",\"payload\":\"e30\",\"signatures\":{\"ml-dsa-65\":\"AA\",\"ed25519\":\"AA\"}}",
        "{\"format\":\"mislata-license\",\"version\":1,\"keyId\":\"mislata-test-vendor-1\",\"payload\":\"not*base64\",\"signatures\":{\"ml-dsa-65\":\"AA\",\"ed25519\":\"AA\"}}",
        "{\"format\":\"mislata-license\",\"version\":\"1\",\"keyId\":\"mislata-test-vendor-1\",\"payload\":\"e30\",\"signatures\":{\"ml-dsa-65\":\"AA\",\"ed25519\":\"AA\"}}",
        "{\"format\": [1, 2, 3]",
        new string('{', 10_000),
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_text_is_refused_without_an_exception(string text) =>
        Assert.Equal(LicenceProblem.Malformed, LicenceDocument.Verify(text, TestVendor.Anchors).Problem);

    [Fact]
    public void Text_longer_than_the_limit_is_refused() =>
        Assert.Equal(LicenceProblem.Malformed, LicenceDocument.Verify(ValidLicence() + new string(' ', LicenceDocument.MaxTextLength), TestVendor.Anchors).Problem);

    [Fact]
    public void A_later_envelope_version_is_not_read_as_this_one()
    {
        var envelope = Envelope(ValidLicence());
        envelope["version"] = 2;
        Assert.Equal(LicenceProblem.UnsupportedFormat, LicenceDocument.Verify(Armour(envelope), TestVendor.Anchors).Problem);
    }

    public static TheoryData<string> InvalidPayloads() => new()
    {
        "not json",
        "[]",
        """{"formatVersion":2,"id":"6d1f4b0e-2f0a-4c8e-9a57-0b3c5d7e9f21","licensee":"a","edition":"e","issuedAt":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z","expiresAt":"2027-01-01T00:00:00Z","graceDays":30}""",
        """{"formatVersion":1,"licensee":"a","edition":"e","issuedAt":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z","expiresAt":"2027-01-01T00:00:00Z","graceDays":30}""",
        """{"formatVersion":1,"id":"6d1f4b0e-2f0a-4c8e-9a57-0b3c5d7e9f21","licensee":"","edition":"e","issuedAt":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z","expiresAt":"2027-01-01T00:00:00Z","graceDays":30}""",
        """{"formatVersion":1,"id":"6d1f4b0e-2f0a-4c8e-9a57-0b3c5d7e9f21","licensee":"a","edition":"e","issuedAt":"2026-01-01T00:00:00Z","notBefore":"2027-01-01T00:00:00Z","expiresAt":"2026-01-01T00:00:00Z","graceDays":30}""",
        """{"formatVersion":1,"id":"6d1f4b0e-2f0a-4c8e-9a57-0b3c5d7e9f21","licensee":"a","edition":"e","issuedAt":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z","expiresAt":"2027-01-01T00:00:00Z","graceDays":-1}""",
        """{"formatVersion":1,"id":"6d1f4b0e-2f0a-4c8e-9a57-0b3c5d7e9f21","licensee":"a","edition":"e","issuedAt":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z","expiresAt":"2027-01-01T00:00:00Z","graceDays":30,"maxKeys":-5}""",
        """{"formatVersion":1,"id":"6d1f4b0e-2f0a-4c8e-9a57-0b3c5d7e9f21","licensee":"a","edition":"e","issuedAt":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z","expiresAt":"2027-01-01T00:00:00Z","graceDays":30,"maxKeys":"many"}""",
        """{"formatVersion":1,"id":"6d1f4b0e-2f0a-4c8e-9a57-0b3c5d7e9f21","licensee":"a","edition":"e","issuedAt":"2026-01-01T00:00:00Z","notBefore":"2026-01-01T00:00:00Z","expiresAt":"2027-01-01T00:00:00Z","graceDays":30,"features":"byok"}""",
        """{"formatVersion":1,"id":"6d1f4b0e-2f0a-4c8e-9a57-0b3c5d7e9f21","licensee":"a","edition":"e","issuedAt":"yesterday","notBefore":"2026-01-01T00:00:00Z","expiresAt":"2027-01-01T00:00:00Z","graceDays":30}""",
    };

    [Theory]
    [MemberData(nameof(InvalidPayloads))]
    public void Authentic_signatures_over_an_invalid_payload_do_not_make_a_licence(string payload)
    {
        var licence = LicenceDocument.Sign(Encoding.UTF8.GetBytes(payload), TestVendor.KeyPair);
        var check = LicenceDocument.Verify(licence, TestVendor.Anchors);
        Assert.Equal(LicenceProblem.InvalidPayload, check.Problem);
        Assert.Null(check.Licence);
        Assert.Equal(LicenceState.Invalid, LicenceRules.Evaluate(check, false, Start).State);
    }

    [Fact]
    public void Unknown_payload_members_are_ignored_so_later_releases_may_add_some()
    {
        var payload = JsonNode.Parse(TestVendor.Payload(Start, Start.AddYears(1)).ToJsonBytes())!.AsObject();
        payload["supportTier"] = "gold";
        var check = LicenceDocument.Verify(LicenceDocument.Sign(Encoding.UTF8.GetBytes(payload.ToJsonString()), TestVendor.KeyPair), TestVendor.Anchors);
        Assert.True(check.IsAuthentic, check.Detail);
    }

    [Fact]
    public void Vendor_key_files_round_trip_and_a_wrong_file_is_refused()
    {
        using var pair = VendorKeyPair.Generate("round-trip-1");
        using var again = VendorKeyPair.FromPrivateJson(pair.ToPrivateJson());
        var publicKey = VendorPublicKey.FromJson(pair.PublicKey.ToJson());
        Assert.Equal("round-trip-1", again.KeyId);
        Assert.True(publicKey.MlDsa65.Raw.SequenceEqual(again.PublicKey.MlDsa65.Raw));
        Assert.True(publicKey.Ed25519.Raw.SequenceEqual(again.PublicKey.Ed25519.Raw));

        var licence = LicenceDocument.Issue(TestVendor.Payload(Start, Start.AddYears(1)), again);
        Assert.True(LicenceDocument.Verify(licence, new LicenceTrustAnchors([publicKey])).IsAuthentic);

        Assert.Throws<FormatException>(() => VendorKeyPair.FromPrivateJson(pair.PublicKey.ToJson()));
        Assert.Throws<FormatException>(() => VendorPublicKey.FromJson(pair.ToPrivateJson()));
        Assert.Throws<FormatException>(() => VendorPublicKey.FromJson("{\"format\":\"mislata-license-vendor-public-key\",\"keyId\":\"k\",\"ml-dsa-65\":\"AAAA\",\"ed25519\":\"AAAA\"}"));
        Assert.Throws<FormatException>(() => VendorKeyPair.FromPrivateJson("not json"));
        Assert.Throws<FormatException>(() => VendorKeyPair.Generate("Not A Key Id"));
    }
}
