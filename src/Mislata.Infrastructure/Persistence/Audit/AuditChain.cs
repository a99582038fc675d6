using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>The hash-chain rule, shared by the writer and the verifier.</summary>
internal static class AuditChain
{
    public const int HashSize = 32;

    public static readonly byte[] Genesis = new byte[HashSize];

    /// <summary>The chain of a tenant; the platform's own events (no tenant) form chain <see cref="Guid.Empty"/>.</summary>
    public static Guid ChainOf(Guid? tenantId) => tenantId ?? Guid.Empty;

    /// <summary>PostgreSQL keeps microseconds: times are truncated before hashing so stored rows verify.</summary>
    public static DateTimeOffset Truncate(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % 10), TimeSpan.Zero);

    /// <summary>SHA-256(prev ‖ fields), each field length-prefixed (big-endian int32, -1 for null) so no two events collide.</summary>
    public static byte[] Compute(ReadOnlySpan<byte> previous, AuditEventRecord e)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(previous);
        Append(hash, "mislata/audit/v1");
        Append(hash, e.Id.ToString("D"));
        Append(hash, e.Chain.ToString("D"));
        Append(hash, e.Sequence.ToString(CultureInfo.InvariantCulture));
        Append(hash, e.OccurredAt.UtcTicks.ToString(CultureInfo.InvariantCulture));
        Append(hash, e.TenantId?.ToString("D"));
        Append(hash, e.ActorType);
        Append(hash, e.ActorId);
        Append(hash, e.Action);
        Append(hash, e.ResourceType);
        Append(hash, e.ResourceId);
        Append(hash, e.Outcome);
        Append(hash, e.ErrorCode);
        Append(hash, e.SourceIp);
        Append(hash, e.RequestId);
        Append(hash, e.Details is null ? null : CanonicalDetails(e.Details));
        return hash.GetHashAndReset();
    }

    /// <summary>Details as JSON with keys sorted ordinally (PostgreSQL jsonb reorders keys: re-canonicalise on read).</summary>
    public static string? SerializeDetails(IReadOnlyDictionary<string, string>? details) =>
        details is null || details.Count == 0
            ? null
            : JsonSerializer.Serialize(new SortedDictionary<string, string>(details.ToDictionary(), StringComparer.Ordinal));

    public static IReadOnlyDictionary<string, string>? DeserializeDetails(string? json) =>
        json is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(json);

    private static string CanonicalDetails(string json)
    {
        try
        {
            return SerializeDetails(DeserializeDetails(json)) ?? "{}";
        }
        catch (JsonException)
        {
            // A hand-edited, non-conforming value: hash it as it is, so verification reports the row.
            return json;
        }
    }

    private static void Append(IncrementalHash hash, string? value)
    {
        Span<byte> length = stackalloc byte[4];
        if (value is null)
        {
            BinaryPrimitives.WriteInt32BigEndian(length, -1);
            hash.AppendData(length);
            return;
        }

        var bytes = Encoding.UTF8.GetBytes(value);
        BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }
}
