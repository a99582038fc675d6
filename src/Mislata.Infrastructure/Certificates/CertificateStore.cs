using System.Data.Common;
using Npgsql;
using NpgsqlTypes;

namespace Mislata.Infrastructure.Certificates;

/// <summary>
/// Plain SQL over <c>mislata.certificate_authorities</c>, <c>mislata.certificates</c> and <c>mislata.certificate_crls</c>
/// (like the payload references: outside the EF model). Every statement names the tenant.
/// </summary>
internal static class CertificateStore
{
    internal const string CaColumns =
        "id, tenant_id, name, algorithm, key_id, key_version, parent_id, path_length, subject, subject_der, key_identifier, certificate_der, " +
        "serial_number, not_before, not_after, max_validity_days, allowed_domains, companion_id, created_at";

    internal const string CertificateColumns =
        "id, tenant_id, ca_id, serial_number, subject, profile, sans, key_algorithm, key_generated, not_before, not_after, certificate_der, " +
        "revoked_at, revocation_reason, pair_id, created_at";

    public static async Task<CertificateAuthority?> FindCaAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, Guid tenantId, Guid id, bool forUpdate, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT {CaColumns} FROM mislata.certificate_authorities WHERE tenant_id = @tenant AND id = @id" + (forUpdate ? " FOR UPDATE" : string.Empty), connection, tx);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("id", id);
        var list = await ReadCasAsync(command, ct);
        return list.Count == 1 ? list[0] : null;
    }

    public static async Task<List<CertificateAuthority>> ListCasAsync(NpgsqlConnection connection, Guid tenantId, Guid? after, int take, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT {CaColumns} FROM mislata.certificate_authorities WHERE tenant_id = @tenant AND (@after::uuid IS NULL OR id > @after) ORDER BY id LIMIT @take", connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Uuid) { Value = (object?)after ?? DBNull.Value });
        command.Parameters.AddWithValue("take", take);
        return await ReadCasAsync(command, ct);
    }

    public static async Task InsertCaAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CertificateAuthority ca, string createdBy, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            $"INSERT INTO mislata.certificate_authorities ({CaColumns}, created_by) VALUES (@id, @tenant, @name, @algorithm, @key, @version, @parent, @path, @subject, " +
            "@subjectDer, @ski, @der, @serial, @notBefore, @notAfter, @maxValidity, @domains, @companion, @created, @createdBy)", connection, tx);
        command.Parameters.AddWithValue("id", ca.Id);
        command.Parameters.AddWithValue("tenant", ca.TenantId);
        command.Parameters.AddWithValue("name", ca.Name);
        command.Parameters.AddWithValue("algorithm", ca.Algorithm);
        command.Parameters.AddWithValue("key", ca.KeyId);
        command.Parameters.AddWithValue("version", ca.KeyVersion);
        command.Parameters.Add(new NpgsqlParameter("parent", NpgsqlDbType.Uuid) { Value = (object?)ca.ParentId ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("path", NpgsqlDbType.Integer) { Value = (object?)ca.PathLength ?? DBNull.Value });
        command.Parameters.AddWithValue("subject", ca.Subject);
        command.Parameters.AddWithValue("subjectDer", ca.SubjectName);
        command.Parameters.AddWithValue("ski", ca.KeyIdentifier);
        command.Parameters.AddWithValue("der", ca.CertificateDer);
        command.Parameters.AddWithValue("serial", ca.SerialNumber);
        command.Parameters.AddWithValue("notBefore", ca.NotBefore);
        command.Parameters.AddWithValue("notAfter", ca.NotAfter);
        command.Parameters.AddWithValue("maxValidity", ca.MaxValidityDays);
        command.Parameters.AddWithValue("domains", ca.AllowedDomains.ToArray());
        command.Parameters.Add(new NpgsqlParameter("companion", NpgsqlDbType.Uuid) { Value = (object?)ca.CompanionId ?? DBNull.Value });
        command.Parameters.AddWithValue("created", ca.CreatedAt);
        command.Parameters.AddWithValue("createdBy", createdBy);
        await command.ExecuteNonQueryAsync(ct);
    }

    public static async Task<long> CountAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string table, Guid tenantId, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM mislata.{table} WHERE tenant_id = @tenant", connection, tx);
        command.Parameters.AddWithValue("tenant", tenantId);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    public static async Task<bool> CaNameTakenAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, Guid tenantId, string name, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM mislata.certificate_authorities WHERE tenant_id = @tenant AND name = @name)", connection, tx);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("name", name);
        return (bool)(await command.ExecuteScalarAsync(ct))!;
    }

    public static async Task<IssuedCertificate?> FindCertificateAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, Guid tenantId, Guid id, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT {CertificateColumns} FROM mislata.certificates WHERE tenant_id = @tenant AND id = @id", connection, tx);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("id", id);
        var list = await ReadCertificatesAsync(command, ct);
        return list.Count == 1 ? list[0] : null;
    }

    public static async Task<List<IssuedCertificate>> ListCertificatesAsync(
        NpgsqlConnection connection, Guid tenantId, Guid? caId, Guid? after, int take, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT {CertificateColumns} FROM mislata.certificates WHERE tenant_id = @tenant AND (@ca::uuid IS NULL OR ca_id = @ca) " +
            "AND (@after::uuid IS NULL OR id > @after) ORDER BY id LIMIT @take", connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.Add(new NpgsqlParameter("ca", NpgsqlDbType.Uuid) { Value = (object?)caId ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Uuid) { Value = (object?)after ?? DBNull.Value });
        command.Parameters.AddWithValue("take", take);
        return await ReadCertificatesAsync(command, ct);
    }

    /// <summary>Inserts; false when the (CA, serial) pair exists already (the caller draws a new serial).</summary>
    public static async Task<bool> TryInsertCertificateAsync(NpgsqlConnection connection, NpgsqlTransaction tx, IssuedCertificate c, string createdBy, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            $"INSERT INTO mislata.certificates ({CertificateColumns}, created_by) VALUES (@id, @tenant, @ca, @serial, @subject, @profile, @sans, @keyAlgorithm, " +
            "@generated, @notBefore, @notAfter, @der, NULL, NULL, @pair, @created, @createdBy) ON CONFLICT (ca_id, serial_number) DO NOTHING", connection, tx);
        command.Parameters.AddWithValue("id", c.Id);
        command.Parameters.AddWithValue("tenant", c.TenantId);
        command.Parameters.AddWithValue("ca", c.CaId);
        command.Parameters.AddWithValue("serial", c.SerialNumber);
        command.Parameters.AddWithValue("subject", c.Subject);
        command.Parameters.AddWithValue("profile", c.Profile);
        command.Parameters.AddWithValue("sans", c.Sans.ToArray());
        command.Parameters.AddWithValue("keyAlgorithm", c.KeyAlgorithm);
        command.Parameters.AddWithValue("generated", c.KeyGenerated);
        command.Parameters.AddWithValue("notBefore", c.NotBefore);
        command.Parameters.AddWithValue("notAfter", c.NotAfter);
        command.Parameters.AddWithValue("der", c.CertificateDer);
        command.Parameters.Add(new NpgsqlParameter("pair", NpgsqlDbType.Uuid) { Value = (object?)c.PairId ?? DBNull.Value });
        command.Parameters.AddWithValue("created", c.CreatedAt);
        command.Parameters.AddWithValue("createdBy", createdBy);
        return await command.ExecuteNonQueryAsync(ct) == 1;
    }

    private static async Task<List<CertificateAuthority>> ReadCasAsync(NpgsqlCommand command, CancellationToken ct)
    {
        var list = new List<CertificateAuthority>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            list.Add(new CertificateAuthority(
                reader.GetGuid(0), reader.GetGuid(1), reader.GetString(2), reader.GetString(3), reader.GetGuid(4), reader.GetInt32(5),
                NullableGuid(reader, 6), reader.IsDBNull(7) ? null : reader.GetInt32(7), reader.GetString(8), (byte[])reader[9], (byte[])reader[10],
                (byte[])reader[11], reader.GetString(12), reader.GetFieldValue<DateTimeOffset>(13), reader.GetFieldValue<DateTimeOffset>(14), reader.GetInt32(15),
                reader.GetFieldValue<string[]>(16), NullableGuid(reader, 17), reader.GetFieldValue<DateTimeOffset>(18)));
        }

        return list;
    }

    private static async Task<List<IssuedCertificate>> ReadCertificatesAsync(NpgsqlCommand command, CancellationToken ct)
    {
        var list = new List<IssuedCertificate>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            list.Add(new IssuedCertificate(
                reader.GetGuid(0), reader.GetGuid(1), reader.GetGuid(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                reader.GetFieldValue<string[]>(6), reader.GetString(7), reader.GetBoolean(8), reader.GetFieldValue<DateTimeOffset>(9),
                reader.GetFieldValue<DateTimeOffset>(10), (byte[])reader[11], reader.IsDBNull(12) ? null : reader.GetFieldValue<DateTimeOffset>(12),
                reader.IsDBNull(13) ? null : reader.GetString(13), NullableGuid(reader, 14), reader.GetFieldValue<DateTimeOffset>(15)));
        }

        return list;
    }

    private static Guid? NullableGuid(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetGuid(ordinal);
}
