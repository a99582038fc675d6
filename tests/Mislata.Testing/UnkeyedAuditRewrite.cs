using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace Mislata.Testing;

/// <summary>
/// What an attacker with database access alone (no master key) does to hide an edit of the audit trail: recompute the
/// chain from the edited row to the end under the public, unkeyed v1 rule — SHA-256(prev ‖ "mislata/audit/v1" ‖ fields) —
/// re-link every <c>prev_hash</c> and move the chain head to the new last hash. Written from the documented format, not
/// from the product's code, so it keeps working whatever the product does.
/// </summary>
public static class UnkeyedAuditRewrite
{
    /// <summary>
    /// Recomputes <paramref name="chain"/> from <paramref name="fromSequence"/> to the end (and moves the head) or through
    /// <paramref name="throughSequence"/> with the unkeyed rule. <paramref name="markUnkeyed"/>: also mark the rewritten rows
    /// as v1 rows (<c>mac_key_id</c> NULL), as an attacker who knows the upgrade path would.
    /// </summary>
    public static async Task RechainAsync(string connectionString, Guid chain, long fromSequence, bool markUnkeyed = false, long? throughSequence = null)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var rows = new List<Row>();
        await using (var select = new NpgsqlCommand("""
            SELECT id, chain, sequence, occurred_at, tenant_id, actor_type, actor_id, action, resource_type, resource_id, outcome,
                   error_code, source_ip, request_id, details::text, hash
            FROM mislata.audit_events WHERE chain = @chain ORDER BY sequence
            """, connection))
        {
            select.Parameters.AddWithValue("chain", chain);
            await using var reader = await select.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                rows.Add(new Row(
                    reader.GetGuid(0), reader.GetGuid(1), reader.GetInt64(2), reader.GetFieldValue<DateTimeOffset>(3),
                    reader.IsDBNull(4) ? null : reader.GetGuid(4), reader.GetString(5), reader.GetString(6), reader.GetString(7),
                    Text(reader, 8), Text(reader, 9), reader.GetString(10), Text(reader, 11), Text(reader, 12), Text(reader, 13),
                    Text(reader, 14), (byte[])reader[15]));
            }
        }

        var previous = rows.Where(r => r.Sequence == fromSequence - 1).Select(r => r.Hash).SingleOrDefault() ?? new byte[32];
        foreach (var row in rows.Where(r => r.Sequence >= fromSequence && r.Sequence <= (throughSequence ?? long.MaxValue)))
        {
            var hash = Sha256Link(previous, row);
            var sql = markUnkeyed
                ? "UPDATE mislata.audit_events SET prev_hash = @prev, hash = @hash, mac_key_id = NULL WHERE id = @id"
                : "UPDATE mislata.audit_events SET prev_hash = @prev, hash = @hash WHERE id = @id";
            await using var update = new NpgsqlCommand(sql, connection);
            update.Parameters.AddWithValue("prev", previous);
            update.Parameters.AddWithValue("hash", hash);
            update.Parameters.AddWithValue("id", row.Id);
            await update.ExecuteNonQueryAsync();
            previous = hash;
        }

        if (throughSequence is not null)
        {
            return;
        }

        await using var head = new NpgsqlCommand("UPDATE mislata.audit_chain_heads SET last_hash = @hash WHERE chain = @chain", connection);
        head.Parameters.AddWithValue("hash", previous);
        head.Parameters.AddWithValue("chain", chain);
        await head.ExecuteNonQueryAsync();
    }

    /// <summary>The v1 link: SHA-256(prev ‖ fields), each field length-prefixed (big-endian int32, -1 for null).</summary>
    private static byte[] Sha256Link(byte[] previous, Row e)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(previous);
        var length = new byte[4];
        foreach (var field in new[]
        {
            "mislata/audit/v1", e.Id.ToString("D"), e.Chain.ToString("D"), e.Sequence.ToString(CultureInfo.InvariantCulture),
            e.OccurredAt.UtcTicks.ToString(CultureInfo.InvariantCulture), e.TenantId?.ToString("D"), e.ActorType, e.ActorId, e.Action,
            e.ResourceType, e.ResourceId, e.Outcome, e.ErrorCode, e.SourceIp, e.RequestId, Canonical(e.Details),
        })
        {
            if (field is null)
            {
                BinaryPrimitives.WriteInt32BigEndian(length, -1);
                hash.AppendData(length);
                continue;
            }

            var bytes = Encoding.UTF8.GetBytes(field);
            BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
            hash.AppendData(length);
            hash.AppendData(bytes);
        }

        return hash.GetHashAndReset();
    }

    private static string? Canonical(string? json) =>
        json is null
            ? null
            : JsonSerializer.Serialize(new SortedDictionary<string, string>(JsonSerializer.Deserialize<Dictionary<string, string>>(json)!, StringComparer.Ordinal));

    private static string? Text(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private sealed record Row(
        Guid Id, Guid Chain, long Sequence, DateTimeOffset OccurredAt, Guid? TenantId, string ActorType, string ActorId, string Action,
        string? ResourceType, string? ResourceId, string Outcome, string? ErrorCode, string? SourceIp, string? RequestId, string? Details, byte[] Hash);
}
