using System.Globalization;
using Mislata.Infrastructure.Persistence.Audit;
using Npgsql;

namespace Mislata.Infrastructure.Tests.Audit;

/// <summary>Audit chains as the unkeyed (v1) version of the log wrote them: rows linked by the unkeyed hash, a head without a MAC.</summary>
internal static class UnkeyedChains
{
    /// <summary>Writes <paramref name="count"/> v1 rows of <paramref name="chain"/> and its unsealed head, as the superuser (set-up).</summary>
    public static async Task InsertAsync(string adminConnectionString, Guid chain, int count)
    {
        await using var dataSource = NpgsqlDataSource.Create(adminConnectionString);
        var previous = AuditChain.Genesis;
        var time = AuditChain.Truncate(DateTimeOffset.UtcNow);
        for (var i = 1; i <= count; i++)
        {
            var record = new AuditEventRecord
            {
                Id = Guid.CreateVersion7(),
                Chain = chain,
                Sequence = i,
                OccurredAt = time,
                TenantId = chain,
                ActorType = "user",
                ActorId = "u-" + i,
                Action = "key.create",
                Outcome = "success",
                Details = AuditChain.SerializeDetails(new Dictionary<string, string> { ["n"] = i.ToString(CultureInfo.InvariantCulture) }),
                PrevHash = previous,
            };
            record.Hash = AuditChain.ComputeLegacy(previous, record);
            await using var insert = dataSource.CreateCommand("""
                INSERT INTO mislata.audit_events (id, chain, sequence, occurred_at, tenant_id, actor_type, actor_id, action, outcome, details, prev_hash, hash)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12)
                """);
            foreach (var value in new object[] { record.Id, chain, record.Sequence, record.OccurredAt, chain, record.ActorType, record.ActorId, record.Action, record.Outcome, record.Details!, previous, record.Hash })
            {
                insert.Parameters.Add(new NpgsqlParameter { Value = value });
            }

            await insert.ExecuteNonQueryAsync();
            previous = record.Hash;
        }

        await using var head = dataSource.CreateCommand("INSERT INTO mislata.audit_chain_heads (chain, last_sequence, last_hash) VALUES ($1, $2, $3)");
        head.Parameters.Add(new NpgsqlParameter { Value = chain });
        head.Parameters.Add(new NpgsqlParameter { Value = (long)count });
        head.Parameters.Add(new NpgsqlParameter { Value = previous });
        await head.ExecuteNonQueryAsync();
    }
}
