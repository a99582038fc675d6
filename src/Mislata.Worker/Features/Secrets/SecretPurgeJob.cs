using Mislata.Infrastructure.Secrets;

namespace Mislata.Worker.Features.Secrets;

/// <summary>
/// Daily: permanently removes the secrets deleted more than 30 days ago (API.md <c>DELETE /secrets/{id}</c>, restorable
/// until then) and the versions older than the newest N of tenants that keep at most N per secret
/// (<c>secretVersionsKept</c>; by default every version is kept). Audited per secret as the system. Works in batches of
/// <see cref="SecretAdministration.PurgeBatch"/>, each its own transaction, until nothing is due.
/// </summary>
public sealed partial class SecretPurgeJob(IServiceScopeFactory scopes, ILogger<SecretPurgeJob> logger)
{
    public const string RecurringJobId = "secret-purge";

    public async Task<SecretPurgeResult> RunAsync(CancellationToken cancellationToken)
    {
        var secrets = 0;
        int batch;
        do
        {
            await using var scope = scopes.CreateAsyncScope();
            batch = await scope.ServiceProvider.GetRequiredService<SecretAdministration>().PurgeDueAsync(cancellationToken);
            secrets += batch;
        }
        while (batch == SecretAdministration.PurgeBatch);

        var versions = 0;
        do
        {
            await using var scope = scopes.CreateAsyncScope();
            batch = await scope.ServiceProvider.GetRequiredService<SecretAdministration>().PruneVersionsAsync(cancellationToken);
            versions += batch;
        }
        while (batch == SecretAdministration.PurgeBatch);

        LogDone(logger, secrets, versions);
        return new SecretPurgeResult(secrets, versions);
    }

    [LoggerMessage(EventId = 720, Level = LogLevel.Information, Message = "Purged {Secrets} deleted secret(s) and {Versions} old secret version(s)")]
    private static partial void LogDone(ILogger logger, int secrets, int versions);
}

/// <summary>What one run removed.</summary>
public sealed record SecretPurgeResult(int Secrets, int Versions);
