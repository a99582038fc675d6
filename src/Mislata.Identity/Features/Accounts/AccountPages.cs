using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Mislata.Core.Audit;
using Mislata.Identity.Features.Auditing;
using Mislata.Infrastructure.Identity;
using SignInResult = Microsoft.AspNetCore.Identity.SignInResult;
using static Mislata.Identity.Features.Accounts.Html;

namespace Mislata.Identity.Features.Accounts;

internal sealed record LoginForm(string? Email = null, string? Password = null, string? ReturnUrl = null);

internal sealed record MfaForm(string? Code = null, string? ReturnUrl = null);

internal sealed record ChangePasswordForm(string? CurrentPassword = null, string? NewPassword = null, string? ConfirmPassword = null);

internal sealed record SetPasswordForm(string? UserId = null, string? Token = null, string? NewPassword = null, string? ConfirmPassword = null);

/// <summary>
/// The pages under <c>/account/</c>: sign-in, second factor, MFA set-up, password change, sign-out. Each change runs
/// in one transaction on the identity store with its audit event recorded before the commit, and reaches the browser
/// (session cookie) only after it: when the audit log is unavailable nothing changes and the page says so (503).
/// </summary>
internal static partial class AccountPages
{
    public static WebApplication MapAccountPages(this WebApplication app)
    {
        app.MapGet("/", () => Results.Redirect("/account"));
        var account = app.MapGroup("/account");
        account.AddEndpointFilter(UnavailableWhenAuditIsDownAsync);
        account.MapGet("", Home);
        account.MapGet("/site.css", (HttpContext http) =>
        {
            http.Response.Headers.CacheControl = "public, max-age=86400";
            return Results.Text(Html.Css, "text/css; charset=utf-8");
        });
        account.MapGet("/login", LoginPage);
        account.MapPost("/login", LoginAsync);
        account.MapGet("/mfa", MfaPageAsync);
        account.MapPost("/mfa", MfaAsync);
        account.MapGet("/mfa/setup", MfaSetupPageAsync);
        account.MapPost("/mfa/setup", MfaSetupAsync);
        account.MapGet("/password", ChangePasswordPage);
        account.MapPost("/password", ChangePasswordAsync);
        account.MapGet("/set-password", SetPasswordPage);
        account.MapPost("/set-password", SetPasswordAsync);
        account.MapGet("/logout", LogoutPage);
        account.MapPost("/logout", LogoutAsync);
        account.MapPasskeyPages();
        account.MapGet("/denied", (HttpContext context) => Page(context, "Access denied", "<p>You do not have access to this page.</p>", StatusCodes.Status403Forbidden));
        return app;
    }

    private static IResult Home(HttpContext context)
    {
        if (context.User.Identity?.IsAuthenticated != true)
        {
            return Results.Redirect("/account/login");
        }

        var body = $"""
            <p>Signed in as <strong id="user">{E(context.User.Identity.Name)}</strong>.</p>
            <nav aria-label="Account"><ul>
            <li><a href="/account/mfa/setup">Two-factor authentication</a></li>
            <li><a href="/account/passkeys">Passkeys</a></li>
            <li><a href="/account/password">Change password</a></li>
            <li><a href="/account/logout">Sign out</a></li>
            </ul></nav>
            """;
        return Page(context, "Your account", body);
    }

    private static IResult LoginPage(HttpContext context, [FromQuery(Name = "ReturnUrl")] string? returnUrl) =>
        RenderLogin(context, returnUrl, null, null, StatusCodes.Status200OK);

    private static IResult RenderLogin(HttpContext context, string? returnUrl, string? email, string? error, int status)
    {
        LogStep(Logger(context), "login-page");
        var inner = Error(error)
            + Field("email", "Email", "email", "username", email)
            + Field("password", "Password", "password", "current-password")
            + Hidden("ReturnUrl", LocalReturnUrl.OrDefault(returnUrl))
            + """<button type="submit">Sign in</button>""";
        return Page(context, "Sign in", Form(context, "/account/login", inner) + PasskeySignInForm(context, returnUrl), status, PasskeyScript);
    }

