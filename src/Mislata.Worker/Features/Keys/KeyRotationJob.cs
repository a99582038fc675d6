using Mislata.Infrastructure.Keys;

namespace Mislata.Worker.Features.Keys;

/// <summary>
/// Rotates the keys that are due (<see cref="KeyRotation"/>: rotation period passed, or an AES-256-GCM version near its
/// encryption limit). Runs every ten minutes, in batches of <see cref="KeyRotation.Batch"/>, until a batch is not full
/// or rotates nothing.
/// </summary>
public sealed partial class KeyRotationJob(IServiceScopeFactory scopes, ILogger<KeyRotationJob> logger)
{
    public const string RecurringJobId = "key-rotation";

    public const string Schedule = "*/10 * * * *";

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var total = 0;
        int rotated, due;
        do
        {
            await using var scope = scopes.CreateAsyncScope();
            (rotated, due) = await scope.ServiceProvider.GetRequiredService<KeyRotation>().RotateDueAsync(cancellationToken);
            total += rotated;
        }
        while (due == KeyRotation.Batch && rotated > 0);

        LogDone(logger, total);
        return total;
    }

    [LoggerMessage(EventId = 711, Level = LogLevel.Information, Message = "Rotated {Count} key(s) due for rotation")]
    private static partial void LogDone(ILogger logger, int count);
}
