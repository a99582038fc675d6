namespace Mislata.Infrastructure.Health;

/// <summary>
/// Runs one round of a background loop (a flush, a probe, a refill) so that no failure of it can stop the process.
/// An exception that leaves <see cref="BackgroundService.ExecuteAsync"/> stops the whole host
/// (<c>HostOptions.BackgroundServiceExceptionBehavior</c> is <c>StopHost</c>): during a PostgreSQL outage a usage flush
/// that met Entity Framework's wrapped exception once took the api down with it. Here a failed round is logged — once per
/// run of failures, not once a second — and the loop goes on with the next; only shutdown's cancellation passes through.
/// </summary>
public sealed partial class BackgroundRounds(ILogger logger, string loop)
{
    private int _failing;

    /// <summary>True while the last round failed.</summary>
    public bool Failing => Volatile.Read(ref _failing) == 1;

    /// <summary>Runs <paramref name="round"/>; returns false when it failed (already logged).</summary>
    public async Task<bool> RunAsync(Func<CancellationToken, Task> round, CancellationToken stoppingToken)
    {
        try
        {
            await round(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            if (Interlocked.Exchange(ref _failing, 1) == 0)
            {
                // The type names only: a driver's message may quote a statement or a value.
                LogRoundFailed(logger, loop, ex.GetType().FullName ?? "exception", Innermost(ex).GetType().FullName ?? "exception");
            }

            return false;
        }

        if (Interlocked.Exchange(ref _failing, 0) == 1)
        {
            LogRoundsBack(logger, loop);
        }

        return true;
    }

    private static Exception Innermost(Exception exception)
    {
        while (exception.InnerException is { } inner)
        {
            exception = inner;
        }

        return exception;
    }

    [LoggerMessage(EventId = 5640, Level = LogLevel.Warning, Message = "The background loop {Loop} failed ({ExceptionType}, caused by {InnermostType}); it goes on and retries next round")]
    private static partial void LogRoundFailed(ILogger logger, string loop, string exceptionType, string innermostType);

    [LoggerMessage(EventId = 5641, Level = LogLevel.Information, Message = "The background loop {Loop} works again")]
    private static partial void LogRoundsBack(ILogger logger, string loop);
}
