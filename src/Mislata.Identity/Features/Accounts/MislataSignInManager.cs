using System.Diagnostics.CodeAnalysis;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Mislata.Infrastructure.Identity;

namespace Mislata.Identity.Features.Accounts;

/// <summary>
/// A blocked user cannot sign in (password, second factor or session refresh): <see cref="CanSignInAsync"/> says no.
/// Sign-in is split in two so that the account pages can record the audit event and commit before anything reaches
/// the browser: a check that changes only the database (failed-attempt counts, lockouts, used codes), then the cookie.
/// Wrong passwords and failed second factors are counted apart (<see cref="SignInLockoutOptions"/>): the password
/// counter is Identity's own (<c>AccessFailedCount</c>, <c>LockoutEnd</c>), the second-factor one is
/// <see cref="MislataUser.SecondFactorFailedCount"/> and <see cref="MislataUser.SecondFactorLockoutEnd"/>.
/// </summary>
[SuppressMessage("Performance", "CA1812", Justification = "Instantiated by DI.")]
internal sealed class MislataSignInManager(
    UserManager<MislataUser> userManager,
    IHttpContextAccessor contextAccessor,
    IUserClaimsPrincipalFactory<MislataUser> claimsFactory,
    IOptions<IdentityOptions> optionsAccessor,
    ILogger<SignInManager<MislataUser>> logger,
    IAuthenticationSchemeProvider schemes,
    IUserConfirmation<MislataUser> confirmation,
    IdentityStoreDbContext db,
    TimeProvider time,
    IOptions<SignInLockoutOptions> lockout)
    : SignInManager<MislataUser>(userManager, contextAccessor, claimsFactory, optionsAccessor, logger, schemes, confirmation)
{
    /// <summary>The pending second step's passkey challenge, kept in the same protected cookie as the pending user.</summary>
    private const string PasskeyStateItem = "mislata.mfa.passkey";

    /// <summary>The user-token row (not a secret) marking a confirmed authenticator.</summary>
    private const string MarkerProvider = "[Mislata]";

    private const string TotpConfirmedMarker = "TotpConfirmed";

    public override async Task<bool> CanSignInAsync(MislataUser user)
    {
        ArgumentNullException.ThrowIfNull(user);
        return user.BlockedAt is null && await base.CanSignInAsync(user);
    }

    /// <summary>
    /// The framework keeps the password counter after a correct password when two-factor is on (it used to count both
    /// factors); here it counts passwords only, so a correct one resets it — and never the second-factor counter.
    /// </summary>
    public override async Task<SignInResult> CheckPasswordSignInAsync(MislataUser user, string password, bool lockoutOnFailure)
    {
        var result = await base.CheckPasswordSignInAsync(user, password, lockoutOnFailure);
        if (result.Succeeded && await UserManager.GetAccessFailedCountAsync(user) > 0)
        {
            await UserManager.ResetAccessFailedCountAsync(user);
        }

        return result;
    }

    /// <summary>Two-factor is on and there is a factor to use: an authenticator (or another token provider) or a passkey.</summary>
    public override async Task<bool> IsTwoFactorEnabledAsync(MislataUser user) =>
        UserManager.SupportsUserTwoFactor
        && await UserManager.GetTwoFactorEnabledAsync(user)
        && ((await UserManager.GetValidTwoFactorProvidersAsync(user)).Count > 0 || (await UserManager.GetPasskeysAsync(user)).Count > 0);

    /// <summary>Whether a correct password leads to the second-factor page rather than straight to a session.</summary>
    public async Task<bool> NeedsSecondFactorAsync(MislataUser user) =>
        await IsTwoFactorEnabledAsync(user) && !await IsTwoFactorClientRememberedAsync(user);

    /// <summary>
    /// Whether an authenticator (TOTP) was set up and confirmed with a code. Two-factor on says so no longer (a passkey
    /// turns it on too), and the set-up page writes a key before it is confirmed: a confirmation marks it. Users who set
    /// up TOTP before passkeys could be a second factor have two-factor on without passkeys: theirs counts as confirmed.
    /// </summary>
    public async Task<bool> HasTotpAsync(MislataUser user) =>
        await UserManager.GetTwoFactorEnabledAsync(user)
        && !string.IsNullOrEmpty(await UserManager.GetAuthenticatorKeyAsync(user))
        && (await UserManager.GetAuthenticationTokenAsync(user, MarkerProvider, TotpConfirmedMarker) == "true"
            || (await UserManager.GetPasskeysAsync(user)).Count == 0);

    /// <summary>After a set-up code was verified: the authenticator is a second factor from now on.</summary>
    public Task ConfirmTotpAsync(MislataUser user) => UserManager.SetAuthenticationTokenAsync(user, MarkerProvider, TotpConfirmedMarker, "true");

    /// <summary>An administrator's MFA reset: the authenticator is unconfirmed again.</summary>
    public Task ForgetTotpAsync(MislataUser user) => UserManager.RemoveAuthenticationTokenAsync(user, MarkerProvider, TotpConfirmedMarker);

    /// <summary>The second-factor methods the user can use now (what a step-up can ask for).</summary>
    public async Task<IReadOnlyList<string>> EnrolledMethodsAsync(MislataUser user)
    {
        var methods = new List<string>();
        if (await HasTotpAsync(user))
        {
            methods.Add(SignInMethods.Totp);
        }

        if ((await UserManager.GetPasskeysAsync(user)).Count > 0)
        {
            methods.Add(SignInMethods.Passkey);
        }

        return methods;
    }

    public bool IsSecondFactorLockedOut(MislataUser user) => user.SecondFactorLockoutEnd is { } end && end > time.GetUtcNow();

    /// <summary>After <see cref="SignInManager{TUser}.CheckPasswordSignInAsync"/> succeeded and was audited: the session, or the second-factor step.</summary>
    public Task<SignInResult> SignInAfterPasswordAsync(MislataUser user) => SignInOrTwoFactorAsync(user, isPersistent: false);

    /// <summary>
    /// A signed-in user whose session lacks the second factor an application requires: back to the second step, as
    /// after a password (the session stays until the step completes and replaces it).
    /// </summary>
    public Task BeginStepUpAsync(MislataUser user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var pending = new ClaimsIdentity(IdentityConstants.TwoFactorUserIdScheme);
        pending.AddClaim(new Claim(ClaimTypes.Name, user.Id.ToString()));
        return Context.SignInAsync(IdentityConstants.TwoFactorUserIdScheme, new ClaimsPrincipal(pending));
    }

    /// <summary>
    /// Checks the second factor of the user who passed the password step — a TOTP code or a recovery code (used up
    /// when it matches) — counting failures towards the second-factor lockout, without signing in.
    /// </summary>
    public async Task<(MislataUser? User, SignInResult Result)> CheckSecondFactorAsync(string code, bool isTotp)
    {
        var user = await GetTwoFactorAuthenticationUserAsync();
        if (user is null)
        {
            return (null, SignInResult.Failed);
        }

        if (await SecondFactorRefusalAsync(user) is { } refused)
        {
            return (user, refused);
        }

        // An authenticator code counts only once the authenticator was confirmed (an abandoned set-up is no factor).
        var valid = isTotp
            ? await HasTotpAsync(user) && await UserManager.VerifyTwoFactorTokenAsync(user, Options.Tokens.AuthenticatorTokenProvider, code)
            : (await UserManager.RedeemTwoFactorRecoveryCodeAsync(user, code)).Succeeded;
        return (user, await CountSecondFactorAsync(user, valid));
    }

    /// <summary>
    /// The WebAuthn request options of the pending second step: only this user's passkeys, with a challenge kept in the
    /// pending step's own cookie (so it answers nothing else). Null when no second step is pending.
    /// </summary>
    public async Task<string?> MakeSecondFactorPasskeyOptionsAsync()
    {
        var pending = await Context.AuthenticateAsync(IdentityConstants.TwoFactorUserIdScheme);
        if (!pending.Succeeded || await GetTwoFactorAuthenticationUserAsync() is not { } user)
        {
            return null;
        }

        var options = await Context.RequestServices.GetRequiredService<IPasskeyHandler<MislataUser>>().MakeRequestOptionsAsync(user, Context);
        pending.Properties!.Items[PasskeyStateItem] = options.AssertionState;
        await Context.SignInAsync(IdentityConstants.TwoFactorUserIdScheme, pending.Principal!, pending.Properties);
        return options.RequestOptionsJson;
    }

    /// <summary>
    /// Checks a passkey assertion as the second factor of the pending user: the challenge is used up first (a replay
    /// finds none), the credential must be one of this user's, and every refusal counts towards the second-factor
    /// lockout. The passkey (new sign count) is returned for the caller to store.
    /// </summary>
    public async Task<(MislataUser? User, SignInResult Result, UserPasskeyInfo? Passkey)> CheckSecondFactorPasskeyAsync(string credentialJson)
    {
        var pending = await Context.AuthenticateAsync(IdentityConstants.TwoFactorUserIdScheme);
        var user = pending.Succeeded ? await GetTwoFactorAuthenticationUserAsync() : null;
        if (user is null)
        {
            return (null, SignInResult.Failed, null);
        }

        pending.Properties!.Items.TryGetValue(PasskeyStateItem, out var state);
        pending.Properties.Items.Remove(PasskeyStateItem);
        await Context.SignInAsync(IdentityConstants.TwoFactorUserIdScheme, pending.Principal!, pending.Properties);
        if (await SecondFactorRefusalAsync(user) is { } refused)
        {
            return (user, refused, null);
        }

        PasskeyAssertionResult<MislataUser>? assertion = null;
        if (!string.IsNullOrEmpty(state) && !string.IsNullOrEmpty(credentialJson))
        {
            assertion = await Context.RequestServices.GetRequiredService<IPasskeyHandler<MislataUser>>().PerformAssertionAsync(
                new PasskeyAssertionContext { CredentialJson = credentialJson, AssertionState = state, HttpContext = Context });
        }

        var valid = assertion is { Succeeded: true } && assertion.User.Id == user.Id;
        var result = await CountSecondFactorAsync(user, valid);
        return (user, result, valid ? assertion!.Passkey : null);
    }

    /// <summary>
    /// After a second factor of <paramref name="method"/> succeeded and was audited: ends the second step and starts
    /// the session, whose amr adds the second factor to the first (a step-up keeps what the session had).
    /// </summary>
    public async Task CompleteSecondFactorAsync(MislataUser user, string method)
    {
        ArgumentNullException.ThrowIfNull(user);
        var session = await Context.AuthenticateAsync(AuthenticationScheme);
        var first = session.Succeeded && UserManager.GetUserId(session.Principal!) == user.Id.ToString() && SignInMethods.Of(session.Principal) is { Count: > 0 } had
            ? had
            : SignInMethods.ForPassword;
        await Context.SignOutAsync(IdentityConstants.TwoFactorUserIdScheme);
        await SignInWithClaimsAsync(user, isPersistent: false, SignInMethods.Claims(SignInMethods.AfterSecondFactor(first, method)));
    }

    /// <summary>Like the framework's, but keeps every amr value of the session (the framework keeps the first only).</summary>
    public override async Task RefreshSignInAsync(MislataUser user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var session = await Context.AuthenticateAsync(AuthenticationScheme);
        if (!session.Succeeded || UserManager.GetUserId(session.Principal!) != user.Id.ToString())
        {
            await base.RefreshSignInAsync(user);
            return;
        }

        await SignInWithClaimsAsync(user, session.Properties, SignInMethods.Claims(SignInMethods.Of(session.Principal)));
    }

    private async Task<SignInResult?> SecondFactorRefusalAsync(MislataUser user) =>
        await PreSignInCheck(user) ?? (IsSecondFactorLockedOut(user) ? SignInResult.LockedOut : null);

    private async Task<SignInResult> CountSecondFactorAsync(MislataUser user, bool valid)
    {
        if (valid)
        {
            if (user.SecondFactorFailedCount != 0 || user.SecondFactorLockoutEnd is not null)
            {
                user.SecondFactorFailedCount = 0;
                user.SecondFactorLockoutEnd = null;
                await UserManager.UpdateAsync(user);
            }

            return SignInResult.Success;
        }

        return await SecondFactorFailedAsync(user) ? SignInResult.LockedOut : SignInResult.Failed;
    }

    /// <summary>
    /// One failure, counted in one UPDATE (parallel guesses each count): at the threshold the counter restarts and the
    /// second factor locks for the window. The concurrency stamp changes too, so that a stale copy of the user saved
    /// elsewhere fails rather than writing an old count back. True when the second factor is now locked.
    /// </summary>
    private async Task<bool> SecondFactorFailedAsync(MislataUser user)
    {
        var limits = lockout.Value;
        var now = time.GetUtcNow();
        DateTimeOffset? until = now + limits.SecondFactorWindow;
        var max = limits.SecondFactorMaxFailures;
        var stamp = Guid.NewGuid().ToString();
        await db.Users.Where(u => u.Id == user.Id).ExecuteUpdateAsync(s => s
            .SetProperty(u => u.SecondFactorLockoutEnd, u => u.SecondFactorFailedCount + 1 >= max ? until : u.SecondFactorLockoutEnd)
            .SetProperty(u => u.SecondFactorFailedCount, u => u.SecondFactorFailedCount + 1 >= max ? 0 : u.SecondFactorFailedCount + 1)
            .SetProperty(u => u.ConcurrencyStamp, stamp));
        var end = await db.Users.Where(u => u.Id == user.Id).Select(u => u.SecondFactorLockoutEnd).SingleAsync();
        return end is { } e && e > now;
    }
}
