using System.Diagnostics.CodeAnalysis;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Mislata.Infrastructure.Identity;

namespace Mislata.Identity.Features.Accounts;

/// <summary>
/// A blocked user cannot sign in (password, second factor or session refresh): <see cref="CanSignInAsync"/> says no.
/// Sign-in is split in two so that the account pages can record the audit event and commit before anything reaches
/// the browser: a check that changes only the database (failed-attempt count, lockout, used codes), then the cookie.
/// </summary>
[SuppressMessage("Performance", "CA1812", Justification = "Instantiated by DI.")]
internal sealed class MislataSignInManager(
    UserManager<MislataUser> userManager,
    IHttpContextAccessor contextAccessor,
    IUserClaimsPrincipalFactory<MislataUser> claimsFactory,
    IOptions<IdentityOptions> optionsAccessor,
    ILogger<SignInManager<MislataUser>> logger,
    IAuthenticationSchemeProvider schemes,
    IUserConfirmation<MislataUser> confirmation)
    : SignInManager<MislataUser>(userManager, contextAccessor, claimsFactory, optionsAccessor, logger, schemes, confirmation)
{
    public override async Task<bool> CanSignInAsync(MislataUser user)
    {
        ArgumentNullException.ThrowIfNull(user);
        return user.BlockedAt is null && await base.CanSignInAsync(user);
    }

    /// <summary>Whether a correct password leads to the second-factor page rather than straight to a session.</summary>
    public async Task<bool> NeedsSecondFactorAsync(MislataUser user) =>
        UserManager.SupportsUserTwoFactor
        && await UserManager.GetTwoFactorEnabledAsync(user)
        && (await UserManager.GetValidTwoFactorProvidersAsync(user)).Count > 0
        && !await IsTwoFactorClientRememberedAsync(user);

    /// <summary>After <see cref="SignInManager{TUser}.CheckPasswordSignInAsync"/> succeeded and was audited: the session, or the second-factor step.</summary>
    public Task<SignInResult> SignInAfterPasswordAsync(MislataUser user) => SignInOrTwoFactorAsync(user, isPersistent: false);

    /// <summary>
    /// Checks the second factor of the user who passed the password step — a TOTP code or a recovery code (used up
    /// when it matches) — counting failures towards the lockout, without signing in.
    /// </summary>
    public async Task<(MislataUser? User, SignInResult Result)> CheckSecondFactorAsync(string code, bool isTotp)
    {
        var user = await GetTwoFactorAuthenticationUserAsync();
        if (user is null)
        {
            return (null, SignInResult.Failed);
        }

        if (await PreSignInCheck(user) is { } refused)
        {
            return (user, refused);
        }

        var valid = isTotp
            ? await UserManager.VerifyTwoFactorTokenAsync(user, Options.Tokens.AuthenticatorTokenProvider, code)
            : (await UserManager.RedeemTwoFactorRecoveryCodeAsync(user, code)).Succeeded;
        if (valid)
        {
            await UserManager.ResetAccessFailedCountAsync(user);
            return (user, SignInResult.Success);
        }

        await UserManager.AccessFailedAsync(user);
        return (user, await UserManager.IsLockedOutAsync(user) ? SignInResult.LockedOut : SignInResult.Failed);
    }

    /// <summary>After <see cref="CheckSecondFactorAsync"/> succeeded and was audited: ends the second-factor step and starts the session.</summary>
    public async Task CompleteSecondFactorAsync(MislataUser user)
    {
        await Context.SignOutAsync(IdentityConstants.TwoFactorUserIdScheme);
        await SignInWithClaimsAsync(user, isPersistent: false, [new Claim("amr", "mfa")]);
    }
}
