using Hangfire;
using OpenIddict.Abstractions;

namespace Mislata.Worker.Features.Identity;

/// <summary>
/// Removes OpenIddict tokens and authorizations that can no longer be used and were created more than
/// <see cref="Retention"/> ago: expired, redeemed, revoked or rejected tokens, tokens of an authorization that is no
/// longer valid, and invalid or token-less ad-hoc authorizations (OpenIddict's own pruning rules). Idempotent; refresh
/// token reuse detection keeps working because a redeemed token is kept for the retention period.
/// </summary>
public sealed partial class TokenPruningJob(IServiceScopeFactory scopes, TimeProvider time, ILogger<TokenPruningJob> logger)
{
    public const string RecurringJobId = "identity-token-pruning";

    /// <summary>Rows younger than this stay (auditing, reuse detection of redeemed refresh tokens).</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(14);

    /// <summary>Deleting the same rows twice is harmless, but two runs would only race each other: one at a time.</summary>
    [DisableConcurrentExecution(timeoutInSeconds: 600)]
    public async Task<TokenPruningReport> RunAsync(CancellationToken cancellationToken)
    {
        var threshold = time.GetUtcNow() - Retention;
        await using var scope = scopes.CreateAsyncScope();
        var tokens = await scope.ServiceProvider.GetRequiredService<IOpenIddictTokenManager>().PruneAsync(threshold, cancellationToken);
        var authorizations = await scope.ServiceProvider.GetRequiredService<IOpenIddictAuthorizationManager>().PruneAsync(threshold, cancellationToken);
        LogDone(logger, tokens, authorizations);
        return new TokenPruningReport(tokens, authorizations);
    }

    [LoggerMessage(EventId = 720, Level = LogLevel.Information, Message = "Pruned {Tokens} token(s) and {Authorizations} authorization(s)")]
    private static partial void LogDone(ILogger logger, long tokens, long authorizations);
}

public sealed record TokenPruningReport(long Tokens, long Authorizations);
