using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>
/// The chain rule, shared by the writer and the verifier. Each link is
/// <c>hash = HMAC-SHA-256(K, prev_hash ‖ "mislata/audit/v2" ‖ key id ‖ fields)</c> under the chain key
/// <see cref="AuditChainKeys"/> of the master key named by <c>mac_key_id</c>. Rows written before the chain was keyed
/// (<c>mac_key_id</c> null) keep the v1 rule <c>SHA-256(prev_hash ‖ "mislata/audit/v1" ‖ fields)</c>; they are valid only
/// as the start of a chain (a v1 row after a keyed one is invalid) and only under a keyed anchor: the next keyed link
/// MACs their last hash, and the chain head is MAC'd (sealed once when the keyed chain was introduced).
/// </summary>
internal static class AuditChain
{
    public const int HashSize = 32;

    public static readonly byte[] Genesis = new byte[HashSize];

    /// <summary>The chain of a tenant; the platform's own events (no tenant) form chain <see cref="Guid.Empty"/>.</summary>
    public static Guid ChainOf(Guid? tenantId) => tenantId ?? Guid.Empty;

    public static Guid? TenantOf(Guid chain) => chain == Guid.Empty ? null : chain;

    /// <summary>PostgreSQL keeps microseconds: times are truncated before hashing so stored rows verify.</summary>
    public static DateTimeOffset Truncate(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % 10), TimeSpan.Zero);

    /// <summary>The keyed link of a row whose <see cref="AuditEventRecord.MacKeyId"/> names <paramref name="key"/>.</summary>
    public static byte[] ComputeKeyed(byte[] key, ReadOnlySpan<byte> previous, AuditEventRecord e)
    {
        ArgumentNullException.ThrowIfNull(e);
        using var mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        mac.AppendData(previous);
        Append(mac, "mislata/audit/v2");
        Append(mac, e.MacKeyId);
        AppendFields(mac, e);
        return mac.GetHashAndReset();
    }

    /// <summary>
    /// The v1 (unkeyed) link: SHA-256(prev ‖ fields), each field length-prefixed (big-endian int32, -1 for null) so no two
    /// events collide. Anyone can recompute it: it is only read, for rows written before the chain was keyed.
    /// </summary>
    public static byte[] ComputeLegacy(ReadOnlySpan<byte> previous, AuditEventRecord e)
    {
        ArgumentNullException.ThrowIfNull(e);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(previous);
        Append(hash, "mislata/audit/v1");
        AppendFields(hash, e);
        return hash.GetHashAndReset();
    }

    /// <summary>The MAC of a chain head: which sequence and hash are the chain's last link (truncation evidence).</summary>
    public static byte[] HeadMac(byte[] key, string keyId, Guid chain, long lastSequence, ReadOnlySpan<byte> lastHash)
    {
        using var mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        Append(mac, "mislata/audit-head/v1");
        Append(mac, keyId);
        Append(mac, chain.ToString("D"));
        Append(mac, lastSequence.ToString(CultureInfo.InvariantCulture));
        mac.AppendData(lastHash);
        return mac.GetHashAndReset();
    }

    /// <summary>The MAC of a verification checkpoint: the verified prefix and where the re-check of old links stands.</summary>
    public static byte[] CheckpointMac(byte[] key, string keyId, Guid chain, long sequence, ReadOnlySpan<byte> hash, bool keyedSeen, long rescanAfter)
    {
        using var mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        Append(mac, "mislata/audit-checkpoint/v1");
        Append(mac, keyId);
        Append(mac, chain.ToString("D"));
        Append(mac, sequence.ToString(CultureInfo.InvariantCulture));
        mac.AppendData(hash);
        Append(mac, keyedSeen ? "keyed" : "legacy");
        Append(mac, rescanAfter.ToString(CultureInfo.InvariantCulture));
        return mac.GetHashAndReset();
    }

    public static bool SameHash(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) =>
        a.Length == b.Length && CryptographicOperations.FixedTimeEquals(a, b);

    private static void AppendFields(IncrementalHash hash, AuditEventRecord e)
    {
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
