using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Mislata.Core.Audit;
using Mislata.Identity.Features.Auditing;
using Mislata.Infrastructure.Identity;
using static Mislata.Identity.Features.Accounts.Html;

namespace Mislata.Identity.Features.Accounts;

/// <summary>
/// Passkeys (WebAuthn, issue 17) with ASP.NET Core Identity's own implementation: a signed-in user registers passkeys
/// and removes them at <c>/account/passkeys</c>, and signs in with one at <c>/account/login</c> as a first factor (a
/// passkey verifies the user on the device: possession and a PIN or biometric, so it is not followed by a code). The
/// browser side is <c>/account/passkey.js</c> (the gateway's Content-Security-Policy allows no inline script): it asks
/// for the options, calls <c>navigator.credentials</c>, and posts the credential's JSON in a form with the antiforgery
/// token. Registration, removal and every sign-in are audited; no credential material is logged.
/// </summary>
internal static partial class AccountPages
{
    /// <summary>The longest passkey name a user may give.</summary>
    internal const int PasskeyNameLength = 64;

    /// <summary>The longest credential JSON accepted (an attestation with a large certificate chain stays far below).</summary>
    private const int CredentialJsonLength = 64 * 1024;

    internal const string PasskeyScript = "/account/passkey.js";

    private static RouteGroupBuilder MapPasskeyPages(this RouteGroupBuilder account)
    {
        account.MapGet("/passkey.js", (HttpContext http) =>
        {
            http.Response.Headers.CacheControl = "public, max-age=3600";
            return Results.Text(PasskeyJavaScript, "text/javascript; charset=utf-8");
        });
        account.MapGet("/passkeys", PasskeysPageAsync);
        account.MapPost("/passkeys/options", PasskeyCreationOptionsAsync);
        account.MapPost("/passkeys", RegisterPasskeyAsync);
        account.MapPost("/passkeys/remove", RemovePasskeyAsync);
        account.MapPost("/login/passkey/options", PasskeyRequestOptionsAsync);
        account.MapPost("/login/passkey", PasskeyLoginAsync);
        account.MapPost("/mfa/passkey/options", SecondFactorPasskeyOptionsAsync);
        account.MapPost("/mfa/passkey", SecondFactorPasskeyAsync);
        return account;
    }

    /// <summary>The "Sign in with a passkey" form of the login page: filled and submitted by passkey.js.</summary>
    private static string PasskeySignInForm(HttpContext context, string? returnUrl) =>
        PasskeyAssertionForm(context, "Or use a passkey", "/account/login/passkey", "Sign in with a passkey", returnUrl);

    /// <summary>The "Use a passkey" form of the second step, for a user who has one.</summary>
    private static string PasskeySecondFactorForm(HttpContext context, string? returnUrl) =>
        PasskeyAssertionForm(context, "Or use one of your passkeys", "/account/mfa/passkey", "Use a passkey", returnUrl);

    /// <summary>A form posting an assertion to <paramref name="action"/>, whose options passkey.js asks at <c>{action}/options</c>.</summary>
    private static string PasskeyAssertionForm(HttpContext context, string title, string action, string button, string? returnUrl) =>
        $"""<section aria-labelledby="passkey-title"><h2 id="passkey-title">{E(title)}</h2>"""
        + Form(context, action,
            Hidden("credential", null).Replace("<input", "<input id=\"passkey-credential\"", StringComparison.Ordinal)
            + Hidden("ReturnUrl", LocalReturnUrl.OrDefault(returnUrl))
            + $"""<button type="button" id="passkey-sign-in" data-options="{E(action)}/options">{E(button)}</button>""")
        + "</section>";

    /// <summary>The WebAuthn request options of the pending second step: this user's passkeys only, a challenge bound to the step.</summary>
    private static async Task<IResult> SecondFactorPasskeyOptionsAsync(HttpContext context, MislataSignInManager signIn, [FromForm] IFormCollection _)
    {
        context.Response.Headers.CacheControl = "no-store";
        return await signIn.MakeSecondFactorPasskeyOptionsAsync() is { } options ? Results.Content(options, "application/json") : Results.Unauthorized();
    }

