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
internal sealed partial class KeyRewrapRunner(
    IServiceProvider services,
    JobRunLock runLock,
    IOptions<KeyRewrapOptions> options,
    TimeProvider time,
    ILogger<KeyRewrapRunner> logger) : BackgroundService
{
    public const string LockPrefix = "mislata:jobs:lock:" + KeyRewrapAll.Kind + ":";
    private const int JobsPerPoll = 20;

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
                // PostgreSQL, Redis or the audit log unavailable, or the lock lost: the job stays as it is; the next tick resumes it.
                LogAttemptFailed(logger, ex.GetType().Name);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

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

    [LoggerMessage(EventId = 782, Level = LogLevel.Warning, Message = "A rewrap-all job did not complete this time ({ErrorType}); it resumes at the next attempt")]
    private static partial void LogAttemptFailed(ILogger logger, string errorType);
}
