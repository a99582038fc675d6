using Mislata.Infrastructure.Keys;

namespace Mislata.Worker.Features.Keys;

/// <summary>
/// Destroys the keys whose deletion window has passed (API.md <c>DELETE /keys/{id}?pendingDays=</c>): the sealed
/// material of every version is erased and the key becomes <c>destroyed</c>, audited per key. Runs hourly, in batches
/// of <see cref="KeyAdministration.DestroyBatch"/>, each its own transaction, until none is due.
/// </summary>
public sealed partial class KeyDestructionJob(IServiceScopeFactory scopes, ILogger<KeyDestructionJob> logger)
{
    public const string RecurringJobId = "key-destruction";

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var total = 0;
        int destroyed;
        do
        {
            await using var scope = scopes.CreateAsyncScope();
            destroyed = await scope.ServiceProvider.GetRequiredService<KeyAdministration>().DestroyDueAsync(cancellationToken);
            total += destroyed;
        }
        while (destroyed == KeyAdministration.DestroyBatch);

        LogDone(logger, total);
        return total;
    }

    [LoggerMessage(EventId = 710, Level = LogLevel.Information, Message = "Destroyed {Count} key(s) past their deletion window")]
    private static partial void LogDone(ILogger logger, int count);
}
