using Microsoft.Extensions.Options;
using Mislata.Infrastructure.MasterKeys;
using StackExchange.Redis;

namespace Mislata.Worker.Features.MasterKeys;

/// <summary>
/// Runs the master-key rotation queued by <c>POST /api/v1/admin/master-key/rotate</c>. A hosted loop rather than a
/// Hangfire job, so a worker killed halfway is replaced within seconds, not after Hangfire's invisibility timeout: every
/// <see cref="MasterKeyRotationOptions.PollInterval"/> each worker looks for a queued or running job and runs it under a
/// Redis lock that expires <see cref="LockLifetime"/> after its holder stops renewing it (a crash), so exactly one worker
/// runs it at a time and another one resumes it from the last committed batch.
/// </summary>
internal sealed partial class MasterKeyRotationRunner(
    IServiceProvider services,
    IConnectionMultiplexer redis,
    IOptions<MasterKeyRotationOptions> options,
    TimeProvider time,
    ILogger<MasterKeyRotationRunner> logger) : BackgroundService
{
    /// <summary>The worker's Redis user may use <c>mislata:jobs:*</c> (deploy/redis/users.conf.template).</summary>
    public const string LockKey = "mislata:jobs:lock:" + MasterKeyRotation.Kind;
    internal static readonly TimeSpan LockLifetime = TimeSpan.FromSeconds(15);

    private readonly string _holder = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";

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

        var db = redis.GetDatabase();
        if (!await db.LockTakeAsync(LockKey, _holder, LockLifetime))
        {
            return false;
        }

        using var lost = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewal = RenewAsync(db, lost);
        try
        {
            // Read again under the lock: another worker may have finished it in between.
            if (await jobs.UnfinishedAsync(MasterKeyRotation.Kind, lost.Token) is not { } job)
            {
                return false;
            }

            await services.GetRequiredService<MasterKeyRotation>().RunAsync(job, lost.Token);
            return true;
        }
        finally
        {
            await lost.CancelAsync();
            await renewal;
            await db.LockReleaseAsync(LockKey, _holder);
        }
    }

    /// <summary>Extends the lock every third of its lifetime; cancels the run when it cannot (another worker may take over).</summary>
    private async Task RenewAsync(IDatabase db, CancellationTokenSource lost)
    {
        try
        {
            while (!lost.IsCancellationRequested)
            {
                await Task.Delay(LockLifetime / 3, time, lost.Token);
                if (!await db.LockExtendAsync(LockKey, _holder, LockLifetime))
                {
                    LogLockLost(logger);
                    await lost.CancelAsync();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (RedisException)
        {
            LogLockLost(logger);
            await lost.CancelAsync();
        }
    }

    [LoggerMessage(EventId = 780, Level = LogLevel.Warning, Message = "The master-key rotation did not complete this time ({ErrorType}); it resumes at the next attempt")]
    private static partial void LogAttemptFailed(ILogger logger, string errorType);

    [LoggerMessage(EventId = 781, Level = LogLevel.Warning, Message = "Lost the master-key rotation lock; stopping after the current batch")]
    private static partial void LogLockLost(ILogger logger);
}
