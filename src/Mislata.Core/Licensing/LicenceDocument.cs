using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using Mislata.Crypto;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;

namespace Mislata.Core.Licensing;

/// <summary>Why a licence text was not accepted (docs/licensing.md).</summary>
public enum LicenceProblem
{
    None = 0,

    /// <summary>Not an armoured licence, not the envelope JSON, or a field of the envelope missing or malformed.</summary>
    Malformed = 1,

    /// <summary>The envelope's format version is not one this release reads.</summary>
    UnsupportedFormat = 2,

    /// <summary>Signed with a key id this installation does not trust.</summary>
    UnknownKey = 3,

    /// <summary>The ML-DSA-65 signature, the Ed25519 signature or both do not verify over the payload bytes.</summary>
    BadSignature = 4,

    /// <summary>The signatures hold but the payload is not a valid licence payload.</summary>
    InvalidPayload = 5,
}

/// <summary>The outcome of checking a licence text: the payload when both signatures hold, else the problem.</summary>
public sealed record LicenceCheck(LicencePayload? Licence, string? KeyId, LicenceProblem Problem, string? Detail)
{
    public bool IsAuthentic => Problem == LicenceProblem.None && Licence is not null;
}

/// <summary>
/// The licence file: an envelope carrying the payload's bytes (base64url) as the vendor signed them, the vendor key id
/// and two signatures over exactly those bytes — ML-DSA-65 (FIPS 204, context <see cref="MlDsaContext"/>) and Ed25519
/// (RFC 8032). Both must verify. Files carry the envelope in a text armour (<see cref="Armour"/>). Nothing is ever
/// re-serialised before a check, so there is no canonicalisation to get wrong.
/// </summary>
public static class LicenceDocument
{
    public const string Format = "mislata-license";
    public const int EnvelopeVersion = 1;
    public const string BeginLine = "-----BEGIN MISLATA LICENSE-----";
    public const string EndLine = "-----END MISLATA LICENSE-----";

    /// <summary>At most this many characters of licence text are read (a licence is about 8 KiB).</summary>
    public const int MaxTextLength = 64 * 1024;

    /// <summary>The ML-DSA context string: binds the signature to this use of the vendor key.</summary>
    public static readonly byte[] MlDsaContext = "mislata-license-v1"u8.ToArray();

    /// <summary>Signs a payload with a vendor key pair and returns the armoured licence text.</summary>
    public static string Issue(LicencePayload payload, VendorKeyPair vendor, IRandomSource? random = null)
    {
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(vendor);
        return Sign(payload.ToJsonBytes(), vendor, random);
    }

    /// <summary>Signs payload bytes as they are (the vendor tool's <c>issue</c>); returns the armoured licence text.</summary>
    public static string Sign(byte[] payloadBytes, VendorKeyPair vendor, IRandomSource? random = null)
    {
        ArgumentNullException.ThrowIfNull(payloadBytes);
        ArgumentNullException.ThrowIfNull(vendor);
        random ??= OsRandomSource.Instance;
        var mlDsa = AlgorithmRegistry.Default.GetSigner(AlgorithmNames.MlDsa65).Sign(vendor.MlDsa65, payloadBytes, MlDsaContext, random);
        var ed = AlgorithmRegistry.Default.GetSigner(AlgorithmNames.Ed25519).Sign(vendor.Ed25519, payloadBytes, [], random);
        return Armour(Envelope(payloadBytes, vendor.KeyId, mlDsa, ed));
    }

    /// <summary>The envelope JSON (what the armour carries).</summary>
    public static string Envelope(byte[] payloadBytes, string keyId, byte[] mlDsaSignature, byte[] ed25519Signature)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("format", Format);
            writer.WriteNumber("version", EnvelopeVersion);
            writer.WriteString("keyId", keyId);
            writer.WriteString("payload", Base64Url.EncodeToString(payloadBytes));
            writer.WriteStartObject("signatures");
            writer.WriteString("ml-dsa-65", Base64Url.EncodeToString(mlDsaSignature));
            writer.WriteString("ed25519", Base64Url.EncodeToString(ed25519Signature));
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The envelope JSON as base64 lines of 64 characters between the BEGIN and END lines.</summary>
    public static string Armour(string envelopeJson)
    {
        ArgumentNullException.ThrowIfNull(envelopeJson);
        var body = Convert.ToBase64String(Encoding.UTF8.GetBytes(envelopeJson));
        var text = new StringBuilder(BeginLine).Append('\n');
        for (var i = 0; i < body.Length; i += 64)
        {
            text.Append(body.AsSpan(i, Math.Min(64, body.Length - i))).Append('\n');
        }

        return text.Append(EndLine).Append('\n').ToString();
    }

