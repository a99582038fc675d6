using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Mislata.Infrastructure.Identity;

namespace Mislata.Identity.Features.Accounts;

/// <summary>
/// ASP.NET Core Identity's EF store, with the TOTP seed and the recovery codes encrypted at rest by
/// <see cref="UserSecretProtector"/>. Every framework path to them (authenticator key, recovery-code count and
/// redemption, MFA reset) goes through <see cref="GetTokenAsync"/> and <see cref="SetTokenAsync"/>.
/// </summary>
[SuppressMessage("Performance", "CA1812", Justification = "Instantiated by DI.")]
internal sealed partial class ProtectedUserStore(
    IdentityStoreDbContext context, UserSecretProtector protector, ILogger<ProtectedUserStore> logger, IdentityErrorDescriber? describer = null)
    : UserStore<MislataUser, MislataRole, IdentityStoreDbContext, Guid>(context, describer)
{
    public override async Task<string?> GetTokenAsync(MislataUser user, string loginProvider, string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        var stored = await base.GetTokenAsync(user, loginProvider, name, cancellationToken);
        if (stored is null || !UserSecretProtector.IsSecret(loginProvider, name))
        {
            return stored;
        }

        if (!protector.TryUnprotect(user.Id, name, stored, out var plaintext))
        {
            // Fail closed: no second factor works until an administrator resets it.
            LogUndecryptable(logger, user.Id, name);
            return null;
        }

        if (!protector.IsCurrent(stored))
        {
            // Written in clear before encryption existed, or under the previous master key: re-encrypted on first use.
            await UserSecretsAtRest.ReplaceAsync(Context, user.Id, name, stored, protector.Protect(user.Id, name, plaintext), cancellationToken);
        }

        return plaintext;
    }

    public override Task SetTokenAsync(MislataUser user, string loginProvider, string name, string? value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        var stored = value is not null && UserSecretProtector.IsSecret(loginProvider, name) ? protector.Protect(user.Id, name, value) : value;
        return base.SetTokenAsync(user, loginProvider, name, stored, cancellationToken);
    }

    [LoggerMessage(EventId = 210, Level = LogLevel.Error, Message = "The {TokenName} of user {UserId} does not decrypt (altered, or under a master key that is not configured); treated as absent")]
    private static partial void LogUndecryptable(ILogger logger, Guid userId, string tokenName);
}

/// <summary>
/// At start, re-encrypts every second-factor secret not yet under the current master key (written in clear before
/// this version, or under <c>QAPI_MASTER_KEY_PREVIOUS</c>), so none stays in clear for users who do not sign in.
/// </summary>
internal sealed partial class UserSecretsAtRest(IServiceProvider services, UserSecretProtector protector, ILogger<UserSecretsAtRest> logger)
{
    public async Task ProtectStoredAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>();
        var candidates = await db.UserTokens.AsNoTracking()
            .Where(t => t.LoginProvider == UserSecretProtector.InternalLoginProvider
                && (t.Name == UserSecretProtector.AuthenticatorKeyName || t.Name == UserSecretProtector.RecoveryCodesName)
                && t.Value != null)
            .ToListAsync(cancellationToken);
        var replaced = 0;
        foreach (var token in candidates.Where(t => !protector.IsCurrent(t.Value!)))
        {
            if (!protector.TryUnprotect(token.UserId, token.Name, token.Value!, out var plaintext))
            {
                LogUndecryptable(logger, token.UserId, token.Name);
                continue;
            }

            replaced += await ReplaceAsync(db, token.UserId, token.Name, token.Value!, protector.Protect(token.UserId, token.Name, plaintext), cancellationToken);
        }

        if (replaced > 0)
        {
            LogReencrypted(logger, replaced);
        }
    }

    /// <summary>Swaps a stored value for its encryption only if nobody changed it meanwhile (a redeemed code stays redeemed).</summary>
    internal static Task<int> ReplaceAsync(IdentityStoreDbContext db, Guid userId, string name, string expected, string replacement, CancellationToken cancellationToken) =>
        db.UserTokens
            .Where(t => t.UserId == userId && t.LoginProvider == UserSecretProtector.InternalLoginProvider && t.Name == name && t.Value == expected)
            .ExecuteUpdateAsync(s => s.SetProperty(t => t.Value, replacement), cancellationToken);

    [LoggerMessage(EventId = 211, Level = LogLevel.Information, Message = "Encrypted {Count} second-factor secret(s) under the current master key")]
    private static partial void LogReencrypted(ILogger logger, int count);

    [LoggerMessage(EventId = 212, Level = LogLevel.Error, Message = "The {TokenName} of user {UserId} does not decrypt; left as it is")]
    private static partial void LogUndecryptable(ILogger logger, Guid userId, string tokenName);
}
