using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using Npgsql;

namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>
/// The upgrade from the unkeyed (v1, SHA-256) chain to the keyed one. No audit row is ever rewritten: v1 rows stay as
/// they are and verify under the v1 rule, as the start of their chain only. What makes them tamper-evident from then on
/// is a keyed anchor after them: the next keyed link MACs their last hash, and — for a chain with no write since — the
/// chain head, which this seal MACs <b>once</b>, in the start-up that applies the migration introducing the keyed chain
/// (<see cref="MigrationName"/>). A head without a MAC afterwards is invalid, so clearing a MAC does not re-open the
/// seal; re-running it would take dropping the new columns and the migration's history row (DDL no service role holds).
/// The seal trusts the chains as they are at the upgrade, as the v1 rule did.
/// </summary>
public static class AuditChainUpgrade
{
    /// <summary>The migration (suffix of its id) that introduces the keyed chain.</summary>
    public const string MigrationName = "_KeyedAuditChain";

    /// <summary>MACs every head that has none (v1 chains as they stand); returns how many were sealed.</summary>
    [SuppressMessage("Security", "CA2100", Justification = "Constant SQL with parameters.")]
    public static async Task<int> SealLegacyHeadsAsync(DbConnection connection, AuditChainKeys keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(keys);
        var heads = new List<(Guid Chain, long Sequence, byte[] Hash)>();
        await using (var select = connection.CreateCommand())
        {
            select.CommandText = "SELECT chain, last_sequence, last_hash FROM mislata.audit_chain_heads WHERE mac IS NULL";
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                heads.Add((reader.GetGuid(0), reader.GetInt64(1), (byte[])reader[2]));
            }
        }

        var sealedCount = 0;
        foreach (var (chain, sequence, hash) in heads)
        {
            await using var update = connection.CreateCommand();
            update.CommandText = """
                UPDATE mislata.audit_chain_heads SET mac_key_id = @keyId, mac = @mac
                WHERE chain = @chain AND last_sequence = @sequence AND last_hash = @hash AND mac IS NULL
                """;
            update.Parameters.Add(new NpgsqlParameter("keyId", keys.CurrentId));
            update.Parameters.Add(new NpgsqlParameter("mac", AuditChain.HeadMac(keys.Current, keys.CurrentId, chain, sequence, hash)));
            update.Parameters.Add(new NpgsqlParameter("chain", chain));
            update.Parameters.Add(new NpgsqlParameter("sequence", sequence));
            update.Parameters.Add(new NpgsqlParameter("hash", hash));
            sealedCount += await update.ExecuteNonQueryAsync(cancellationToken);
        }

        return sealedCount;
    }
}