    /// <summary>
    /// Unknown and existing emails get the same answer (401, same message) at the same cost (one password hash each);
    /// only a lockout is named, since it is the account's state, not a guess.
    /// </summary>
    private static async Task<IResult> LoginAsync(
        HttpContext context,
        [FromForm] IFormCollection data,
        UserManager<MislataUser> users,
        MislataSignInManager signIn,
        DecoyPasswordCheck decoy,
        IdentityStoreDbContext db,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        var form = new LoginForm(data["email"], data["password"], data["ReturnUrl"]);
        LogStep(Logger(context), "login-submit");
        var email = form.Email?.Trim();
        var password = form.Password ?? string.Empty;
        var returnUrl = LocalReturnUrl.OrDefault(form.ReturnUrl);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var user = string.IsNullOrEmpty(email) ? null : await users.FindByEmailAsync(email);
        var result = user is null ? SignInResult.Failed : await signIn.CheckPasswordSignInAsync(user, password, lockoutOnFailure: true);
        if (user is null || result.IsNotAllowed || result.IsLockedOut)
        {
            // These answers come before any hashing in the framework: spend the same time as a wrong password.
            decoy.Run(password);
        }

        const string invalid = "Invalid email or password.";
        if (user is null)
        {
            await audit.RecordAsync(AuditActions.LoginFailed, AuditOutcome.Failure, AuditActorType.Anonymous, "anonymous", null, cancellationToken, errorCode: "unauthorized");
            await transaction.CommitAsync(cancellationToken);
            return RenderLogin(context, returnUrl, email, invalid, StatusCodes.Status401Unauthorized);
        }

        var actor = user.Id.ToString();
        // A locked second factor answers as a locked account, whether the password was right or wrong: the lockout
        // tells nothing about the password (wrong ones still count towards the password lockout).
        if (!result.IsLockedOut && !result.IsNotAllowed && signIn.IsSecondFactorLockedOut(user) && await signIn.NeedsSecondFactorAsync(user))
        {
            await audit.RecordAsync(AuditActions.LockedOut, AuditOutcome.Denied, AuditActorType.User, actor, user.TenantId, cancellationToken,
                errorCode: "forbidden", details: Method("second-factor"));
            await transaction.CommitAsync(cancellationToken);
            return RenderLogin(context, returnUrl, email, "This account is locked after too many failed attempts. Try again later.", StatusCodes.Status401Unauthorized);
        }

        if (result.Succeeded)
        {
            var secondFactor = await signIn.NeedsSecondFactorAsync(user);
            await audit.RecordAsync(AuditActions.LoginSucceeded, AuditOutcome.Success, AuditActorType.User, actor, user.TenantId, cancellationToken,
                details: Method(secondFactor ? "password; second factor required" : "password"));
            await transaction.CommitAsync(cancellationToken);
            var signedIn = await signIn.SignInAfterPasswordAsync(user);
            return Results.Redirect(signedIn.RequiresTwoFactor ? "/account/mfa?ReturnUrl=" + Uri.EscapeDataString(returnUrl) : returnUrl);
        }

        if (result.IsLockedOut)
        {
            await audit.RecordAsync(AuditActions.LockedOut, AuditOutcome.Denied, AuditActorType.User, actor, user.TenantId, cancellationToken, errorCode: "forbidden");
            await transaction.CommitAsync(cancellationToken);
            return RenderLogin(context, returnUrl, email, "This account is locked after too many failed attempts. Try again later.", StatusCodes.Status401Unauthorized);
        }

        await audit.RecordAsync(AuditActions.LoginFailed, AuditOutcome.Failure, AuditActorType.User, actor, user.TenantId, cancellationToken,
            errorCode: result.IsNotAllowed ? "forbidden" : "unauthorized");
        await transaction.CommitAsync(cancellationToken);
        return RenderLogin(context, returnUrl, email, invalid, StatusCodes.Status401Unauthorized);
    }

