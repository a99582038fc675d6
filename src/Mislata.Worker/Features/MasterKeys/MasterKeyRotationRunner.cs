using Microsoft.Extensions.Options;
using Mislata.Infrastructure.MasterKeys;
using Mislata.Worker.Features.Jobs;

namespace Mislata.Worker.Features.MasterKeys;

/// <summary>
/// Runs the master-key rotation queued by <c>POST /api/v1/admin/master-key/rotate</c>: every
/// <see cref="MasterKeyRotationOptions.PollInterval"/> each worker looks for a queued or running job and runs it under
/// the <see cref="JobRunLock"/>, so exactly one worker runs it at a time and another one resumes it from the last
/// committed batch.
/// </summary>
internal sealed class MasterKeyRotationRunner(
    IServiceProvider services,
    JobRunLock runLock,
    IOptions<MasterKeyRotationOptions> options,
    TimeProvider time,
    ILogger<MasterKeyRotationRunner> logger) : PollingJobRunner(options.Value.PollInterval, time, logger)
{
    /// <summary>The worker's Redis user may use <c>mislata:jobs:*</c> (deploy/redis/users.conf.template).</summary>
    public const string LockKey = "mislata:jobs:lock:" + MasterKeyRotation.Kind;

    protected override string JobName => "master-key rotation";

    protected override Task PollAsync(CancellationToken cancellationToken) => RunPendingAsync(cancellationToken);

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
}
