using Npgsql;

namespace Mislata.Infrastructure.MasterKeys;

/// <summary>States of an admin job, as stored and as <c>GET /api/v1/admin/jobs/{id}</c> reports them.</summary>
public static class AdminJobState
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

/// <summary>
/// One long-running operation and its progress: a platform job (the master-key rotation) or a job of one tenant's key
/// (<see cref="TenantId"/>, <see cref="KeyId"/>: a rewrap-all), which also counts the items it could not do
/// (<see cref="Failed"/>, the first of them named in <see cref="FailedReferences"/>) and where it stands (<see cref="Position"/>).
/// </summary>
public sealed record AdminJob(
    Guid Id, string Kind, string State, int Total, int Done, string RequestedBy, DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error,
    int Failed = 0, Guid? TenantId = null, Guid? KeyId = null, IReadOnlyList<string>? FailedReferences = null, string? Position = null);

/// <summary>
/// <c>mislata.admin_jobs</c>: the api queues a job, the worker runs it and records its progress. At most one unfinished job
/// of a kind exists (a partial unique index; a key's job has a kind of its own per key), so two requests racing to start
/// one cannot both succeed.
/// </summary>
public sealed class AdminJobStore(NpgsqlDataSource db, TimeProvider time)
{
    private const string Columns =
        "id, kind, state, total, done, requested_by, created_at, started_at, finished_at, error, failed, tenant_id, key_id, failed_references, position";