    private static async Task<IResult> MfaPageAsync(HttpContext context, MislataSignInManager signIn, [FromQuery(Name = "ReturnUrl")] string? returnUrl) =>
        await RenderMfaAsync(context, signIn, await signIn.GetTwoFactorAuthenticationUserAsync(), returnUrl, null, StatusCodes.Status200OK);

    /// <summary>The second step: a code (authenticator or recovery), or one of the pending user's passkeys when they have one.</summary>
    private static async Task<IResult> RenderMfaAsync(HttpContext context, MislataSignInManager signIn, MislataUser? pending, string? returnUrl, string? error, int status)
    {
        LogStep(Logger(context), "mfa-page");
        var inner = Error(error)
            + "<p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>"
            + Field("code", "Authentication code", "text", "one-time-code", null, "inputmode=\"numeric\"")
            + Hidden("ReturnUrl", LocalReturnUrl.OrDefault(returnUrl))
            + """<button type="submit">Verify</button>""";
        var passkeys = pending is not null && (await signIn.UserManager.GetPasskeysAsync(pending)).Count > 0;
        return passkeys
            ? Page(context, "Two-factor authentication", Form(context, "/account/mfa", inner) + PasskeySecondFactorForm(context, returnUrl), status, PasskeyScript)
            : Page(context, "Two-factor authentication", Form(context, "/account/mfa", inner), status);
    }

    /// <summary>A TOTP code counts once (see <see cref="OneTimeAuthenticatorTokenProvider"/>); a recovery code is used up.</summary>
    private static async Task<IResult> MfaAsync(
        HttpContext context,
        [FromForm] IFormCollection data,
        MislataSignInManager signIn,
        IdentityStoreDbContext db,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        var form = new MfaForm(data["code"], data["ReturnUrl"]);
        LogStep(Logger(context), "mfa-submit");
        var returnUrl = LocalReturnUrl.OrDefault(form.ReturnUrl);
        var code = (form.Code ?? string.Empty).Replace(" ", string.Empty, StringComparison.Ordinal);
        var isTotp = code.Length == 6 && code.All(char.IsAsciiDigit);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var (user, result) = await signIn.CheckSecondFactorAsync(code, isTotp);
        if (user is null)
        {
            return Results.Redirect("/account/login");
        }

        return await SecondFactorOutcomeAsync(context, signIn, user, result, SignInMethods.Totp, isTotp ? "totp" : "recovery-code", returnUrl, audit, transaction, cancellationToken);
    }

    /// <summary>
    /// The answer to a second factor of either form, audited and committed before the session reaches the browser.
    /// <paramref name="method"/> is the policy method it proves (a recovery code is a one-time code: <c>totp</c>).
    /// </summary>
    private static async Task<IResult> SecondFactorOutcomeAsync(
        HttpContext context, MislataSignInManager signIn, MislataUser user, SignInResult result, string method, string audited, string returnUrl,
        IdentityAudit audit, Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction transaction, CancellationToken cancellationToken)
    {
        var actor = user.Id.ToString();
        if (result.Succeeded)
        {
            await audit.RecordAsync(AuditActions.MfaSucceeded, AuditOutcome.Success, AuditActorType.User, actor, user.TenantId, cancellationToken, details: Method(audited));
            // The session (stored in Redis) before the commit: with Redis down the step fails whole (503) and the code
            // stays unused. Its cookie still reaches the browser only with this response, after the commit.
            await signIn.CompleteSecondFactorAsync(user, method);
            await transaction.CommitAsync(cancellationToken);
            return Results.Redirect(returnUrl);
        }

        if (result.IsLockedOut)
        {
            await audit.RecordAsync(AuditActions.LockedOut, AuditOutcome.Denied, AuditActorType.User, actor, user.TenantId, cancellationToken,
                errorCode: "forbidden", details: Method(audited));
            await transaction.CommitAsync(cancellationToken);
            return await RenderMfaAsync(context, signIn, user, returnUrl, "Two-factor sign-in is locked after too many failed attempts. Try again later.", StatusCodes.Status401Unauthorized);
        }

        await audit.RecordAsync(AuditActions.MfaFailed, AuditOutcome.Failure, AuditActorType.User, actor, user.TenantId, cancellationToken,
            errorCode: "unauthorized", details: Method(audited));
        await transaction.CommitAsync(cancellationToken);
        return await RenderMfaAsync(context, signIn, user, returnUrl, audited == "passkey" ? "The passkey was not accepted." : "The code is not valid.", StatusCodes.Status401Unauthorized);
    }

