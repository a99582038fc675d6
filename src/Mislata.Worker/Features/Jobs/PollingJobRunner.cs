namespace Mislata.Worker.Features.Jobs;

/// <summary>
/// A hosted loop that looks for queued or interrupted admin jobs every poll interval and runs them (under a
/// <see cref="JobRunLock"/>, in the subclass). A hosted loop rather than a Hangfire job, so a worker killed halfway is
/// replaced within seconds, not after Hangfire's invisibility timeout. An attempt that fails (PostgreSQL, Redis or the
/// audit log unavailable, the lock lost) leaves the job as it is; the next tick resumes it.
/// </summary>
internal abstract partial class PollingJobRunner(TimeSpan pollInterval, TimeProvider time, ILogger logger) : BackgroundService
{
    /// <summary>The job's name in the log.</summary>
    protected abstract string JobName { get; }

    /// <summary>One look for work: runs what is pending, if anything.</summary>
    protected abstract Task PollAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(pollInterval, time);
        do
        {
            try
            {
                await PollAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogAttemptFailed(logger, JobName, ex.GetType().Name);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(EventId = 780, Level = LogLevel.Warning, Message = "The {JobName} did not complete this time ({ErrorType}); it resumes at the next attempt")]
    private static partial void LogAttemptFailed(ILogger logger, string jobName, string errorType);
}
