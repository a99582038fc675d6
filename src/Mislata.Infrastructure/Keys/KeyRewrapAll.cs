using System.Globalization;
using Microsoft.Extensions.Options;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Encryption;
using Mislata.Core.Keys;
using Mislata.Infrastructure.MasterKeys;
using Npgsql;

namespace Mislata.Infrastructure.Keys;

/// <summary>Section <c>KeyRewrap</c> (e.g. <c>KeyRewrap__BatchSize</c>): payloads rewrapped per batch, pause, poll interval.</summary>
public sealed class KeyRewrapOptions : BatchJobOptions
{
    public const string Section = "KeyRewrap";
}

/// <summary>
/// A key's rewrap-all job (<c>POST /api/v1/keys/{id}/rewrap-all</c>): every registered payload of the key under a version
/// older than the current one is decrypted and encrypted again under the current version (the plaintext never leaves
/// the operation), in batches in reference order. Each batch is one transaction with the job's progress and position,
/// so a rerun after a crash continues after the last committed batch; each update is conditional on the payload still
/// being the one read, so a concurrent change (a new registration, a delete) wins. A payload that does not decrypt (wrong
/// context, tampered, a version below the minimum) is counted failed and named in the job, once — never retried by the
/// same job. A key that can no longer be used (disabled, deleted) fails the job; a dependency failure throws (the
/// runner resumes later).
/// </summary>
public sealed partial class KeyRewrapAll(
    NpgsqlDataSource db,
    PayloadReferenceStore payloads,
    CryptoOperations operations,
    AdminJobStore jobs,
    IAuditLog audit,
    IOptions<KeyRewrapOptions> options,
    TimeProvider time,
    ILogger<KeyRewrapAll> logger)
{
    public const string Kind = "key-rewrap-all";
    public const string StartAction = "key.rewrap_all.start";
    public const string FinishAction = "key.rewrap_all.finish";

    /// <summary>Runs (or resumes) <paramref name="job"/> to its end. Throws on a dependency failure: run it again later.</summary>
    public async Task<AdminJob?> RunAsync(AdminJob job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.TenantId is not { } tenantId || job.KeyId is not { } keyId)
        {
            throw new ArgumentException("A rewrap-all job names its tenant and key.", nameof(job));
        }

        var current = await CurrentVersionAsync(tenantId, keyId, cancellationToken);
        if (current is null)
        {
            return await FailAsync(job, tenantId, keyId, "The key no longer exists.", cancellationToken);
        }

        // Audited before the state change it reports: when the audit log cannot take it, the job stays queued.
        if (job.State == AdminJobState.Queued)
        {
            var total = (int)Math.Min(int.MaxValue, await payloads.CountBelowAsync(tenantId, keyId, current.Value, cancellationToken));
            await audit.RecordAsync(Event(tenantId, StartAction, job, AuditOutcome.Success, ("toVersion", Text(current.Value)), ("total", Text(total))), cancellationToken);
            job = await jobs.StartAsync(job.Id, total, cancellationToken);
            LogStarted(logger, job.Id, keyId, job.Total, current.Value);
        }
        else
        {
            LogResumed(logger, job.Id, job.Done, job.Total);
        }

        var position = job.Position;
        while (true)
        {
            var (looked, next, refusal) = await BatchAsync(job.Id, tenantId, keyId, current.Value, position, cancellationToken);
            if (refusal is not null)
            {
                return await FailAsync(job, tenantId, keyId, refusal, cancellationToken);
            }

            if (looked == 0)
            {
                break;
            }

            position = next;
            if (options.Value.BatchPause > TimeSpan.Zero)
            {
                await Task.Delay(options.Value.BatchPause, time, cancellationToken);
            }
        }

        var latest = await jobs.FindAsync(job.Id, cancellationToken) ?? job;
        await audit.RecordAsync(Event(tenantId, FinishAction, latest, AuditOutcome.Success,
            ("toVersion", Text(current.Value)), ("done", Text(latest.Done)), ("failed", Text(latest.Failed))), cancellationToken);
        var finished = await jobs.FinishAsync(job.Id, cancellationToken);
        LogFinished(logger, job.Id, latest.Done, latest.Failed);
        return finished;
    }

    /// <summary>One batch in one transaction; returns how many payloads it looked at (0 = nothing left), the position after them, or why the job cannot go on.</summary>
    private async Task<(int Looked, string? Position, string? Refusal)> BatchAsync(
        Guid jobId, Guid tenantId, Guid keyId, int current, string? after, CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var batch = await payloads.PendingAsync(connection, tx, tenantId, keyId, current, after, options.Value.BatchSize, cancellationToken);
        if (batch.Count == 0)
        {
            return (0, after, null);
        }

        var looked = batch.Count;
        var position = batch[^1].Reference;
        var failed = batch.Where(p => p.ContextUnreadable).Select(p => p.Reference).ToList();
        batch = [.. batch.Where(p => !p.ContextUnreadable)];
        var results = await operations.RewrapBatchAsync(tenantId, [.. batch.Select(p => new DecryptRequest(p.EncryptedPayload, p.Context))],
            RequestActor.System, cancellationToken);
        var done = 0;
        var now = time.GetUtcNow();
        for (var i = 0; i < batch.Count; i++)
        {
            var result = results[i];
            if (result.Value is { } rewrapped)
            {
                // A payload changed or removed meanwhile is the tenant's newer word: neither done nor failed.
                if (await PayloadReferenceStore.ReplaceAsync(connection, tx, tenantId, keyId, batch[i], rewrapped.EncryptedPayload, rewrapped.KeyVersion, now, cancellationToken))
                {
                    done++;
                }

                continue;
            }

            switch (result.Error)
            {
                case OperationError.DecryptionFailed or OperationError.InvalidPayload or OperationError.InvalidContext:
                    failed.Add(batch[i].Reference);
                    break;
                case OperationError.NotFound or OperationError.StateInvalid or OperationError.AlgorithmMismatch or OperationError.UsageLimitReached:
                    // The key itself cannot rewrap (disabled, deleted, out of encryptions): nothing of this batch is kept.
                    return (batch.Count, after, "The key cannot rewrap now (" + CryptoOperations.DetailOf(result.Error) + ")");
                default:
                    // Entropy unavailable: a dependency down; the runner tries again later from the last committed batch.
                    throw new InvalidOperationException("Rewrap-all could not complete a batch: " + result.Error);
            }
        }

        await AdminJobStore.AdvanceKeyJobAsync(connection, tx, jobId, done, failed, position, PayloadReferenceRules.MaxListedFailures, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        LogBatch(logger, jobId, done, failed.Count);
        return (looked, position, null);
    }

    private async Task<int?> CurrentVersionAsync(Guid tenantId, Guid keyId, CancellationToken cancellationToken)
    {
        await using var command = db.CreateCommand("SELECT current_version FROM mislata.keys WHERE tenant_id = @tenant AND id = @key");
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", keyId);
        return await command.ExecuteScalarAsync(cancellationToken) as int?;
    }

    private async Task<AdminJob?> FailAsync(AdminJob job, Guid tenantId, Guid keyId, string reason, CancellationToken cancellationToken)
    {
        await audit.RecordAsync(Event(tenantId, FinishAction, job, AuditOutcome.Failure, ("keyId", keyId.ToString("D"))), cancellationToken);
        var failed = await jobs.FailAsync(job.Id, reason, cancellationToken);
        LogFailed(logger, job.Id, reason);
        return failed;
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static AuditEvent Event(Guid tenantId, string action, AdminJob job, AuditOutcome outcome, params (string Name, string Value)[] details)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal) { ["jobId"] = job.Id.ToString("D") };
        foreach (var (name, value) in details)
        {
            all[name] = value;
        }

        return RequestActor.System.Event(tenantId, action, "key", job.KeyId?.ToString("D"), outcome, details: all);
    }

    [LoggerMessage(EventId = 190, Level = LogLevel.Information, Message = "Rewrap-all {JobId} of key {KeyId} started: {Total} payload(s) to move to version {Version}")]
    private static partial void LogStarted(ILogger logger, Guid jobId, Guid keyId, int total, int version);

    [LoggerMessage(EventId = 191, Level = LogLevel.Information, Message = "Rewrap-all {JobId} resumed at {Done}/{Total}")]
    private static partial void LogResumed(ILogger logger, Guid jobId, int done, int total);

    [LoggerMessage(EventId = 192, Level = LogLevel.Debug, Message = "Rewrap-all {JobId}: {Done} rewrapped, {Failed} failed in this batch")]
    private static partial void LogBatch(ILogger logger, Guid jobId, int done, int failed);

    [LoggerMessage(EventId = 193, Level = LogLevel.Information, Message = "Rewrap-all {JobId} finished: {Done} rewrapped, {Failed} failed")]
    private static partial void LogFinished(ILogger logger, Guid jobId, int done, int failed);

    [LoggerMessage(EventId = 194, Level = LogLevel.Warning, Message = "Rewrap-all {JobId} failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, Guid jobId, string reason);
}