    /// <summary>
    /// A passkey as the second factor: the assertion must answer this step's challenge with one of the pending user's
    /// passkeys; any other answer (another user's credential, a replay, a bad signature) is refused and counted
    /// towards the second-factor lockout.
    /// </summary>
    private static async Task<IResult> SecondFactorPasskeyAsync(
        HttpContext context,
        [FromForm] IFormCollection data,
        MislataSignInManager signIn,
        IdentityStoreDbContext db,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        LogStep(Logger(context), "mfa-passkey-submit");
        var returnUrl = LocalReturnUrl.OrDefault(data["ReturnUrl"]);
        string credential = data["credential"].ToString();
        if (credential.Length > CredentialJsonLength)
        {
            credential = string.Empty;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var (user, result, passkey) = await signIn.CheckSecondFactorPasskeyAsync(credential);
        if (user is null)
        {
            return Results.Redirect("/account/login");
        }

        if (result.Succeeded && passkey is not null)
        {
            // The new sign count and last use, stored with the success's audit event.
            await signIn.UserManager.AddOrUpdatePasskeyAsync(user, passkey);
        }
        else if (!result.IsLockedOut)
        {
            LogPasskeyRefused(Logger(context), "second factor", "the assertion did not answer this step's challenge with one of the user's passkeys");
        }

        return await SecondFactorOutcomeAsync(context, signIn, user, result, SignInMethods.Passkey, "passkey", returnUrl, audit, transaction, cancellationToken);
    }

    private static async Task<IResult> PasskeysPageAsync(HttpContext context, UserManager<MislataUser> users) =>
        await users.GetUserAsync(context.User) is { } user
            ? await RenderPasskeysAsync(context, users, user, null, null, StatusCodes.Status200OK)
            : ToLogin(context);

    private static async Task<IResult> RenderPasskeysAsync(
        HttpContext context, UserManager<MislataUser> users, MislataUser user, string? notice, string? error, int status, IReadOnlyList<string>? recoveryCodes = null)
    {
        var passkeys = await users.GetPasskeysAsync(user);
        var rows = string.Concat(passkeys.OrderBy(p => p.CreatedAt).Select(p =>
            $"""
             <li><span class="passkey-name">{E(p.Name ?? "Passkey")}</span> — added {E(p.CreatedAt.ToString("u", System.Globalization.CultureInfo.InvariantCulture))}
             {Form(context, "/account/passkeys/remove", Hidden("id", Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(p.CredentialId)) + $"""<button type="submit" aria-label="Remove passkey {E(p.Name ?? "Passkey")}">Remove</button>""")}</li>
             """));
        var body = Error(error)
            + (notice is null ? string.Empty : $"""<p role="status" id="notice">{E(notice)}</p>""")
            + (recoveryCodes is not { Count: > 0 } ? string.Empty : $"""
                <p id="mfa-status">Two-factor authentication is on: after your password, Mislata asks for a passkey (or an authenticator code).</p>
                <p>Keep these recovery codes somewhere safe. Each works once, if you lose your passkeys. They are shown only now.</p>
                <ul id="recovery-codes">{string.Concat(recoveryCodes.Select(c => $"<li><code>{E(c)}</code></li>"))}</ul>
                """)
            + (passkeys.Count == 0 ? """<p id="passkey-count">You have no passkey yet.</p>""" : $"""<p id="passkey-count">{passkeys.Count} passkey(s).</p><ul id="passkeys">{rows}</ul>""")
            + "<h2>Add a passkey</h2><p>Your device or password manager creates the passkey; Mislata keeps only its public key.</p>"
            + Form(context, "/account/passkeys",
                Field("name", "Passkey name", "text", "off", null, $"maxlength=\"{PasskeyNameLength}\"")
                + Hidden("credential", null).Replace("<input", "<input id=\"passkey-credential\"", StringComparison.Ordinal)
                + """<button type="button" id="passkey-register" data-options="/account/passkeys/options">Add a passkey</button>""")
            + """<p><a href="/account">Back to your account</a></p>""";
        return Page(context, "Passkeys", body, status, PasskeyScript);
    }

    /// <summary>The WebAuthn creation options for the signed-in user (JSON for <c>PublicKeyCredential.parseCreationOptionsFromJSON</c>).</summary>
    private static async Task<IResult> PasskeyCreationOptionsAsync(HttpContext context, UserManager<MislataUser> users, MislataSignInManager signIn, [FromForm] IFormCollection _)
    {
        if (await users.GetUserAsync(context.User) is not { } user)
        {
            return Results.Unauthorized();
        }

        var options = await signIn.MakePasskeyCreationOptionsAsync(new PasskeyUserEntity
        {
            Id = user.Id.ToString(),
            Name = user.Email ?? user.Id.ToString(),
            DisplayName = user.Email ?? user.Id.ToString(),
        });
        context.Response.Headers.CacheControl = "no-store";
        return Results.Content(options, "application/json");
    }

    private static async Task<IResult> RegisterPasskeyAsync(
        HttpContext context,
        [FromForm] IFormCollection data,
        UserManager<MislataUser> users,
        MislataSignInManager signIn,
        IdentityStoreDbContext db,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        if (await users.GetUserAsync(context.User) is not { } user)
        {
            return ToLogin(context);
        }

        var name = data["name"].ToString().Trim();
        string credential = data["credential"].ToString();
        if (name.Length is 0 or > PasskeyNameLength || name.Any(char.IsControl))
        {
            return await RenderPasskeysAsync(context, users, user, null, $"Give the passkey a name of 1 to {PasskeyNameLength} characters.", StatusCodes.Status400BadRequest);
        }

        if (credential.Length is 0 or > CredentialJsonLength)
        {
            return await RenderPasskeysAsync(context, users, user, null, "No passkey was created by the browser.", StatusCodes.Status400BadRequest);
        }

        var attestation = await CeremonyAsync(() => signIn.PerformPasskeyAttestationAsync(credential));
        if (attestation is null)
        {
            return await RenderPasskeysAsync(context, users, user, null, "No passkey registration is underway in this browser; start again.", StatusCodes.Status400BadRequest);
        }

        if (!attestation.Succeeded || attestation.UserEntity?.Id != user.Id.ToString())
        {
            var reason = attestation.Failure?.Message ?? "it was made for another user";
            LogPasskeyRefused(Logger(context), "registration", reason);
            return await RenderPasskeysAsync(context, users, user, null, $"The passkey could not be verified ({reason}); nothing was added.", StatusCodes.Status400BadRequest);
        }

        var passkey = attestation.Passkey;
        passkey.Name = name;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var added = await users.AddOrUpdatePasskeyAsync(user, passkey);
        if (!added.Succeeded)
        {
            return await RenderPasskeysAsync(context, users, user, null, "The passkey could not be stored; nothing was added.", StatusCodes.Status409Conflict);
        }

        await audit.RecordAsync(AuditActions.PasskeyRegistered, AuditOutcome.Success, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken,
            details: new Dictionary<string, string> { ["name"] = name });

        // A passkey is a second factor too: the first one turns two-factor sign-in on, as setting up TOTP does, with
        // recovery codes shown once.
        IReadOnlyList<string> codes = [];
        if (!user.TwoFactorEnabled)
        {
            await users.SetTwoFactorEnabledAsync(user, true);
            codes = [.. await users.GenerateNewTwoFactorRecoveryCodesAsync(user, 10) ?? []];
            await audit.RecordAsync(AuditActions.MfaEnabled, AuditOutcome.Success, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken,
                resourceType: "user", resourceId: user.Id.ToString(), details: Method("passkey"));
        }

        await transaction.CommitAsync(cancellationToken);
        if (codes.Count > 0)
        {
            await signIn.RefreshSignInAsync(user);
        }

        return await RenderPasskeysAsync(context, users, user, $"Passkey \"{name}\" added.", null, StatusCodes.Status200OK, codes);
    }

    private static async Task<IResult> RemovePasskeyAsync(
        HttpContext context,
        [FromForm] IFormCollection data,
        UserManager<MislataUser> users,
        IdentityStoreDbContext db,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        if (await users.GetUserAsync(context.User) is not { } user)
        {
            return ToLogin(context);
        }

        byte[] id;
        try
        {
            id = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.DecodeBytes(data["id"].ToString());
        }
        catch (FormatException)
        {
            return await RenderPasskeysAsync(context, users, user, null, "No such passkey.", StatusCodes.Status400BadRequest);
        }

        // Only one of the user's own passkeys: another user's credential id is "no such passkey".
        if (await users.GetPasskeyAsync(user, id) is not { } passkey)
        {
            return await RenderPasskeysAsync(context, users, user, null, "No such passkey.", StatusCodes.Status404NotFound);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await users.RemovePasskeyAsync(user, id);
        await audit.RecordAsync(AuditActions.PasskeyRemoved, AuditOutcome.Success, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken,
            details: new Dictionary<string, string> { ["name"] = passkey.Name ?? "Passkey" });
        await transaction.CommitAsync(cancellationToken);
        return await RenderPasskeysAsync(context, users, user, $"Passkey \"{passkey.Name}\" removed.", null, StatusCodes.Status200OK);
    }

    /// <summary>The WebAuthn request options of a sign-in (any of the user's discoverable passkeys).</summary>
    private static async Task<IResult> PasskeyRequestOptionsAsync(HttpContext context, MislataSignInManager signIn, [FromForm] IFormCollection _)
    {
        var options = await signIn.MakePasskeyRequestOptionsAsync(null);
        context.Response.Headers.CacheControl = "no-store";
        return Results.Content(options, "application/json");
    }

    private static async Task<IResult> PasskeyLoginAsync(
        HttpContext context,
        [FromForm] IFormCollection data,
        MislataSignInManager signIn,
        IdentityStoreDbContext db,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        LogStep(Logger(context), "passkey-submit");
        var returnUrl = LocalReturnUrl.OrDefault(data["ReturnUrl"]);
        string credential = data["credential"].ToString();
        if (credential.Length is 0 or > CredentialJsonLength)
        {
            return RenderLogin(context, returnUrl, null, "No passkey was offered by the browser.", StatusCodes.Status400BadRequest);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var assertion = await CeremonyAsync(() => signIn.PerformPasskeyAssertionAsync(credential));
        if (assertion is not { Succeeded: true })
        {
            LogPasskeyRefused(Logger(context), "sign-in", assertion?.Failure?.Message ?? "no sign-in ceremony underway in this browser");
            await audit.RecordAsync(AuditActions.LoginFailed, AuditOutcome.Failure, AuditActorType.Anonymous, "anonymous", null, cancellationToken,
                errorCode: "unauthorized", details: Method("passkey"));
            await transaction.CommitAsync(cancellationToken);
            return RenderLogin(context, returnUrl, null, "The passkey was not accepted.", StatusCodes.Status401Unauthorized);
        }

        var user = assertion.User;
        var actor = user.Id.ToString();
        if (!await signIn.CanSignInAsync(user) || await signIn.UserManager.IsLockedOutAsync(user))
        {
            await audit.RecordAsync(AuditActions.LoginFailed, AuditOutcome.Denied, AuditActorType.User, actor, user.TenantId, cancellationToken,
                errorCode: "forbidden", details: Method("passkey"));
            await transaction.CommitAsync(cancellationToken);
            return RenderLogin(context, returnUrl, null, "This account cannot sign in now.", StatusCodes.Status401Unauthorized);
        }

        // The sign count and last use are stored, then the session begins (a passkey is possession plus user verification: no second step).
        await signIn.UserManager.AddOrUpdatePasskeyAsync(user, assertion.Passkey);
        await audit.RecordAsync(AuditActions.LoginSucceeded, AuditOutcome.Success, AuditActorType.User, actor, user.TenantId, cancellationToken, details: Method("passkey"));
        await transaction.CommitAsync(cancellationToken);
        await signIn.SignInWithClaimsAsync(user, isPersistent: false, SignInMethods.Claims(SignInMethods.ForPasskey));
        return Results.Redirect(returnUrl);
    }

    /// <summary>
    /// A ceremony's verification, or null when none was begun in this browser (Identity keeps the challenge in a cookie
    /// between the options and the answer, and throws when there is none: a replay or a post without the options).
    /// </summary>
    private static async Task<T?> CeremonyAsync<T>(Func<Task<T>> verify)
        where T : class
    {
        try
        {
            return await verify();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    [LoggerMessage(EventId = 230, Level = LogLevel.Information, Message = "Passkey {Ceremony} refused: {Reason}")]
    private static partial void LogPasskeyRefused(ILogger logger, string ceremony, string reason);

    /// <summary>The browser side: options → navigator.credentials → the credential's JSON posted in the form.</summary>
    private const string PasskeyJavaScript = """
        'use strict';
        (function () {
          async function run(button, create) {
            const form = button.closest('form');
            const error = document.getElementById('passkey-error') || Object.assign(document.createElement('p'), { id: 'passkey-error', className: 'error' });
            error.setAttribute('role', 'alert');
            error.textContent = '';
            try {
              if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON) {
                throw new Error('This browser does not support passkeys.');
              }
              const token = form.querySelector('input[name="__RequestVerificationToken"]').value;
              const body = new URLSearchParams({ __RequestVerificationToken: token });
              const response = await fetch(button.dataset.options, { method: 'POST', body, credentials: 'same-origin' });
              if (!response.ok) throw new Error('The server did not start the passkey ceremony (' + response.status + ').');
              const options = await response.json();
              const credential = create
                ? await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
                : await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
              form.querySelector('#passkey-credential').value = JSON.stringify(credential.toJSON());
              form.submit();
            } catch (e) {
              error.textContent = e && e.name === 'NotAllowedError' ? 'The passkey request was cancelled or timed out.' : (e && e.message) || 'The passkey request failed.';
              form.prepend(error);
            }
          }
          document.addEventListener('DOMContentLoaded', function () {
            const register = document.getElementById('passkey-register');
            if (register) register.addEventListener('click', function () { run(register, true); });
            const signIn = document.getElementById('passkey-sign-in');
            if (signIn) signIn.addEventListener('click', function () { run(signIn, false); });
          });
        })();
        """;
}
