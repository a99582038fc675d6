using Hangfire;
using Mislata.Infrastructure.Usage;

namespace Mislata.Worker.Features.Usage;

/// <summary>
/// Rolls the monthly operation counters up from Redis into PostgreSQL (<see cref="UsageRollup"/>) every fifteen minutes,
/// so usage survives Redis and can be reported and billed from the database. Idempotent (rows only move up); one run
/// at a time.
/// </summary>
public sealed partial class UsageRollupJob(IServiceScopeFactory scopes, ILogger<UsageRollupJob> logger)
{
    public const string RecurringJobId = "usage-rollup";
    public const string Schedule = "*/15 * * * *";

    [DisableConcurrentExecution(timeoutInSeconds: 600)]
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var written = await scope.ServiceProvider.GetRequiredService<UsageRollup>().RunAsync(cancellationToken);
        LogDone(logger, written);
        return written;
    }

    [LoggerMessage(EventId = 730, Level = LogLevel.Information, Message = "Rolled up {Rows} tenant usage period(s) to PostgreSQL")]
    private static partial void LogDone(ILogger logger, int rows);
}