    private static async Task<IResult> MfaSetupPageAsync(HttpContext context, UserManager<MislataUser> users, MislataSignInManager signIn)
    {
        var user = await users.GetUserAsync(context.User);
        if (user is null)
        {
            return ToLogin(context);
        }

        if (await signIn.HasTotpAsync(user))
        {
            return Page(context, "Two-factor authentication", """<p id="mfa-status">Two-factor authentication is on. An administrator can reset it if you lose your authenticator.</p><p><a href="/account">Back to your account</a></p>""");
        }

        var key = await users.GetAuthenticatorKeyAsync(user);
        if (string.IsNullOrEmpty(key))
        {
            await users.ResetAuthenticatorKeyAsync(user);
            key = await users.GetAuthenticatorKeyAsync(user);
        }

        return RenderMfaSetup(context, user, key!, null, StatusCodes.Status200OK);
    }

    private static IResult RenderMfaSetup(HttpContext context, MislataUser user, string key, string? error, int status)
    {
        var label = Uri.EscapeDataString("Mislata:" + user.Email);
        var uri = $"otpauth://totp/{label}?secret={key}&issuer=Mislata&digits=6&period=30";
        var inner = Error(error)
            + $"""
               <p>Add this account to your authenticator app with the link or the secret below, then enter the code it shows.</p>
               <p>Link: <code id="otpauth-uri">{E(uri)}</code></p>
               <p>Secret: <code id="secret">{E(key)}</code></p>
               """
            + Field("code", "Verification code", "text", "one-time-code", null, "inputmode=\"numeric\"")
            + """<button type="submit">Turn on two-factor authentication</button>""";
        return Page(context, "Set up two-factor authentication", Form(context, "/account/mfa/setup", inner), status);
    }

