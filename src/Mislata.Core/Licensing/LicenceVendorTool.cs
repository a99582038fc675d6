using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Mislata.Core.Licensing;

/// <summary>
/// The vendor's licence tooling, for the <c>mislata license</c> commands and <c>tools/Mislata.LicenceTool</c>:
/// <c>keygen</c> (a vendor key pair as two files), <c>issue</c> (a signed licence from a JSON spec and the private
/// key file) and <c>inspect</c> (the payload and whether its signatures hold against given or built-in keys).
/// </summary>
public static class LicenceVendorTool
{
    /// <summary>Writes <c>&lt;keyId&gt;.private.json</c> (mode 600 where supported) and <c>&lt;keyId&gt;.public.json</c> into <paramref name="directory"/>.</summary>
    public static (string PrivatePath, string PublicPath) KeyGen(string keyId, string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        using var pair = VendorKeyPair.Generate(keyId);
        Directory.CreateDirectory(directory);
        var privatePath = Path.Combine(directory, keyId + ".private.json");
        var publicPath = Path.Combine(directory, keyId + ".public.json");
        if (File.Exists(privatePath) || File.Exists(publicPath))
        {
            throw new IOException("a key file of this key id exists already; refusing to overwrite it");
        }

        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var writer = new StreamWriter(privatePath, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), options))
        {
            writer.Write(pair.ToPrivateJson());
        }

        File.WriteAllText(publicPath, pair.PublicKey.ToJson());
        return (privatePath, publicPath);
    }

    /// <summary>
    /// A licence from a JSON spec: <c>licensee</c>, <c>edition</c>, <c>expiresAt</c> (required); <c>id</c> (default a new
    /// GUID), <c>notBefore</c> (default <paramref name="now"/>), <c>graceDays</c> (default 30), <c>maxTenants</c>,
    /// <c>maxUsers</c>, <c>maxKeys</c> (default unlimited), <c>features</c>, <c>issuedAt</c> (default <paramref name="now"/>).
    /// </summary>
    public static string Issue(string specJson, string privateKeyJson, DateTimeOffset now)
    {
        using var vendor = VendorKeyPair.FromPrivateJson(privateKeyJson);
        var payload = PayloadFromSpec(specJson, now);
        return LicenceDocument.Issue(payload, vendor);
    }

    public static LicencePayload PayloadFromSpec(string specJson, DateTimeOffset now)
    {
        JsonElement spec;
        try
        {
            using var document = JsonDocument.Parse(specJson);
            spec = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new FormatException("the spec is not valid JSON", e);
        }

        if (spec.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("the spec is not a JSON object");
        }

        try
        {
            return PayloadFrom(spec, now);
        }
        catch (Exception e) when (e is InvalidOperationException or OverflowException or ArgumentException)
        {
            // A member of the wrong JSON type (a number as text, a date as a number…).
            throw new FormatException("the spec has a member of the wrong type: " + e.Message, e);
        }
    }

    private static LicencePayload PayloadFrom(JsonElement spec, DateTimeOffset now)
    {
        // Build the payload JSON from the spec with defaults, then read it back with the installation's own parser:
        // a spec the installation would refuse is refused here, before anything is signed.
        var id = Get(spec, "id") is { ValueKind: JsonValueKind.String } i ? Guid.Parse(i.GetString()!) : Guid.NewGuid();
        var draft = new LicencePayload(
            LicencePayload.CurrentFormatVersion,
            id,
            Get(spec, "licensee")?.GetString() ?? throw new FormatException("licensee is required"),
            Get(spec, "edition")?.GetString() ?? throw new FormatException("edition is required"),
            Get(spec, "issuedAt") is { } ia ? DateTimeOffset.Parse(ia.GetString()!, CultureInfo.InvariantCulture) : now,
            Get(spec, "notBefore") is { } nb ? DateTimeOffset.Parse(nb.GetString()!, CultureInfo.InvariantCulture) : now,
            Get(spec, "expiresAt") is { } ex ? DateTimeOffset.Parse(ex.GetString()!, CultureInfo.InvariantCulture) : throw new FormatException("expiresAt is required"),
            Get(spec, "graceDays")?.GetInt32() ?? 30,
            new LicenceLimits(Limit(spec, "maxTenants"), Limit(spec, "maxUsers"), Limit(spec, "maxKeys")),
            Get(spec, "features") is { ValueKind: JsonValueKind.Array } f ? [.. f.EnumerateArray().Select(e => e.GetString() ?? string.Empty)] : []);
        return LicencePayload.Parse(draft.ToJsonBytes(), out var reason) ?? throw new FormatException("the spec gives an invalid licence: " + reason);
    }

    /// <summary>A human-readable report: the payload as signed, the key id and the signature check.</summary>
    public static string Inspect(string licenceText, ILicenceTrustAnchors anchors, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(anchors);
        var report = new StringBuilder();
        byte[] payload;
        string keyId;
        try
        {
            payload = LicenceDocument.ReadPayloadUnchecked(licenceText, out keyId);
        }
        catch (FormatException e)
        {
            return "not a readable licence: " + e.Message + "\n";
        }

        report.Append("key id:    ").Append(keyId).Append('\n');
        report.Append("payload:   ").Append(Encoding.UTF8.GetString(payload)).Append('\n');
        var check = LicenceDocument.Verify(licenceText, anchors);
        report.Append("signature: ").Append(check.Problem == LicenceProblem.None ? "both ML-DSA-65 and Ed25519 verify" : check.Problem + ": " + check.Detail).Append('\n');
        var status = LicenceRules.Evaluate(check, revoked: false, now);
        report.Append("state now: ").Append(status.StateName);
        if (status.Reason is not null)
        {
            report.Append(" (").Append(status.Reason).Append(')');
        }

        return report.Append('\n').ToString();
    }

    private static JsonElement? Get(JsonElement spec, string name) =>
        spec.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null ? e : null;

    private static int? Limit(JsonElement spec, string name) => Get(spec, name)?.GetInt32();
}
