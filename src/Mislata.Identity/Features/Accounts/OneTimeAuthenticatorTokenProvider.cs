using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Mislata.Infrastructure.Identity;
using OtpNet;

namespace Mislata.Identity.Features.Accounts;

/// <summary>
/// The authenticator (TOTP, RFC 6238: HMAC-SHA1, 6 digits, 30 s) provider, used at MFA set-up and at sign-in. Like
/// the framework's provider it accepts codes two time steps either side of now (clock drift), but each code counts
/// once: the time step of the last accepted code is kept per user, and a code of that step or an earlier one is
/// refused. The step advances in one conditional statement, so the same code sent to two replicas at once is
/// accepted by at most one of them; it commits or rolls back with the sign-in's transaction.
/// </summary>
[SuppressMessage("Performance", "CA1812", Justification = "Instantiated by DI.")]
internal sealed class OneTimeAuthenticatorTokenProvider(IdentityStoreDbContext db, TimeProvider time) : IUserTwoFactorTokenProvider<MislataUser>
{
    /// <summary>Where the last accepted time step is kept (a user token, so deleting the user deletes it).</summary>
    public const string LoginProvider = "[Mislata]";

    public const string LastTimeStepName = "AuthenticatorLastTimeStep";

    private const int Digits = 6;

    private static readonly VerificationWindow Window = new(previous: 2, future: 2);

    public async Task<bool> CanGenerateTwoFactorTokenAsync(UserManager<MislataUser> manager, MislataUser user)
    {
        ArgumentNullException.ThrowIfNull(manager);
        return !string.IsNullOrWhiteSpace(await manager.GetAuthenticatorKeyAsync(user));
    }

    /// <summary>Codes come from the user's authenticator app, never from the server.</summary>
    public Task<string> GenerateAsync(string purpose, UserManager<MislataUser> manager, MislataUser user) => Task.FromResult(string.Empty);

    public async Task<bool> ValidateAsync(string purpose, string token, UserManager<MislataUser> manager, MislataUser user)
    {
        ArgumentNullException.ThrowIfNull(manager);
        ArgumentNullException.ThrowIfNull(user);
        if (token is not { Length: Digits } || !token.All(char.IsAsciiDigit))
        {
            return false;
        }

        var key = await manager.GetAuthenticatorKeyAsync(user);
        if (string.IsNullOrEmpty(key))
        {
            return false;
        }

        long step;
        var secret = Base32Encoding.ToBytes(key);
        try
        {
            if (!new Totp(secret, totpSize: Digits).VerifyTotp(time.GetUtcNow().UtcDateTime, token, out step, Window))
            {
                return false;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }

        return await ConsumeAsync(user.Id, step);
    }

    /// <summary>Records <paramref name="step"/> as the last accepted one; false when it is not later than the one recorded.</summary>
    private async Task<bool> ConsumeAsync(Guid userId, long step)
    {
        var value = step.ToString(CultureInfo.InvariantCulture);
        var rows = await db.Database.ExecuteSqlAsync($"""
            INSERT INTO identity."AspNetUserTokens" ("UserId", "LoginProvider", "Name", "Value")
            VALUES ({userId}, {LoginProvider}, {LastTimeStepName}, {value})
            ON CONFLICT ("UserId", "LoginProvider", "Name") DO UPDATE SET "Value" = EXCLUDED."Value"
            WHERE identity."AspNetUserTokens"."Value"::bigint < EXCLUDED."Value"::bigint
            """);
        return rows == 1;
    }
}
