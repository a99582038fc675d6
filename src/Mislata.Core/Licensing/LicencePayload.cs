using System.Globalization;
using System.Text.Json;

namespace Mislata.Core.Licensing;

/// <summary>What a licence allows: null = unlimited.</summary>
public sealed record LicenceLimits(int? MaxTenants, int? MaxUsers, int? MaxKeys)
{
    public static LicenceLimits Unlimited { get; } = new(null, null, null);
}

/// <summary>
/// The signed content of a licence (format version 1). It is read from the exact bytes the vendor signed; nothing here is
/// ever serialised again to be checked (see <see cref="LicenceDocument"/>).
/// </summary>
public sealed record LicencePayload(
    int FormatVersion,
    Guid Id,
    string Licensee,
    string Edition,
    DateTimeOffset IssuedAt,
    DateTimeOffset NotBefore,
    DateTimeOffset ExpiresAt,
    int GraceDays,
    LicenceLimits Limits,
    IReadOnlyList<string> Features)
{
    public const int CurrentFormatVersion = 1;
    public const int MaxGraceDays = 365;
    public const int MaxFeatures = 64;

    /// <summary>The end of the grace period: from then on the licence is <see cref="LicenceState.Restricted"/>.</summary>
    public DateTimeOffset GraceEndsAt => ExpiresAt.AddDays(GraceDays);

    /// <summary>Reads a payload; null with a reason when a field is missing, of the wrong type or out of range.</summary>
    public static LicencePayload? Parse(ReadOnlySpan<byte> json, out string? reason)
    {
        try
        {
            using var document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                reason = "the payload is not a JSON object";
                return null;
            }

            var version = Int(root, "formatVersion", required: true);
            if (version != CurrentFormatVersion)
            {
                reason = "unsupported payload format version";
                return null;
            }

            var id = root.TryGetProperty("id", out var idElement) && idElement.ValueKind == JsonValueKind.String && Guid.TryParseExact(idElement.GetString(), "D", out var g) && g != Guid.Empty
                ? g
                : throw new FormatException("id must be a GUID");
            var licensee = Text(root, "licensee", 200);
            var edition = Text(root, "edition", 64);
            var issuedAt = Time(root, "issuedAt");
            var notBefore = Time(root, "notBefore");
            var expiresAt = Time(root, "expiresAt");
            if (expiresAt <= notBefore)
            {
                throw new FormatException("expiresAt must be after notBefore");
            }

            var grace = Int(root, "graceDays", required: true)!.Value;
            if (grace is < 0 or > MaxGraceDays)
            {
                throw new FormatException("graceDays out of range");
            }

            var limits = new LicenceLimits(Int(root, "maxTenants", required: false), Int(root, "maxUsers", required: false), Int(root, "maxKeys", required: false));
            if (limits.MaxTenants < 0 || limits.MaxUsers < 0 || limits.MaxKeys < 0)
            {
                throw new FormatException("a limit is negative");
            }

            var features = new List<string>();
            if (root.TryGetProperty("features", out var list))
            {
                if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() > MaxFeatures)
                {
                    throw new FormatException("features must be an array of at most 64 names");
                }

                foreach (var item in list.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String || item.GetString() is not { Length: > 0 and <= 64 } name)
                    {
                        throw new FormatException("a feature is not a name");
                    }

                    features.Add(name);
                }
            }

            reason = null;
            return new LicencePayload(version.Value, id, licensee, edition, issuedAt, notBefore, expiresAt, grace, limits, features);
        }
        catch (JsonException)
        {
            reason = "the payload is not valid JSON";
            return null;
        }
        catch (FormatException e)
        {
            reason = e.Message;
            return null;
        }
    }

    /// <summary>The payload's JSON (the vendor tool signs these bytes as they are).</summary>
    public byte[] ToJsonBytes()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("formatVersion", FormatVersion);
            writer.WriteString("id", Id.ToString("D"));
            writer.WriteString("licensee", Licensee);
            writer.WriteString("edition", Edition);
            writer.WriteString("issuedAt", Iso(IssuedAt));
            writer.WriteString("notBefore", Iso(NotBefore));
            writer.WriteString("expiresAt", Iso(ExpiresAt));
            writer.WriteNumber("graceDays", GraceDays);
            WriteLimit(writer, "maxTenants", Limits.MaxTenants);
            WriteLimit(writer, "maxUsers", Limits.MaxUsers);
            WriteLimit(writer, "maxKeys", Limits.MaxKeys);
            writer.WriteStartArray("features");
            foreach (var feature in Features)
            {
                writer.WriteStringValue(feature);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static string Iso(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static void WriteLimit(Utf8JsonWriter writer, string name, int? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static int? Int(JsonElement root, string name, bool required)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return required ? throw new FormatException(name + " is missing") : null;
        }

        return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v : throw new FormatException(name + " must be an integer");
    }

    private static string Text(JsonElement root, string name, int max) =>
        root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String && e.GetString() is { Length: > 0 } s && s.Length <= max && !s.Any(char.IsControl)
            ? s
            : throw new FormatException($"{name} must be 1 to {max} characters");

    private static DateTimeOffset Time(JsonElement root, string name) =>
        root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String &&
        DateTimeOffset.TryParse(e.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t
            : throw new FormatException(name + " must be an ISO 8601 time");
}
