using StackExchange.Redis;

namespace Mislata.Worker.Features.Jobs;

/// <summary>
/// The run lock of a job loop (master-key rotation, rewrap-all): a Redis lock that expires <see cref="Lifetime"/> after its
/// holder stops renewing it (a crash), renewed every third of that while the work runs. When renewal fails the work's
/// token is cancelled (another worker may take over), so exactly one worker runs a job at a time and another one resumes
/// it from its last committed batch. The worker's Redis user may use <c>mislata:jobs:*</c> (deploy/redis/users.conf.template).
/// </summary>
internal sealed partial class JobRunLock(IConnectionMultiplexer redis, TimeProvider time, ILogger<JobRunLock> logger)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(15);

    private readonly string _holder = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";

    /// <summary>Runs <paramref name="work"/> under the lock <paramref name="key"/>; false without running it when another worker holds it.</summary>
    public async Task<bool> RunAsync(string key, Func<CancellationToken, Task<bool>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var db = redis.GetDatabase();
        if (!await db.LockTakeAsync(key, _holder, Lifetime))
        {
            return false;
        }

        using var lost = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewal = RenewAsync(db, key, lost);
        try
        {
            return await work(lost.Token);
        }
        finally
        {
            await lost.CancelAsync();
            await renewal;
            await db.LockReleaseAsync(key, _holder);
        }
    }

    /// <summary>Extends the lock every third of its lifetime; cancels the run when it cannot.</summary>
    private async Task RenewAsync(IDatabase db, string key, CancellationTokenSource lost)
    {
        try
        {
            while (!lost.IsCancellationRequested)
            {
                await Task.Delay(Lifetime / 3, time, lost.Token);
                if (!await db.LockExtendAsync(key, _holder, Lifetime))
                {
                    LogLockLost(logger, key);
                    await lost.CancelAsync();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (RedisException)
        {
            LogLockLost(logger, key);
            await lost.CancelAsync();
        }
    }

    [LoggerMessage(EventId = 781, Level = LogLevel.Warning, Message = "Lost the job lock {LockKey}; stopping after the current batch")]
    private static partial void LogLockLost(ILogger logger, string lockKey);
}