    private static async Task<IResult> MfaSetupAsync(
        HttpContext context,
        [FromForm] IFormCollection data,
        UserManager<MislataUser> users,
        MislataSignInManager signIn,
        IdentityStoreDbContext db,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        var form = new MfaForm(data["code"], data["ReturnUrl"]);
        var user = await users.GetUserAsync(context.User);
        if (user is null)
        {
            return ToLogin(context);
        }

        if (await signIn.HasTotpAsync(user))
        {
            return Results.Redirect("/account/mfa/setup");
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var key = await users.GetAuthenticatorKeyAsync(user);
        var code = (form.Code ?? string.Empty).Replace(" ", string.Empty, StringComparison.Ordinal);
        if (string.IsNullOrEmpty(key) || !await users.VerifyTwoFactorTokenAsync(user, users.Options.Tokens.AuthenticatorTokenProvider, code))
        {
            return string.IsNullOrEmpty(key)
                ? Results.Redirect("/account/mfa/setup")
                : RenderMfaSetup(context, user, key, "The code is not valid. Check the time on your device and try again.", StatusCodes.Status400BadRequest);
        }

        await signIn.ConfirmTotpAsync(user);
        await users.SetTwoFactorEnabledAsync(user, true);
        var codes = await users.GenerateNewTwoFactorRecoveryCodesAsync(user, 10) ?? [];
        await audit.RecordAsync(AuditActions.MfaEnabled, AuditOutcome.Success, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken, resourceType: "user", resourceId: user.Id.ToString());
        await transaction.CommitAsync(cancellationToken);
        await signIn.RefreshSignInAsync(user);
        var list = string.Concat(codes.Select(c => $"<li><code>{E(c)}</code></li>"));
        var body = $"""
            <p id="mfa-status">Two-factor authentication is on.</p>
            <p>Keep these recovery codes somewhere safe. Each works once, if you lose your authenticator. They are shown only now.</p>
            <ul id="recovery-codes">{list}</ul>
            <p><a href="/account">Back to your account</a></p>
            """;
        return Page(context, "Two-factor authentication is on", body);
    }

    private static IResult ChangePasswordPage(HttpContext context) =>
        context.User.Identity?.IsAuthenticated == true ? RenderChangePassword(context, null, StatusCodes.Status200OK) : ToLogin(context);

    private static IResult RenderChangePassword(HttpContext context, string? error, int status)
    {
        var inner = Error(error)
            + Field("currentPassword", "Current password", "password", "current-password")
            + Field("newPassword", "New password (at least 12 characters, with upper and lower case letters, a digit and a symbol)", "password", "new-password", null, "minlength=\"12\"")
            + Field("confirmPassword", "Confirm the new password", "password", "new-password", null, "minlength=\"12\"")
            + """<button type="submit">Change password</button>""";
        return Page(context, "Change password", Form(context, "/account/password", inner), status);
    }

    private static async Task<IResult> ChangePasswordAsync(
        HttpContext context,
        [FromForm] IFormCollection data,
        UserManager<MislataUser> users,
        SignInManager<MislataUser> signIn,
        IdentityStoreDbContext db,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        var form = new ChangePasswordForm(data["currentPassword"], data["newPassword"], data["confirmPassword"]);
        var user = await users.GetUserAsync(context.User);
        if (user is null)
        {
            return ToLogin(context);
        }

        if (string.IsNullOrEmpty(form.NewPassword) || form.NewPassword != form.ConfirmPassword)
        {
            return RenderChangePassword(context, "The new passwords do not match.", StatusCodes.Status400BadRequest);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var result = await users.ChangePasswordAsync(user, form.CurrentPassword ?? string.Empty, form.NewPassword);
        if (!result.Succeeded)
        {
            await audit.RecordAsync(AuditActions.PasswordChanged, AuditOutcome.Failure, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken, errorCode: "validation_failed");
            await transaction.CommitAsync(cancellationToken);
            return RenderChangePassword(context, string.Join(" ", result.Errors.Select(e => e.Description)), StatusCodes.Status400BadRequest);
        }

        await audit.RecordAsync(AuditActions.PasswordChanged, AuditOutcome.Success, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        await signIn.RefreshSignInAsync(user);
        return Page(context, "Password changed", """<p role="status">Your password has been changed.</p><p><a href="/account">Back to your account</a></p>""");
    }

    private static IResult SetPasswordPage(HttpContext context, [FromQuery] string? userId, [FromQuery] string? token) =>
        RenderSetPassword(context, userId, token, null, StatusCodes.Status200OK);

    private static IResult RenderSetPassword(HttpContext context, string? userId, string? token, string? error, int status)
    {
        var inner = Error(error)
            + Hidden("userId", userId)
            + Hidden("token", token)
            + Field("newPassword", "Password (at least 12 characters, with upper and lower case letters, a digit and a symbol)", "password", "new-password", null, "minlength=\"12\"")
            + Field("confirmPassword", "Confirm the password", "password", "new-password", null, "minlength=\"12\"")
            + """<button type="submit">Set password</button>""";
        return Page(context, "Set your password", Form(context, "/account/set-password", inner), status);
    }

    private static async Task<IResult> SetPasswordAsync(
        HttpContext context,
        [FromForm] IFormCollection data,
        UserManager<MislataUser> users,
        IdentityStoreDbContext db,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        var form = new SetPasswordForm(data["userId"], data["token"], data["newPassword"], data["confirmPassword"]);
        if (string.IsNullOrEmpty(form.NewPassword) || form.NewPassword != form.ConfirmPassword)
        {
            return RenderSetPassword(context, form.UserId, form.Token, "The passwords do not match.", StatusCodes.Status400BadRequest);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var user = Guid.TryParse(form.UserId, out var id) ? await users.FindByIdAsync(id.ToString()) : null;
        var result = user is null ? null : await users.ResetPasswordAsync(user, form.Token ?? string.Empty, form.NewPassword);
        if (user is null || result is null || !result.Succeeded)
        {
            var message = result is null ? "This link is not valid." : string.Join(" ", result.Errors.Select(e => e.Description));
            return RenderSetPassword(context, form.UserId, form.Token, message, StatusCodes.Status400BadRequest);
        }

        await audit.RecordAsync(AuditActions.PasswordChanged, AuditOutcome.Success, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken, details: Method("invitation"));
        await transaction.CommitAsync(cancellationToken);
        return Page(context, "Password set", """<p role="status">Your password is set.</p><p><a href="/account/login">Sign in</a></p>""");
    }

    private static IResult LogoutPage(HttpContext context)
    {
        var inner = """<p>Sign out of Mislata on this browser?</p><button type="submit">Sign out</button>""";
        return Page(context, "Sign out", Form(context, "/account/logout", inner));
    }

    [SuppressMessage("Style", "IDE0060", Justification = "The empty form makes the endpoint antiforgery-validated.")]
    private static async Task<IResult> LogoutAsync(
        HttpContext context,
        [FromForm] IFormCollection form,
        SignInManager<MislataUser> signIn,
        UserManager<MislataUser> users,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        var user = await users.GetUserAsync(context.User);
        if (user is not null)
        {
            // Recorded first, like every other change here: with the audit log down the session stays as it is.
            await audit.RecordAsync(AuditActions.Logout, AuditOutcome.Success, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken);
        }

        await signIn.SignOutAsync();
        return Page(context, "Signed out", """<p role="status" id="signed-out">You are signed out.</p><p><a href="/account/login">Sign in again</a></p>""");
    }

    /// <summary>The account pages' answer when the audit log cannot record a change: an HTML page, 503, nothing changed.</summary>
    private static async ValueTask<object?> UnavailableWhenAuditIsDownAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        try
        {
            return await next(invocation);
        }
        catch (AuditUnavailableException)
        {
            var context = invocation.HttpContext;
            LogAuditUnavailable(Logger(context), context.TraceIdentifier);
            context.Response.Headers.RetryAfter = "5";
            return Page(context, "Service unavailable",
                """<p class="error" role="alert" id="unavailable">The audit log is unavailable, so nothing was changed. Please try again in a few minutes.</p><p><a href="/account">Back to your account</a></p>""",
                StatusCodes.Status503ServiceUnavailable);
        }
    }

    private static IResult ToLogin(HttpContext context) =>
        Results.Redirect("/account/login?ReturnUrl=" + Uri.EscapeDataString(context.Request.Path + context.Request.QueryString));

    private static Dictionary<string, string> Method(string method) => new() { ["method"] = method };

    private static ILogger Logger(HttpContext context) => context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Mislata.Identity.Account");

    /// <summary>Which replica served which step of a sign-in (no user data).</summary>
    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Account step {Step}")]
    private static partial void LogStep(ILogger logger, string step);

    [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "Request {RequestId} failed closed: the audit log could not store its event")]
    private static partial void LogAuditUnavailable(ILogger logger, string requestId);
}