    /// <summary>
    /// Checks a licence text (armoured, or the bare envelope JSON) against the trusted vendor keys. Never throws for
    /// any input; both signatures are always checked.
    /// </summary>
    public static LicenceCheck Verify(string? text, ILicenceTrustAnchors anchors)
    {
        ArgumentNullException.ThrowIfNull(anchors);
        if (string.IsNullOrWhiteSpace(text) || text.Length > MaxTextLength)
        {
            return Fail(LicenceProblem.Malformed, null, "the licence text is empty or too long");
        }

        ParsedEnvelope? envelope;
        try
        {
            envelope = ReadEnvelope(text);
        }
        catch (FormatException e)
        {
            return Fail(LicenceProblem.Malformed, null, e.Message);
        }

        if (envelope.Version != EnvelopeVersion)
        {
            return Fail(LicenceProblem.UnsupportedFormat, envelope.KeyId, "unsupported licence format version");
        }

        var key = anchors.Find(envelope.KeyId);
        if (key is null)
        {
            return Fail(LicenceProblem.UnknownKey, envelope.KeyId, "signed by a key this installation does not trust");
        }

        // Both are checked whatever the first answers: a licence holds only when both do.
        var mlDsaHolds = AlgorithmRegistry.Default.GetSigner(AlgorithmNames.MlDsa65).Verify(key.MlDsa65, envelope.Payload, MlDsaContext, envelope.MlDsaSignature);
        var edHolds = AlgorithmRegistry.Default.GetSigner(AlgorithmNames.Ed25519).Verify(key.Ed25519, envelope.Payload, [], envelope.Ed25519Signature);
        if (!(mlDsaHolds & edHolds))
        {
            return Fail(LicenceProblem.BadSignature, envelope.KeyId,
                (mlDsaHolds, edHolds) switch
                {
                    (false, false) => "neither signature verifies",
                    (false, true) => "the ML-DSA-65 signature does not verify",
                    _ => "the Ed25519 signature does not verify",
                });
        }

        var payload = LicencePayload.Parse(envelope.Payload, out var reason);
        return payload is null
            ? Fail(LicenceProblem.InvalidPayload, envelope.KeyId, reason)
            : new LicenceCheck(payload, envelope.KeyId, LicenceProblem.None, null);
    }

    /// <summary>The payload bytes of a licence text without checking anything (the vendor tool's <c>inspect</c>).</summary>
    public static byte[] ReadPayloadUnchecked(string text, out string keyId)
    {
        var envelope = ReadEnvelope(text);
        keyId = envelope.KeyId;
        return envelope.Payload;
    }

    private static LicenceCheck Fail(LicenceProblem problem, string? keyId, string? detail) => new(null, keyId, problem, detail);

    private sealed record ParsedEnvelope(int Version, string KeyId, byte[] Payload, byte[] MlDsaSignature, byte[] Ed25519Signature);

    private static ParsedEnvelope ReadEnvelope(string text)
    {
        var trimmed = text.Trim();
        string json;
        if (trimmed.StartsWith(BeginLine, StringComparison.Ordinal))
        {
            var end = trimmed.IndexOf(EndLine, StringComparison.Ordinal);
            if (end < 0 || trimmed[(end + EndLine.Length)..].Trim().Length > 0)
            {
                throw new FormatException("the armour has no END line or text after it");
            }

            var body = string.Concat(trimmed[BeginLine.Length..end].Where(c => !char.IsWhiteSpace(c)));
            try
            {
                json = new UTF8Encoding(false, true).GetString(Convert.FromBase64String(body));
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                throw new FormatException("the armour is not base64 of UTF-8 text", e);
            }
        }
        else if (trimmed.StartsWith('{'))
        {
            json = trimmed;
        }
        else
        {
            throw new FormatException("not a Mislata licence (no BEGIN line, not JSON)");
        }

        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 4 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !Is(root, "format", Format))
            {
                throw new FormatException("not a Mislata licence envelope");
            }

            var version = root.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n)
                ? n
                : throw new FormatException("the envelope has no version");
            var keyId = LicenceJson.KeyId(String(root, "keyId"));
            var payload = Bytes(String(root, "payload"), "payload");
            var signatures = root.TryGetProperty("signatures", out var s) && s.ValueKind == JsonValueKind.Object
                ? s
                : throw new FormatException("the envelope has no signatures");
            return new ParsedEnvelope(version, keyId, payload, Bytes(String(signatures, "ml-dsa-65"), "ml-dsa-65"), Bytes(String(signatures, "ed25519"), "ed25519"));
        }
        catch (JsonException e)
        {
            throw new FormatException("the envelope is not valid JSON", e);
        }
    }

    private static bool Is(JsonElement e, string name, string value) =>
        e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String && p.GetString() == value;

    private static string? String(JsonElement e, string name) =>
        e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;

    private static byte[] Bytes(string? value, string name)
    {
        if (value is null)
        {
            throw new FormatException(name + " is missing");
        }

        try
        {
            return Base64Url.DecodeFromChars(value);
        }
        catch (FormatException e)
        {
            throw new FormatException(name + " is not base64url", e);
        }
    }
}
