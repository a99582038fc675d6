using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Mislata.Core.Keys;
using Mislata.Crypto;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Payloads;
using Mislata.Infrastructure.Persistence.Tenants;
using Npgsql;

namespace Mislata.Infrastructure.Keys;

/// <summary>A registered payload as the api answers it (the context is never echoed: only whether there is one).</summary>
public sealed record PayloadReference(
    string Reference, string EncryptedPayload, int KeyVersion, bool HasContext, DateTimeOffset RegisteredAt, DateTimeOffset UpdatedAt);

/// <summary>One version's coverage: payloads registered under it, and encryptions Mislata made under it.</summary>
public sealed record VersionCoverage(int Version, KeyVersionState State, long RegisteredPayloads, long Encryptions);

/// <summary>Why a registration failed (beyond the rules of <see cref="PayloadReferenceRules"/>).</summary>
public enum PayloadRegistrationError
{
    None = 0,
    KeyNotFound,
    InvalidPayload,
    Exists,
    Rule,
}

/// <summary>
/// A payload the rewrap-all job moves: the row as it was read (the update is conditional on it), its context opened
/// (<see cref="ContextUnreadable"/> when the sealed context did not open: the payload cannot be rewrapped).
/// </summary>
internal sealed record PendingPayload(string Reference, string EncryptedPayload, int KeyVersion, string? Context, bool ContextUnreadable = false);

/// <summary>
/// <c>mislata.key_payloads</c>: ciphertexts a tenant registers with the key that made them (plain SQL, like the admin
/// jobs). Every statement names the tenant and the key. The payload is ciphertext already and is stored as given; the
/// context — the associated data the tenant chose, which may name a person or a record — is sealed under the tenant's
/// newest data key (AAD <c>mislata/v1/payload-context|{tenantId}|{keyId}|{reference}</c>) and opened only by the
/// rewrap-all job. Registration parses the envelope (it must name this key and a version it can read) but decrypts nothing.
/// </summary>
public sealed class PayloadReferenceStore(NpgsqlDataSource db, ITenantKeyWrapper wrapper, IRandomSource random, TimeProvider time)
{
    private const string Columns = "reference, encrypted_payload, key_version, sealed_context IS NOT NULL, registered_at, updated_at";

    public async Task<(PayloadReference? Payload, PayloadRegistrationError Error, PayloadReferenceError Rule)> RegisterAsync(
        Guid tenantId, Guid keyId, string reference, string encryptedPayload, string? context, CancellationToken cancellationToken)
    {
        EncryptedPayload parsed;
        try
        {
            parsed = EncryptedPayloadCodec.Parse(encryptedPayload);
        }
        catch (CryptoException)
        {
            return (null, PayloadRegistrationError.InvalidPayload, PayloadReferenceError.None);
        }

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);

