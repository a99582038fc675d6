using Microsoft.Extensions.Options;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.MasterKeys;
using Mislata.Worker.Features.Jobs;

namespace Mislata.Worker.Features.Keys;

/// <summary>
/// Runs the rewrap-all jobs queued by <c>POST /api/v1/keys/{id}/rewrap-all</c>, oldest first, each under its own
/// <see cref="JobRunLock"/> (<c>mislata:jobs:lock:key-rewrap-all:{jobId}</c>): workers share the queue, one job runs on one
/// worker at a time, and a job whose worker died is resumed by the next poll once its lock expired.
/// </summary>
internal sealed class KeyRewrapRunner(
    IServiceProvider services,
    JobRunLock runLock,
    IOptions<KeyRewrapOptions> options,
    TimeProvider time,
    ILogger<KeyRewrapRunner> logger) : PollingJobRunner(options.Value.PollInterval, time, logger)
{
    public const string LockPrefix = "mislata:jobs:lock:" + KeyRewrapAll.Kind + ":";
    private const int JobsPerPoll = 20;

    protected override string JobName => "rewrap-all job";

    protected override Task PollAsync(CancellationToken cancellationToken) => RunPendingAsync(cancellationToken);

    /// <summary>Runs every unfinished rewrap-all job no other worker holds; returns how many this worker ran.</summary>
    internal async Task<int> RunPendingAsync(CancellationToken cancellationToken)
    {
        var jobs = services.GetRequiredService<AdminJobStore>();
        var ran = 0;
        foreach (var pending in await jobs.UnfinishedKeyJobsAsync(KeyRewrapAll.Kind, JobsPerPoll, cancellationToken))
        {
            var done = await runLock.RunAsync(LockPrefix + pending.Id.ToString("D"), async token =>
            {
                // Read again under the lock: another worker may have finished it in between.
                if (await jobs.FindAsync(pending.Id, token) is not { State: AdminJobState.Queued or AdminJobState.Running } job)
                {
                    return false;
                }

                await services.GetRequiredService<KeyRewrapAll>().RunAsync(job, token);
                return true;
            }, cancellationToken);
            ran += done ? 1 : 0;
        }

        return ran;
    }
}
