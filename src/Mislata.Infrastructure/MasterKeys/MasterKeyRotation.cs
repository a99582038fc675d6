using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Mislata.Core.Audit;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Persistence.PlatformKeys;
using Mislata.Infrastructure.Persistence.Tenants;
using Npgsql;

namespace Mislata.Infrastructure.MasterKeys;

/// <summary>The settings every batched admin job has (the master-key rotation, a key's rewrap-all).</summary>
public abstract class BatchJobOptions
{
    /// <summary>Items moved per transaction (progress is committed after each batch).</summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>A pause between batches, to spread the load (zero by default).</summary>
    public TimeSpan BatchPause { get; set; } = TimeSpan.Zero;

    /// <summary>How often a worker looks for a queued or interrupted job.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Section <c>MasterKeyRotation</c> (e.g. <c>MasterKeyRotation__BatchSize</c>): wrapped keys per batch, pause, poll interval.</summary>
public sealed class MasterKeyRotationOptions : BatchJobOptions
{
    public const string Section = "MasterKeyRotation";
}

/// <summary>
/// The master-key rotation job: moves every key wrapped by a master key other than <c>QAPI_MASTER_KEY</c> — the platform
/// key, then the tenant data keys in batches — to <c>QAPI_MASTER_KEY</c>. Each batch is one transaction with its
/// progress; every update is conditional on the row still being under the old key, so a concurrent change is never
/// overwritten and a rerun after a crash continues where the last commit stopped. Done when no wrapped key remains under
/// another master key; <c>QAPI_MASTER_KEY_PREVIOUS</c> can then be removed.
/// </summary>
public sealed partial class MasterKeyRotation(
    NpgsqlDataSource db,
    MasterKeyRing masterKeys,
    PlatformKeyStore platformKeys,
    ITenantKeyWrapper wrapper,
    AdminJobStore jobs,
    IAuditLog audit,
    IOptions<MasterKeyRotationOptions> options,
    TimeProvider time,
    ILogger<MasterKeyRotation> logger,
    MasterKeyRotationMetrics? metrics = null)
{
    public const string Kind = "master-key-rotation";
    public const string StartAction = "master_key.rotation.start";
    public const string FinishAction = "master_key.rotation.finish";

    /// <summary>Runs (or resumes) <paramref name="job"/> to its end. Throws on a dependency failure: run it again later.</summary>
    public async Task<AdminJob?> RunAsync(AdminJob job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        var current = masterKeys.Current;
        // Each audit event is recorded before the state change it reports: when the audit log cannot take it, the job
        // stays as it was and the next attempt records it again (an event twice, never an unrecorded start or end).
        if (job.State == AdminJobState.Queued)
        {
            var total = await RemainingAsync(current.Id, cancellationToken);
            await audit.RecordAsync(Event(StartAction, job, AuditOutcome.Success, new Dictionary<string, string>
            {
                ["to"] = current.Id,
                ["from"] = masterKeys.Previous?.Id ?? "none",
                ["total"] = total.ToString(CultureInfo.InvariantCulture),
            }), cancellationToken);
            job = await jobs.StartAsync(job.Id, total, cancellationToken);
            LogStarted(logger, job.Id, job.Total, current.Id);
        }
        else
        {
            LogResumed(logger, job.Id, job.Done, job.Total);
        }

        try
        {
            await RewrapPlatformKeyAsync(job.Id, cancellationToken);
            while (await RewrapBatchAsync(job.Id, current.Id, cancellationToken) > 0)
            {
                if (options.Value.BatchPause > TimeSpan.Zero)
                {
                    await Task.Delay(options.Value.BatchPause, time, cancellationToken);
                }
            }
        }
        catch (CryptographicException ex)
        {
            // A wrapped key that no configured master key opens: rerunning cannot help, the operator must act.
            await audit.RecordAsync(Event(FinishAction, job, AuditOutcome.Failure, new Dictionary<string, string> { ["to"] = current.Id }), cancellationToken);
            var failed = await jobs.FailAsync(job.Id, ex.Message, cancellationToken);
            LogFailed(logger, job.Id, ex.Message);
            metrics?.Finished(AdminJobState.Failed);
            return failed;
        }

        await audit.RecordAsync(Event(FinishAction, job, AuditOutcome.Success, new Dictionary<string, string>
        {
            ["to"] = current.Id,
            ["total"] = job.Total.ToString(CultureInfo.InvariantCulture),
        }), cancellationToken);
        var finished = await jobs.FinishAsync(job.Id, cancellationToken);
        LogFinished(logger, job.Id, (finished ?? job).Total);
        metrics?.Finished(AdminJobState.Succeeded);
        return finished;
    }

    /// <summary>Wrapped keys not under <paramref name="currentId"/>: the tenant data keys plus the platform key.</summary>
    private async Task<int> RemainingAsync(string currentId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand(
            "SELECT (SELECT count(*) FROM mislata.tenant_data_keys WHERE master_key_id <> @current) + " +
            "(SELECT count(*) FROM mislata.platform_keys WHERE master_key_id <> @current)");
        command.Parameters.AddWithValue("current", currentId);
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private async Task RewrapPlatformKeyAsync(Guid jobId, CancellationToken cancellationToken)
    {
        if (masterKeys.Previous is not { } previous)
        {
            return;
        }

        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        if (!await platformKeys.RewrapAsync(connection, tx, previous, cancellationToken))
        {
            return;
        }

        var (total, done) = await AdminJobStore.AdvanceAsync(connection, tx, jobId, 1, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        metrics?.Progress(1, total, done);
    }

    /// <summary>One batch in one transaction; returns how many rows it looked at (0 = nothing left).</summary>
    private async Task<int> RewrapBatchAsync(Guid jobId, string currentId, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var batch = new List<WrappedDataKey>();
        await using (var select = new NpgsqlCommand(
            "SELECT tenant_id, dek_version, master_key_id, wrapped_key FROM mislata.tenant_data_keys WHERE master_key_id <> @current " +
            "ORDER BY tenant_id, dek_version LIMIT @limit", connection, tx))
        {
            select.Parameters.AddWithValue("current", currentId);
            select.Parameters.AddWithValue("limit", options.Value.BatchSize);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                batch.Add(new WrappedDataKey(reader.GetGuid(0), reader.GetInt32(1), reader.GetString(2), (byte[])reader[3]));
            }
        }

        if (batch.Count == 0)
        {
            return 0;
        }

        var moved = 0;
        foreach (var wrapped in batch)
        {
            if (masterKeys.Find(wrapped.MasterKeyId) is null)
            {
                throw new CryptographicException(
                    $"tenant {wrapped.TenantId:D} data key v{wrapped.Version} is wrapped under master key {wrapped.MasterKeyId}, which is not configured " +
                    $"(set it as {MasterKeyRing.PreviousVariable}).");
            }

            var rewrapped = wrapper.Rewrap(wrapped);
            await using var update = new NpgsqlCommand(
                "UPDATE mislata.tenant_data_keys SET wrapped_key = @wrapped, master_key_id = @to " +
                "WHERE tenant_id = @tenant AND dek_version = @version AND master_key_id = @from", connection, tx);
            update.Parameters.AddWithValue("wrapped", rewrapped.WrappedKey);
            update.Parameters.AddWithValue("to", rewrapped.MasterKeyId);
            update.Parameters.AddWithValue("tenant", wrapped.TenantId);
            update.Parameters.AddWithValue("version", wrapped.Version);
            update.Parameters.AddWithValue("from", wrapped.MasterKeyId);
            moved += await update.ExecuteNonQueryAsync(cancellationToken);
        }

        var (total, done) = await AdminJobStore.AdvanceAsync(connection, tx, jobId, moved, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        metrics?.Progress(moved, total, done);
        LogBatch(logger, jobId, moved);
        return batch.Count;
    }

    private static AuditEvent Event(string action, AdminJob job, AuditOutcome outcome, IReadOnlyDictionary<string, string> details) => new()
    {
        ActorType = AuditActorType.System,
        ActorId = "worker",
        Action = action,
        ResourceType = "admin_job",
        ResourceId = job.Id.ToString("D"),
        Outcome = outcome,
        Details = details,
    };

    [LoggerMessage(EventId = 170, Level = LogLevel.Information, Message = "Master-key rotation {JobId} started: {Total} wrapped key(s) to move to {MasterKeyId}")]
    private static partial void LogStarted(ILogger logger, Guid jobId, int total, string masterKeyId);

    [LoggerMessage(EventId = 171, Level = LogLevel.Information, Message = "Master-key rotation {JobId} resumed at {Done}/{Total}")]
    private static partial void LogResumed(ILogger logger, Guid jobId, int done, int total);

    [LoggerMessage(EventId = 172, Level = LogLevel.Debug, Message = "Master-key rotation {JobId}: rewrapped {Count} data key(s)")]
    private static partial void LogBatch(ILogger logger, Guid jobId, int count);

    [LoggerMessage(EventId = 173, Level = LogLevel.Information, Message = "Master-key rotation {JobId} succeeded ({Total} wrapped key(s) moved)")]
    private static partial void LogFinished(ILogger logger, Guid jobId, int total);

    [LoggerMessage(EventId = 174, Level = LogLevel.Error, Message = "Master-key rotation {JobId} failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, Guid jobId, string reason);
}
