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

/// <summary>One long-running platform operation (today: the master-key rotation) and its progress.</summary>
public sealed record AdminJob(
    Guid Id, string Kind, string State, int Total, int Done, string RequestedBy, DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error);

/// <summary>
/// <c>mislata.admin_jobs</c>: the api queues a job, the worker runs it and records its progress. At most one unfinished job
/// of a kind exists (a partial unique index), so two requests racing to start one cannot both succeed.
/// </summary>
public sealed class AdminJobStore(NpgsqlDataSource db, TimeProvider time)
{
    private const string Columns = "id, kind, state, total, done, requested_by, created_at, started_at, finished_at, error";

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
        var jobs = new List<AdminJob>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            jobs.Add(Read(reader));
        }

        return jobs;
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

    public async Task<AdminJob?> FinishAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            $"UPDATE mislata.admin_jobs SET state = 'succeeded', done = total, finished_at = @now, error = NULL WHERE id = @id AND state = 'running' RETURNING {Columns}");
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
            reader.IsDBNull(9) ? null : reader.GetString(9));
}