    public async Task<AdminJob?> FindAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"SELECT {Columns} FROM mislata.admin_jobs WHERE id = @id");
        command.Parameters.AddWithValue("id", id);
        return await ReadOneAsync(command, cancellationToken);
    }

    /// <summary>The newest jobs first (of one kind when given), at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<AdminJob>> ListAsync(string? kind, int limit, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"SELECT {Columns} FROM mislata.admin_jobs WHERE (@kind::text IS NULL OR kind = @kind) ORDER BY created_at DESC, id DESC LIMIT @limit");
        command.Parameters.Add(new NpgsqlParameter("kind", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)kind ?? DBNull.Value });
        command.Parameters.AddWithValue("limit", limit);
        return await ReadManyAsync(command, cancellationToken);
    }

    /// <summary>The queued or running job of <paramref name="kind"/>, if any.</summary>
    public async Task<AdminJob?> UnfinishedAsync(string kind, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"SELECT {Columns} FROM mislata.admin_jobs WHERE kind = @kind AND state IN ('queued', 'running')");
        command.Parameters.AddWithValue("kind", kind);
        return await ReadOneAsync(command, cancellationToken);
    }

    /// <summary>A new queued job, or null when one of this kind is already queued or running.</summary>
    public async Task<AdminJob?> QueueAsync(string kind, string requestedBy, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"INSERT INTO mislata.admin_jobs (id, kind, state, total, done, requested_by, created_at) VALUES (@id, @kind, 'queued', 0, 0, @by, @now) " +
            $"ON CONFLICT (kind) WHERE state IN ('queued', 'running') DO NOTHING RETURNING {Columns}");
        var now = time.GetUtcNow();
        command.Parameters.AddWithValue("id", Guid.CreateVersion7(now));
        command.Parameters.AddWithValue("kind", kind);
        command.Parameters.AddWithValue("by", requestedBy);
        command.Parameters.AddWithValue("now", now);
        return await ReadOneAsync(command, cancellationToken);
    }

    /// <summary>Queued → running with its total (a resumed running job keeps its figures).</summary>
    public async Task<AdminJob> StartAsync(Guid id, int total, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"UPDATE mislata.admin_jobs SET state = 'running', total = @total, started_at = @now WHERE id = @id AND state = 'queued' RETURNING {Columns}");
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("total", total);
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        return await ReadOneAsync(command, cancellationToken) ?? await FindAsync(id, cancellationToken)
            ?? throw new InvalidOperationException($"Admin job {id} does not exist.");
    }

    /// <summary>
    /// Adds <paramref name="count"/> to the job's progress inside the caller's transaction (never beyond its total);
    /// returns the job's figures after it.
    /// </summary>
    public static async Task<(int Total, int Done)> AdvanceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, int count, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("UPDATE mislata.admin_jobs SET done = LEAST(total, done + @count) WHERE id = @id RETURNING total, done", connection, transaction);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("count", count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetInt32(0), reader.GetInt32(1)) : (0, 0);
    }

    /// <summary>
    /// A new queued job of a tenant's key, or null when one of this kind is already queued or running for the key. Stored
    /// as kind <c>{kind}:{keyId}</c> (<see cref="KeyJobKind"/>), so the unique index of unfinished jobs per kind allows one per key.
    /// </summary>
    public async Task<AdminJob?> QueueForKeyAsync(string kind, Guid tenantId, Guid keyId, string requestedBy, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"INSERT INTO mislata.admin_jobs (id, kind, state, total, done, requested_by, created_at, tenant_id, key_id) " +
            $"VALUES (@id, @kind, 'queued', 0, 0, @by, @now, @tenant, @key) " +
            $"ON CONFLICT (kind) WHERE state IN ('queued', 'running') DO NOTHING RETURNING {Columns}");
        var now = time.GetUtcNow();
        command.Parameters.AddWithValue("id", Guid.CreateVersion7(now));
        command.Parameters.AddWithValue("kind", KeyJobKind(kind, keyId));
        command.Parameters.AddWithValue("by", requestedBy.Length > 128 ? requestedBy[..128] : requestedBy);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        return await ReadOneAsync(command, cancellationToken);
    }

    /// <summary>A job of the tenant's key (another tenant's or another key's job is not found).</summary>
    public async Task<AdminJob?> FindForKeyAsync(Guid tenantId, Guid keyId, Guid id, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand($"SELECT {Columns} FROM mislata.admin_jobs WHERE id = @id AND tenant_id = @tenant AND key_id = @key");
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        return await ReadOneAsync(command, cancellationToken);
    }

    /// <summary>The queued or running job of <paramref name="kind"/> for the key, if any.</summary>
    public async Task<AdminJob?> UnfinishedForKeyAsync(string kind, Guid tenantId, Guid keyId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"SELECT {Columns} FROM mislata.admin_jobs WHERE kind = @kind AND tenant_id = @tenant AND key_id = @key AND state IN ('queued', 'running')");
        command.Parameters.AddWithValue("kind", KeyJobKind(kind, keyId));
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        return await ReadOneAsync(command, cancellationToken);
    }

    /// <summary>The stored kind of a key's job: <c>{kind}:{keyId}</c>.</summary>
    public static string KeyJobKind(string kind, Guid keyId) => kind + ":" + keyId.ToString("D");

    /// <summary>Unfinished key jobs of <paramref name="kind"/> (of any key), oldest first, at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<AdminJob>> UnfinishedKeyJobsAsync(string kind, int limit, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"SELECT {Columns} FROM mislata.admin_jobs WHERE key_id IS NOT NULL AND starts_with(kind, @prefix) AND state IN ('queued', 'running') " +
            "ORDER BY created_at, id LIMIT @limit");
        command.Parameters.AddWithValue("prefix", kind + ":");
        command.Parameters.AddWithValue("limit", limit);
        return await ReadManyAsync(command, cancellationToken);
    }

    /// <summary>
    /// A key job's batch, inside the caller's transaction: <paramref name="done"/> more items done, the failed ones counted
    /// and named (the list stops at <paramref name="maxListed"/>), and the position the next batch starts after.
    /// </summary>
    public static async Task<AdminJob?> AdvanceKeyJobAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, int done, IReadOnlyList<string> failed, string? position, int maxListed,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(failed);
        await using var command = new NpgsqlCommand(
            "UPDATE mislata.admin_jobs SET done = done + @done, failed = failed + @failed, " +
            "total = GREATEST(total, done + @done + failed + @failed), " +
            "failed_references = (failed_references || @refs)[1:@max], position = COALESCE(@position, position) " +
            $"WHERE id = @id AND state = 'running' RETURNING {Columns}", connection, transaction);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("done", done);
        command.Parameters.AddWithValue("failed", failed.Count);
        command.Parameters.AddWithValue("refs", failed.ToArray());
        command.Parameters.AddWithValue("max", maxListed);
        command.Parameters.Add(new NpgsqlParameter("position", NpgsqlTypes.NpgsqlDbType.Varchar) { Value = (object?)position ?? DBNull.Value });
        return await ReadOneAsync(command, cancellationToken);
    }

    public async Task<AdminJob?> FinishAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            // A key's job keeps its own figures: what failed was not done.
            $"UPDATE mislata.admin_jobs SET state = 'succeeded', done = CASE WHEN key_id IS NULL THEN total ELSE done END, finished_at = @now, error = NULL " +
            $"WHERE id = @id AND state = 'running' RETURNING {Columns}");
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        return await ReadOneAsync(command, cancellationToken);
    }

    /// <summary>Marks the job failed; <paramref name="error"/> is shown to the operator (ids and counts only).</summary>
    public async Task<AdminJob?> FailAsync(Guid id, string error, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"UPDATE mislata.admin_jobs SET state = 'failed', finished_at = @now, error = @error WHERE id = @id AND state IN ('queued', 'running') RETURNING {Columns}");
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("now", time.GetUtcNow());
        command.Parameters.AddWithValue("error", error.Length > 500 ? error[..500] : error);
        return await ReadOneAsync(command, cancellationToken);
    }

    private static async Task<List<AdminJob>> ReadManyAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var jobs = new List<AdminJob>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            jobs.Add(Read(reader));
        }

        return jobs;
    }

    private static async Task<AdminJob?> ReadOneAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    private static AdminJob Read(NpgsqlDataReader reader) =>
        new(
            reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetInt32(4), reader.GetString(5),
            reader.GetFieldValue<DateTimeOffset>(6),
            reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
            reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTimeOffset>(8),
            reader.IsDBNull(9) ? null : reader.GetString(9),
            reader.GetInt32(10),
            reader.IsDBNull(11) ? null : reader.GetGuid(11),
            reader.IsDBNull(12) ? null : reader.GetGuid(12),
            reader.GetFieldValue<string[]>(13),
            reader.IsDBNull(14) ? null : reader.GetString(14));
}
