using Microsoft.Extensions.Options;
using Mislata.Infrastructure.MasterKeys;
using Mislata.Worker.Features.Jobs;

namespace Mislata.Worker.Features.MasterKeys;

/// <summary>
/// Runs the master-key rotation queued by <c>POST /api/v1/admin/master-key/rotate</c>. A hosted loop rather than a
/// Hangfire job, so a worker killed halfway is replaced within seconds, not after Hangfire's invisibility timeout: every
/// <see cref="MasterKeyRotationOptions.PollInterval"/> each worker looks for a queued or running job and runs it under
/// the <see cref="JobRunLock"/>, so exactly one worker runs it at a time and another one resumes it from the last
/// committed batch.
/// </summary>
internal sealed partial class MasterKeyRotationRunner(
    IServiceProvider services,
    JobRunLock runLock,
    IOptions<MasterKeyRotationOptions> options,
    TimeProvider time,
    ILogger<MasterKeyRotationRunner> logger) : BackgroundService
{
    /// <summary>The worker's Redis user may use <c>mislata:jobs:*</c> (deploy/redis/users.conf.template).</summary>
    public const string LockKey = "mislata:jobs:lock:" + MasterKeyRotation.Kind;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.PollInterval, time);
        do
        {
            try
            {
                await RunPendingAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                // PostgreSQL or Redis unavailable, or the lock lost: the job stays running and the next tick resumes it.
                LogAttemptFailed(logger, ex.GetType().Name);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Runs the unfinished rotation job, if any and if no other worker holds it. True when this worker ran one.</summary>
    internal async Task<bool> RunPendingAsync(CancellationToken cancellationToken)
    {
        var jobs = services.GetRequiredService<AdminJobStore>();
        if (await jobs.UnfinishedAsync(MasterKeyRotation.Kind, cancellationToken) is null)
        {
            return false;
        }

        return await runLock.RunAsync(LockKey, async token =>
        {
            // Read again under the lock: another worker may have finished it in between.
            if (await jobs.UnfinishedAsync(MasterKeyRotation.Kind, token) is not { } job)
            {
                return false;
            }

            await services.GetRequiredService<MasterKeyRotation>().RunAsync(job, token);
            return true;
        }, cancellationToken);
    }

    [LoggerMessage(EventId = 780, Level = LogLevel.Warning, Message = "The master-key rotation did not complete this time ({ErrorType}); it resumes at the next attempt")]
    private static partial void LogAttemptFailed(ILogger logger, string errorType);
}