        // FOR SHARE on the key: a concurrent raise of minDecryptionVersion (FOR UPDATE) waits for this registration, or
        // this one sees the raised minimum.
        PayloadKey? key = null;
        await using (var find = new NpgsqlCommand(
            "SELECT k.state, k.current_version, k.min_decryption_version, v.state FROM mislata.keys k " +
            "LEFT JOIN mislata.key_versions v ON v.key_id = k.id AND v.version = @version " +
            "WHERE k.tenant_id = @tenant AND k.id = @key FOR SHARE OF k", connection, tx))
        {
            find.Parameters.AddWithValue("tenant", tenantId);
            find.Parameters.AddWithValue("key", keyId);
            find.Parameters.AddWithValue("version", parsed.KeyVersion);
            await using var reader = await find.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                key = new PayloadKey(keyId, Enum.Parse<KeyState>(reader.GetString(0)), reader.GetInt32(1), reader.GetInt32(2),
                    reader.IsDBNull(3) ? null : Enum.Parse<KeyVersionState>(reader.GetString(3)));
            }
        }

        if (key is null)
        {
            return (null, PayloadRegistrationError.KeyNotFound, PayloadReferenceError.None);
        }

        long registered;
        await using (var count = new NpgsqlCommand("SELECT count(*) FROM mislata.key_payloads WHERE tenant_id = @tenant AND key_id = @key", connection, tx))
        {
            count.Parameters.AddWithValue("tenant", tenantId);
            count.Parameters.AddWithValue("key", keyId);
            registered = (long)(await count.ExecuteScalarAsync(cancellationToken))!;
        }

        var rule = PayloadReferenceRules.CheckRegistration(key, reference, parsed.KeyId, parsed.KeyVersion, registered);
        if (rule != PayloadReferenceError.None)
        {
            return (null, PayloadRegistrationError.Rule, rule);
        }

        byte[]? sealedContext = null;
        int? dekVersion = null;
        if (!string.IsNullOrEmpty(context))
        {
            (sealedContext, dekVersion) = await SealContextAsync(connection, tx, tenantId, keyId, reference, context, cancellationToken);
        }

        var now = time.GetUtcNow();
        await using var insert = new NpgsqlCommand(
            "INSERT INTO mislata.key_payloads (tenant_id, key_id, reference, encrypted_payload, key_version, sealed_context, context_dek_version, registered_at, updated_at) " +
            $"VALUES (@tenant, @key, @reference, @payload, @version, @context, @dek, @now, @now) ON CONFLICT DO NOTHING RETURNING {Columns}", connection, tx);
        insert.Parameters.AddWithValue("tenant", tenantId);
        insert.Parameters.AddWithValue("key", keyId);
        insert.Parameters.AddWithValue("reference", reference);
        insert.Parameters.AddWithValue("payload", encryptedPayload);
        insert.Parameters.AddWithValue("version", parsed.KeyVersion);
        insert.Parameters.Add(new NpgsqlParameter("context", NpgsqlTypes.NpgsqlDbType.Bytea) { Value = (object?)sealedContext ?? DBNull.Value });
        insert.Parameters.Add(new NpgsqlParameter("dek", NpgsqlTypes.NpgsqlDbType.Integer) { Value = (object?)dekVersion ?? DBNull.Value });
        insert.Parameters.AddWithValue("now", now);
        var stored = await ReadOneAsync(insert, cancellationToken);
        if (stored is null)
        {
            return (null, PayloadRegistrationError.Exists, PayloadReferenceError.None);
        }

        await tx.CommitAsync(cancellationToken);
        return (stored, PayloadRegistrationError.None, PayloadReferenceError.None);
    }

    /// <summary>Whether the tenant has this key at all (another tenant's key is not found).</summary>
    public async Task<bool> KeyExistsAsync(Guid tenantId, Guid keyId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("SELECT EXISTS (SELECT 1 FROM mislata.keys WHERE tenant_id = @tenant AND id = @key)");
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>A page ordered by reference, after <paramref name="after"/>, with versions in [min, max]; one more row than asked tells there is a next page.</summary>
    public async Task<List<PayloadReference>> ListAsync(
        Guid tenantId, Guid keyId, int? minVersion, int? maxVersion, string? after, int take, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"SELECT {Columns} FROM mislata.key_payloads WHERE tenant_id = @tenant AND key_id = @key " +
            "AND (@min::int IS NULL OR key_version >= @min) AND (@max::int IS NULL OR key_version <= @max) " +
            "AND (@after::text IS NULL OR reference > @after COLLATE \"C\") ORDER BY reference COLLATE \"C\" LIMIT @take");
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        command.Parameters.Add(new NpgsqlParameter("min", NpgsqlTypes.NpgsqlDbType.Integer) { Value = (object?)minVersion ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("max", NpgsqlTypes.NpgsqlDbType.Integer) { Value = (object?)maxVersion ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("after", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)after ?? DBNull.Value });
        command.Parameters.AddWithValue("take", take);
        var rows = new List<PayloadReference>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(Read(reader));
        }

        return rows;
    }

    public async Task<PayloadReference?> FindAsync(Guid tenantId, Guid keyId, string reference, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"SELECT {Columns} FROM mislata.key_payloads WHERE tenant_id = @tenant AND key_id = @key AND reference = @reference");
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        command.Parameters.AddWithValue("reference", reference);
        return await ReadOneAsync(command, cancellationToken);
    }

    public async Task<bool> DeleteAsync(Guid tenantId, Guid keyId, string reference, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("DELETE FROM mislata.key_payloads WHERE tenant_id = @tenant AND key_id = @key AND reference = @reference");
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        command.Parameters.AddWithValue("reference", reference);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    /// <summary>Per version of the key (oldest first): registered payloads and encryptions made under it; empty when the tenant has no such key.</summary>
    public async Task<IReadOnlyList<VersionCoverage>> CoverageAsync(Guid tenantId, Guid keyId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            "SELECT v.version, v.state, (SELECT count(*) FROM mislata.key_payloads p WHERE p.tenant_id = v.tenant_id AND p.key_id = v.key_id AND p.key_version = v.version), " +
            "v.encryption_count FROM mislata.key_versions v WHERE v.tenant_id = @tenant AND v.key_id = @key ORDER BY v.version");
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        var rows = new List<VersionCoverage>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new VersionCoverage(reader.GetInt32(0), Enum.Parse<KeyVersionState>(reader.GetString(1)), reader.GetInt64(2), reader.GetInt64(3)));
        }

        return rows;
    }

    /// <summary>How many of the key's registered payloads are under a version below <paramref name="version"/>.</summary>
    public async Task<long> CountBelowAsync(Guid tenantId, Guid keyId, int version, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("SELECT count(*) FROM mislata.key_payloads WHERE tenant_id = @tenant AND key_id = @key AND key_version < @version");
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        command.Parameters.AddWithValue("version", version);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>The next payloads under a version below <paramref name="belowVersion"/>, after <paramref name="after"/> in reference order, contexts opened.</summary>
    internal async Task<List<PendingPayload>> PendingAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, Guid tenantId, Guid keyId, int belowVersion, string? after, int take, CancellationToken cancellationToken)
    {
        var rows = new List<(string Reference, string Payload, int Version, byte[]? Sealed, int? Dek)>();
        await using (var command = new NpgsqlCommand(
            "SELECT reference, encrypted_payload, key_version, sealed_context, context_dek_version FROM mislata.key_payloads " +
            "WHERE tenant_id = @tenant AND key_id = @key AND key_version < @below AND (@after::text IS NULL OR reference > @after COLLATE \"C\") " +
            "ORDER BY reference COLLATE \"C\" LIMIT @take", connection, tx))
        {
            command.Parameters.AddWithValue("tenant", tenantId);
            command.Parameters.AddWithValue("key", keyId);
            command.Parameters.AddWithValue("below", belowVersion);
            command.Parameters.Add(new NpgsqlParameter("after", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)after ?? DBNull.Value });
            command.Parameters.AddWithValue("take", take);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add((reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.IsDBNull(3) ? null : (byte[])reader[3], reader.IsDBNull(4) ? null : reader.GetInt32(4)));
            }
        }

        var pending = new List<PendingPayload>(rows.Count);
        var deks = new Dictionary<int, byte[]>();
        try
        {
            foreach (var row in rows)
            {
                string? context = null;
                if (row.Sealed is { } sealedContext)
                {
                    if (!deks.TryGetValue(row.Dek!.Value, out var dek))
                    {
                        deks[row.Dek.Value] = dek = await DataKeyAsync(connection, tx, tenantId, row.Dek.Value, cancellationToken);
                    }

                    byte[] plain;
                    try
                    {
                        plain = DataKeyBlob.Open(dek, ContextAad(tenantId, keyId, row.Reference), sealedContext);
                    }
                    catch (CryptoException)
                    {
                        // A sealed context that does not open (tampered in the database): this payload fails, the job goes on.
                        pending.Add(new PendingPayload(row.Reference, row.Payload, row.Version, null, ContextUnreadable: true));
                        continue;
                    }

                    context = Encoding.UTF8.GetString(plain);
                    CryptographicOperations.ZeroMemory(plain);
                }

                pending.Add(new PendingPayload(row.Reference, row.Payload, row.Version, context));
            }
        }
        finally
        {
            foreach (var dek in deks.Values)
            {
                CryptographicOperations.ZeroMemory(dek);
            }
        }

        return pending;
    }

    /// <summary>Replaces a payload by its rewrapped form, only if it is still the one that was read (a concurrent change wins). True when replaced.</summary>
    internal static async Task<bool> ReplaceAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, Guid tenantId, Guid keyId, PendingPayload old, string rewrapped, int version, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "UPDATE mislata.key_payloads SET encrypted_payload = @new, key_version = @version, updated_at = @now " +
            "WHERE tenant_id = @tenant AND key_id = @key AND reference = @reference AND encrypted_payload = @old AND key_version = @oldVersion", connection, tx);
        command.Parameters.AddWithValue("new", rewrapped);
        command.Parameters.AddWithValue("version", version);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        command.Parameters.AddWithValue("reference", old.Reference);
        command.Parameters.AddWithValue("old", old.EncryptedPayload);
        command.Parameters.AddWithValue("oldVersion", old.KeyVersion);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    private async Task<(byte[] Sealed, int DekVersion)> SealContextAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, Guid tenantId, Guid keyId, string reference, string context, CancellationToken cancellationToken)
    {
        int version;
        await using (var newest = new NpgsqlCommand("SELECT max(dek_version) FROM mislata.tenant_data_keys WHERE tenant_id = @tenant", connection, tx))
        {
            newest.Parameters.AddWithValue("tenant", tenantId);
            version = await newest.ExecuteScalarAsync(cancellationToken) is int v ? v : throw new InvalidOperationException("The tenant has no data key.");
        }

        var dek = await DataKeyAsync(connection, tx, tenantId, version, cancellationToken);
        var plain = Encoding.UTF8.GetBytes(context);
        try
        {
            return (DataKeyBlob.Seal(dek, ContextAad(tenantId, keyId, reference), plain, random), version);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            CryptographicOperations.ZeroMemory(dek);
        }
    }

    private async Task<byte[]> DataKeyAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Guid tenantId, int version, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT master_key_id, wrapped_key FROM mislata.tenant_data_keys WHERE tenant_id = @tenant AND dek_version = @version", connection, tx);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("version", version);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new CryptoException(CryptoError.DecryptionFailed, "Decryption failed.");
        }

        return wrapper.Unwrap(new WrappedDataKey(tenantId, version, reader.GetString(0), (byte[])reader[1]));
    }

    internal static byte[] ContextAad(Guid tenantId, Guid keyId, string reference) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"mislata/v1/payload-context|{tenantId:D}|{keyId:D}|{reference}"));

    private static async Task<PayloadReference?> ReadOneAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    private static PayloadReference Read(NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetBoolean(3), reader.GetFieldValue<DateTimeOffset>(4), reader.GetFieldValue<DateTimeOffset>(5));
}
