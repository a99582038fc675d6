using Microsoft.AspNetCore;
using System.Collections.Immutable;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Primitives;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Identity.Features.Accounts;
using Mislata.Identity.Features.Auditing;
using Mislata.Infrastructure.Authentication;
using Mislata.Infrastructure.Identity;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static Mislata.Identity.Features.Accounts.Html;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Mislata.Identity.Features.Server;

/// <summary>The pass-through OpenIddict endpoints: authorize (with consent), token, userinfo and end-session.</summary>
internal static partial class AuthorizationEndpoints
{
    private const string OidcScheme = OpenIddictServerAspNetCoreDefaults.AuthenticationScheme;

    public static WebApplication MapAuthorizationServer(this WebApplication app)
    {
        app.MapGet("/connect/authorize", (HttpContext context, IServiceProvider services, CancellationToken ct) => AuthorizeAsync(context, services, null, ct));
        app.MapPost("/connect/authorize", (HttpContext context, [FromForm] IFormCollection form, IServiceProvider services, CancellationToken ct) => AuthorizeAsync(context, services, form["submit"].ToString(), ct));
        app.MapPost("/connect/token", TokenAsync);
        app.MapGet("/connect/verify", (HttpContext context, IServiceProvider services, CancellationToken ct) => VerifyAsync(context, services, null, ct));
        app.MapPost("/connect/verify", (HttpContext context, [FromForm] IFormCollection form, IServiceProvider services, CancellationToken ct) => VerifyAsync(context, services, form["submit"].ToString(), ct));
        app.MapGet("/connect/verify/done", VerifiedPage);
        app.MapMethods("/connect/userinfo", ["GET", "POST"], UserInfoAsync);
        app.MapGet("/connect/endsession", EndSessionPage);
        app.MapPost("/connect/endsession", EndSessionAsync);
        return app;
    }

    private static async Task<IResult> AuthorizeAsync(HttpContext context, IServiceProvider services, string? submit, CancellationToken cancellationToken)
    {
        var request = context.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("Not an OpenID Connect request.");
        var users = services.GetRequiredService<UserManager<MislataUser>>();
        var applications = services.GetRequiredService<IOpenIddictApplicationManager>();
        var authorizations = services.GetRequiredService<IOpenIddictAuthorizationManager>();
        var boundary = services.GetRequiredService<ApplicationBoundary>();
        LogStep(Logger(context), "authorize");

        var application = await applications.FindByClientIdAsync(request.ClientId!, cancellationToken)
            ?? throw new InvalidOperationException("The client was validated by OpenIddict but is gone.");
        var applicationId = (await applications.GetIdAsync(application, cancellationToken))!;

        // An application without an owner, or of a suspended tenant, signs nobody in: no login page for it either.
        var check = await boundary.CheckApplicationAsync(applicationId, cancellationToken);
        if (!check.Allowed)
        {
            return await RefuseAuthorizationAsync(context, check, request.ClientId!, null, cancellationToken);
        }

        var session = await context.AuthenticateAsync(SessionCookie.Scheme);
        var user = session.Succeeded ? await users.GetUserAsync(session.Principal!) : null;
        if (user is null || user.BlockedAt is not null || request.HasPromptValue(PromptValues.Login) ||
            (request.MaxAge is { } maxAge && session.Properties?.IssuedUtc is { } issued && DateTimeOffset.UtcNow - issued > TimeSpan.FromSeconds(maxAge)))
        {
            if (request.HasPromptValue(PromptValues.None))
            {
                return Forbid(Errors.LoginRequired, "The user is not signed in.");
            }

            // Back to this same request once signed in (without prompt=login, so it does not loop).
            return Results.Challenge(new AuthenticationProperties { RedirectUri = SameAuthorizationRequest(context) }, [SessionCookie.Scheme]);
        }

        // The tenant boundary: a tenant's application signs in only that tenant's users, and no suspended tenant's.
        check = await boundary.CheckUserAsync(check.Owner!, user.TenantId, cancellationToken);
        if (!check.Allowed)
        {
            return await RefuseAuthorizationAsync(context, check, request.ClientId!, user, cancellationToken);
        }

        // The application's MFA policy: a session without an allowed second factor steps up, or is refused.
        var amr = SignInMethods.Of(session.Principal);
        var policy = MfaPolicy.Of(await applications.GetSettingsAsync(application, cancellationToken));
        if (!policy.IsSatisfiedBy(amr))
        {
            return await StepUpOrRefuseAsync(context, policy, user, request.ClientId!, request.HasPromptValue(PromptValues.None), SameAuthorizationRequest(context), cancellationToken);
        }

        var subject = user.Id.ToString();
        var roles = await users.GetRolesAsync(user);
        var scopes = GrantableUserScopes(request.GetScopes(), roles, user);

        var existing = new List<object>();
        await foreach (var authorization in authorizations.FindAsync(subject, applicationId, Statuses.Valid, AuthorizationTypes.Permanent, scopes, cancellationToken))
        {
            existing.Add(authorization);
        }

        var consentType = await applications.GetConsentTypeAsync(application, cancellationToken);
        var needsConsent = consentType is ConsentTypes.Explicit or ConsentTypes.Systematic &&
            (existing.Count == 0 || consentType == ConsentTypes.Systematic || request.HasPromptValue(PromptValues.Consent));
        if (consentType == ConsentTypes.External && existing.Count == 0)
        {
            return Forbid(Errors.ConsentRequired, "This application is not authorized for this user.");
        }

        if (submit == "deny")
        {
            return Forbid(Errors.AccessDenied, "The user denied the authorization.");
        }

        if (needsConsent && submit != "accept")
        {
            if (request.HasPromptValue(PromptValues.None))
            {
                return Forbid(Errors.ConsentRequired, "Interactive consent is required.");
            }

            var name = await applications.GetLocalizedDisplayNameAsync(application, cancellationToken) ?? request.ClientId;
            return RenderConsent(context, name!, check.Owner!.Name, scopes);
        }

        var principal = await CreateUserPrincipalAsync(users, user, roles, scopes, request.ClientId!, amr);
        var authorizationEntry = existing.LastOrDefault() ?? await authorizations.CreateAsync(
            principal: principal,
            subject: subject,
            client: applicationId!,
            type: AuthorizationTypes.Permanent,
            scopes: principal.GetScopes(),
            cancellationToken: cancellationToken);
        principal.SetAuthorizationId(await authorizations.GetIdAsync(authorizationEntry, cancellationToken));
        return Results.SignIn(principal, authenticationScheme: OidcScheme);
    }

    /// <summary>
    /// The device flow's verification page (RFC 8628 §3.3): a signed-in user enters the code the device shows (or
    /// arrives with it in <c>verification_uri_complete</c>), sees which application asks for what, and allows or denies.
    /// The tenant boundary is the authorization endpoint's: a tenant's application is approved only by its tenant's
    /// users, never a suspended tenant's.
    /// </summary>
    private static async Task<IResult> VerifyAsync(HttpContext context, IServiceProvider services, string? submit, CancellationToken cancellationToken)
    {
        var users = services.GetRequiredService<UserManager<MislataUser>>();
        var applications = services.GetRequiredService<IOpenIddictApplicationManager>();
        var boundary = services.GetRequiredService<ApplicationBoundary>();
        LogStep(Logger(context), "verify");

        var session = await context.AuthenticateAsync(SessionCookie.Scheme);
        var user = session.Succeeded ? await users.GetUserAsync(session.Principal!) : null;
        if (user is null || user.BlockedAt is not null)
        {
            var returnUrl = context.Request.PathBase + context.Request.Path + (HttpMethods.IsGet(context.Request.Method) ? context.Request.QueryString : QueryString.Empty);
            return Results.Challenge(new AuthenticationProperties { RedirectUri = returnUrl }, [SessionCookie.Scheme]);
        }

        // OpenIddict has validated the user code, if one was given: its principal is the device authorization's.
        var request = context.GetOpenIddictServerRequest();
        var result = await context.AuthenticateAsync(OidcScheme);
        if (string.IsNullOrEmpty(request?.UserCode))
        {
            return CodeEntryPage(context, null);
        }

        if (!result.Succeeded || result.Principal?.GetClaim(Claims.ClientId) is not { } clientId)
        {
            return CodeEntryPage(context, "This code is not valid, was already used or has expired. Check the code your device shows.");
        }

        var application = await applications.FindByClientIdAsync(clientId, cancellationToken);
        var applicationId = application is null ? null : await applications.GetIdAsync(application, cancellationToken);
        if (applicationId is null)
        {
            return Results.Forbid(new AuthenticationProperties { RedirectUri = "/connect/verify/done?result=refused" }, [OidcScheme]);
        }

        var check = await boundary.CheckApplicationAsync(applicationId, cancellationToken);
        if (check.Allowed)
        {
            check = await boundary.CheckUserAsync(check.Owner!, user.TenantId, cancellationToken);
        }

        if (!check.Allowed)
        {
            LogAuthorizeRefused(Logger(context), clientId, check.Code);
            await services.GetRequiredService<IdentityAudit>().RecordAsync(
                AuditActions.AuthorizeRefused, AuditOutcome.Denied, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken,
                errorCode: Errors.AccessDenied, details: new Dictionary<string, string> { ["client_id"] = clientId, ["reason"] = check.Code, ["grant"] = GrantTypes.DeviceCode });
            return Results.Forbid(new AuthenticationProperties { RedirectUri = "/connect/verify/done?result=refused" }, [OidcScheme]);
        }

        var amr = SignInMethods.Of(session.Principal);
        var policy = MfaPolicy.Of(await applications.GetSettingsAsync(application!, cancellationToken));
        if (!policy.IsSatisfiedBy(amr))
        {
            var refused = await StepUpOrRefuseAsync(context, policy, user, clientId, promptNone: false,
                "/connect/verify?" + Parameters.UserCode + "=" + Uri.EscapeDataString(request.UserCode), cancellationToken);
            return refused is RedirectHttpResult
                ? refused
                : Results.Forbid(new AuthenticationProperties { RedirectUri = "/connect/verify/done?result=refused" }, [OidcScheme]);
        }

        var roles = await users.GetRolesAsync(user);
        var scopes = GrantableUserScopes(result.Principal.GetScopes(), roles, user);
        if (submit == "deny")
        {
            return Results.Forbid(new AuthenticationProperties { RedirectUri = "/connect/verify/done?result=denied" }, [OidcScheme]);
        }

        if (submit != "accept")
        {
            var name = await applications.GetLocalizedDisplayNameAsync(application!, cancellationToken) ?? clientId;
            var list = string.Concat(scopes.Select(s => $"<li><code>{E(s)}</code></li>"));
            var inner = $"""
                <p>Code <strong id="user-code">{E(request.UserCode)}</strong>: <strong id="application">{E(name)}</strong>, an application of
                <strong id="owner">{E(check.Owner!.Name)}</strong>, asks to act on your behalf on the device that shows this code, with these permissions:</p>
                <ul id="scopes">{list}</ul>
                <p>Allow only if you started this sign-in yourself, on a device you control.</p>
                {Hidden(Parameters.UserCode, request.UserCode)}
                <button type="submit" name="submit" value="accept">Allow</button>
                <button type="submit" name="submit" value="deny">Deny</button>
                """;
            return Page(context, "Sign in on a device", Form(context, "/connect/verify", inner));
        }

        var principal = await CreateUserPrincipalAsync(users, user, roles, scopes, clientId, amr);
        await services.GetRequiredService<IdentityAudit>().RecordAsync(AuditActions.TokenIssued, AuditOutcome.Success, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken,
            details: new Dictionary<string, string> { ["grant"] = GrantTypes.DeviceCode, ["client_id"] = clientId, ["step"] = "verified" });
        return Results.SignIn(principal, new AuthenticationProperties { RedirectUri = "/connect/verify/done?result=allowed" }, OidcScheme);
    }

    private static IResult CodeEntryPage(HttpContext context, string? error)
    {
        var inner = $"""
            {Error(error)}
            <label for="user_code">Code shown on your device</label>
            <input id="user_code" name="user_code" autocomplete="off" autocapitalize="characters" required>
            <button type="submit">Continue</button>
            """;
        return Page(context, "Sign in on a device", Form(context, "/connect/verify", inner),
            error is null ? StatusCodes.Status200OK : StatusCodes.Status400BadRequest);
    }

    private static IResult VerifiedPage(HttpContext context, string? result)
    {
        var (title, text) = result switch
        {
            "allowed" => ("Device signed in", "You can return to your device: it is signed in."),
            "denied" => ("Sign-in denied", "The device was not signed in."),
            _ => ("Sign-in refused", "This application cannot sign you in."),
        };
        return Page(context, title, $"""<p id="result" data-result="{E(result)}">{E(text)}</p>""");
    }

    /// <summary>
    /// 302 back to the client with <c>error=access_denied</c> (never a code). A refusal of a signed-in user is audited
    /// (it is what a cross-tenant attempt looks like); one before sign-in is only logged, so that anonymous requests
    /// cannot fill the audit trail.
    /// </summary>
    private static async Task<IResult> RefuseAuthorizationAsync(HttpContext context, BoundaryCheck check, string clientId, MislataUser? user, CancellationToken cancellationToken)
    {
        LogAuthorizeRefused(Logger(context), clientId, check.Code);
        if (user is not null)
        {
            await context.RequestServices.GetRequiredService<IdentityAudit>().RecordAsync(
                AuditActions.AuthorizeRefused, AuditOutcome.Denied, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken,
                errorCode: Errors.AccessDenied, details: new Dictionary<string, string> { ["client_id"] = clientId, ["reason"] = check.Code });
        }

        return Forbid(Errors.AccessDenied, check.Description);
    }

    /// <summary>This authorization request again (GET or POST), without prompt and the form's own fields, for a return after sign-in or step-up.</summary>
    private static string SameAuthorizationRequest(HttpContext context)
    {
        var parameters = context.Request.HasFormContentType ? context.Request.Form.ToList() : [.. context.Request.Query];
        parameters.RemoveAll(p => p.Key is Parameters.Prompt or "__RequestVerificationToken" or "submit");
        return context.Request.PathBase + context.Request.Path + QueryString.Create(parameters);
    }

    /// <summary>
    /// A session that lacks the second factor the application requires. With a factor the policy allows enrolled, the
    /// user goes through the second step (<c>/account/mfa</c>) and back to <paramref name="returnUrl"/>; without one,
    /// or with <c>prompt=none</c>, the client gets an error and no code: <c>access_denied</c> (RFC 6749 §4.1.2.1: the
    /// server refuses this user for this application) or <c>interaction_required</c> (OIDC Core §3.1.2.6: a second
    /// factor would do, but the client asked for no interaction).
    /// </summary>
    private static async Task<IResult> StepUpOrRefuseAsync(
        HttpContext context, MfaPolicy policy, MislataUser user, string clientId, bool promptNone, string returnUrl, CancellationToken cancellationToken)
    {
        var signIn = context.RequestServices.GetRequiredService<MislataSignInManager>();
        var enrolled = await signIn.EnrolledMethodsAsync(user);
        var usable = policy.Methods.Intersect(enrolled, StringComparer.Ordinal).Any();
        if (usable && !promptNone)
        {
            LogStep(Logger(context), "mfa-step-up");
            await signIn.BeginStepUpAsync(user);
            return Results.Redirect("/account/mfa?ReturnUrl=" + Uri.EscapeDataString(returnUrl));
        }

        var error = usable ? Errors.InteractionRequired : Errors.AccessDenied;
        LogAuthorizeRefused(Logger(context), clientId, "mfa_required");
        await context.RequestServices.GetRequiredService<IdentityAudit>().RecordAsync(
            AuditActions.AuthorizeRefused, AuditOutcome.Denied, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken,
            errorCode: error, details: new Dictionary<string, string> { ["client_id"] = clientId, ["reason"] = usable ? "mfa_required" : "mfa_not_enrolled" });
        return Forbid(error, usable
            ? "This application requires a second factor: sign in interactively."
            : $"This application requires a second factor ({string.Join(" or ", policy.Methods)}) that this user has not set up.");
    }

    /// <summary>The consent page names the application and who owns it (a tenant, by name, or the platform).</summary>
    private static IResult RenderConsent(HttpContext context, string applicationName, string ownerName, ImmutableArray<string> scopes)
    {
        LogStep(Logger(context), "consent-page");
        var source = context.Request.HasFormContentType ? context.Request.Form.ToList() : [.. context.Request.Query];
        var hidden = string.Concat(source
            .Where(p => p.Key is not ("__RequestVerificationToken" or "submit"))
            .SelectMany(p => p.Value.Select(v => Hidden(p.Key, v))));
        var list = string.Concat(scopes.Select(s => $"<li><code>{E(s)}</code></li>"));
        var inner = $"""
            <p><strong id="application">{E(applicationName)}</strong>, an application of <strong id="owner">{E(ownerName)}</strong>, asks to act on your behalf with these permissions:</p>
            <ul id="scopes">{list}</ul>
            {hidden}
            <button type="submit" name="submit" value="accept">Allow</button>
            <button type="submit" name="submit" value="deny">Deny</button>
            """;
        return Page(context, "Authorize " + applicationName, Form(context, "/connect/authorize", inner));
    }

    private static async Task<IResult> TokenAsync(HttpContext context, IServiceProvider services, CancellationToken cancellationToken)
    {
        var request = context.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("Not an OpenID Connect request.");
        var audit = services.GetRequiredService<IdentityAudit>();
        LogStep(Logger(context), "token");

        if (request.IsClientCredentialsGrantType())
        {
            var applications = services.GetRequiredService<IOpenIddictApplicationManager>();
            var application = await applications.FindByClientIdAsync(request.ClientId!, cancellationToken)
                ?? throw new InvalidOperationException("The client was validated by OpenIddict but is gone.");
            var check = await services.GetRequiredService<ApplicationBoundary>()
                .CheckApplicationAsync((await applications.GetIdAsync(application, cancellationToken))!, cancellationToken);
            if (!check.Allowed)
            {
                // No owner (never a platform application) or no longer an owner: not a client of this server. A
                // suspended tenant's client is still known, but not allowed a token.
                var error = check.Refusal == BoundaryRefusal.OwnerSuspended ? Errors.UnauthorizedClient : Errors.InvalidClient;
                await audit.RecordAsync(AuditActions.TokenRefused, AuditOutcome.Denied, AuditActorType.Client, request.ClientId!, check.Owner?.TenantId, cancellationToken,
                    errorCode: error, details: new Dictionary<string, string> { ["grant"] = GrantTypes.ClientCredentials, ["reason"] = check.Code });
                return Forbid(error, check.Description);
            }

            // What the client was permitted, within what its owner may hold (the api honours exactly these).
            var owner = check.Owner!;
            var allowed = TokenScopes.ForClient(PermittedScopes(await applications.GetPermissionsAsync(application, cancellationToken)), owner.TenantId);
            var requested = request.GetScopes();
            var scopes = requested.IsEmpty ? [.. allowed.Order(StringComparer.Ordinal)] : requested.Where(allowed.Contains).Distinct(StringComparer.Ordinal).ToList();

            var identity = NewIdentity();
            identity.SetClaim(Claims.Subject, request.ClientId);
            identity.SetClaim(Claims.ClientId, request.ClientId);
            if (owner.TenantId is { } tenantId)
            {
                identity.SetClaim(ClaimNames.TenantId, tenantId.ToString());
            }
            else
            {
                // A platform application (the operator client): an operator, with no tenant.
                identity.SetClaims(Claims.Role, [Roles.PlatformAdmin]);
            }

            identity.SetScopes(scopes);
            identity.SetResources(IdentityServerSetup.ApiAudience);
            identity.SetDestinations(Destinations);
            await audit.RecordAsync(AuditActions.TokenIssued, AuditOutcome.Success, AuditActorType.Client, request.ClientId!, owner.TenantId, cancellationToken,
                details: new Dictionary<string, string> { ["grant"] = GrantTypes.ClientCredentials, ["scope"] = string.Join(' ', scopes) });
            return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OidcScheme);
        }

        if (request.IsAuthorizationCodeGrantType() || request.IsRefreshTokenGrantType() || request.IsDeviceCodeGrantType())
        {
            var users = services.GetRequiredService<UserManager<MislataUser>>();
            var result = await context.AuthenticateAsync(OidcScheme);
            var subject = result.Principal?.GetClaim(Claims.Subject);
            var user = subject is null ? null : await users.FindByIdAsync(subject);
            // A lockout guards the password, not tokens already issued: refusing refresh here would let anyone log
            // a user out by guessing wrong passwords. Blocking (an administrator's decision) does end them.
            if (user is null || user.BlockedAt is not null)
            {
                await audit.RecordAsync(AuditActions.TokenRefused, AuditOutcome.Denied, AuditActorType.User, subject ?? "unknown", user?.TenantId, cancellationToken,
                    errorCode: "invalid_grant", details: new Dictionary<string, string> { ["grant"] = request.GrantType! });
                return Forbid(Errors.InvalidGrant, "The user is no longer allowed to sign in.");
            }

            // The tenant boundary again: the application's owner or a tenant's status may have changed since authorize.
            var applications = services.GetRequiredService<IOpenIddictApplicationManager>();
            var application = await applications.FindByClientIdAsync(request.ClientId!, cancellationToken)
                ?? throw new InvalidOperationException("The client was validated by OpenIddict but is gone.");
            var check = await services.GetRequiredService<ApplicationBoundary>()
                .CheckUserAsync((await applications.GetIdAsync(application, cancellationToken))!, user.TenantId, cancellationToken);
            if (!check.Allowed)
            {
                await audit.RecordAsync(AuditActions.TokenRefused, AuditOutcome.Denied, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken,
                    errorCode: Errors.InvalidGrant, details: new Dictionary<string, string> { ["grant"] = request.GrantType!, ["client_id"] = request.ClientId!, ["reason"] = check.Code });
                return Forbid(Errors.InvalidGrant, check.Description);
            }

            // The MFA policy may have been switched on since: a code or refresh token of a session without the second
            // factor it now requires gets no new token.
            var amr = SignInMethods.Of(result.Principal);
            if (!MfaPolicy.Of(await applications.GetSettingsAsync(application, cancellationToken)).IsSatisfiedBy(amr))
            {
                await audit.RecordAsync(AuditActions.TokenRefused, AuditOutcome.Denied, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken,
                    errorCode: Errors.InvalidGrant, details: new Dictionary<string, string> { ["grant"] = request.GrantType!, ["client_id"] = request.ClientId!, ["reason"] = "mfa_required" });
                return Forbid(Errors.InvalidGrant, "This application requires a second factor that this sign-in did not use: sign in again.");
            }

            // Roles and the application's scopes may have changed since the code or refresh token was issued:
            // re-derive, never widen.
            var roles = await users.GetRolesAsync(user);
            var permitted = await applications.GetPermissionsAsync(application, cancellationToken);
            var scopes = GrantableUserScopes(result.Principal!.GetScopes(), roles, user)
                .Where(s => s is OpenIddictConstants.Scopes.OpenId or OpenIddictConstants.Scopes.OfflineAccess || permitted.Contains(Permissions.Prefixes.Scope + s, StringComparer.Ordinal))
                .ToImmutableArray();
            var principal = await CreateUserPrincipalAsync(users, user, roles, scopes, request.ClientId!, amr);
            principal.SetAuthorizationId(result.Principal!.GetAuthorizationId());
            await audit.RecordAsync(AuditActions.TokenIssued, AuditOutcome.Success, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken,
                details: new Dictionary<string, string> { ["grant"] = request.GrantType!, ["client_id"] = request.ClientId ?? string.Empty });
            return Results.SignIn(principal, authenticationScheme: OidcScheme);
        }

        return Forbid(Errors.UnsupportedGrantType, "The grant type is not supported.");
    }

    private static async Task<IResult> UserInfoAsync(HttpContext context, UserManager<MislataUser> users)
    {
        var result = await context.AuthenticateAsync(OidcScheme);
        var subject = result.Principal?.GetClaim(Claims.Subject);
        var user = subject is null ? null : await users.FindByIdAsync(subject);
        if (user is null || user.BlockedAt is not null)
        {
            return Results.Challenge(
                new AuthenticationProperties(new Dictionary<string, string?>
                {
                    [OpenIddictServerAspNetCoreConstants.Properties.Error] = Errors.InvalidToken,
                    [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = "The token is no longer valid.",
                }),
                [OidcScheme]);
        }

        var claims = new Dictionary<string, object>(StringComparer.Ordinal) { [Claims.Subject] = user.Id.ToString() };
        if (result.Principal!.HasScope(OpenIddictConstants.Scopes.Email))
        {
            claims[Claims.Email] = user.Email!;
            claims[Claims.EmailVerified] = user.EmailConfirmed;
        }

        if (result.Principal!.HasScope(OpenIddictConstants.Scopes.Profile))
        {
            claims[Claims.Name] = user.Email!;
        }

        if (user.TenantId is { } tenantId)
        {
            claims[ClaimNames.TenantId] = tenantId.ToString();
        }

        if (user.PartnerId is { } partnerId)
        {
            claims[ClaimNames.PartnerId] = partnerId.ToString();
        }

        claims[Claims.Role] = (await users.GetRolesAsync(user)).ToArray();
        return Results.Ok(claims);
    }

    private static IResult EndSessionPage(HttpContext context)
    {
        LogStep(Logger(context), "endsession-page");
        var hidden = string.Concat(context.Request.Query.SelectMany(p => p.Value.Select(v => Hidden(p.Key, v))));
        var inner = $"""<p>Sign out of Mislata?</p>{hidden}<button type="submit">Sign out</button>""";
        return Page(context, "Sign out", Form(context, "/connect/endsession", inner));
    }

    private static async Task<IResult> EndSessionAsync(
        HttpContext context,
        [FromForm] IFormCollection form,
        SignInManager<MislataUser> signIn,
        UserManager<MislataUser> users,
        IdentityAudit audit,
        CancellationToken cancellationToken)
    {
        LogStep(Logger(context), "endsession");
        var user = await users.GetUserAsync(context.User);
        await signIn.SignOutAsync();
        if (user is not null)
        {
            await audit.RecordAsync(AuditActions.Logout, AuditOutcome.Success, AuditActorType.User, user.Id.ToString(), user.TenantId, cancellationToken);
        }

        // OpenIddict redirects to the validated post_logout_redirect_uri, or to "/" when there is none.
        return Results.SignOut(new AuthenticationProperties { RedirectUri = "/account" }, [OidcScheme]);
    }

    /// <summary>What a user may get: the OIDC scopes plus the API scopes of their roles in their binding (<see cref="TokenScopes"/>), intersected with the request.</summary>
    internal static ImmutableArray<string> GrantableUserScopes(ImmutableArray<string> requested, IEnumerable<string> roles, MislataUser user)
    {
        var allowed = new HashSet<string>(IdentityServerSetup.OidcScopes, StringComparer.Ordinal) { OpenIddictConstants.Scopes.Roles };
        allowed.UnionWith(TokenScopes.ForUser(roles, user.TenantId, user.PartnerId));
        return [.. requested.Where(allowed.Contains).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The API scopes an application's permissions name (<c>scp:…</c>).</summary>
    private static IEnumerable<string> PermittedScopes(ImmutableArray<string> permissions) =>
        permissions
            .Where(p => p.StartsWith(Permissions.Prefixes.Scope, StringComparison.Ordinal))
            .Select(p => p[Permissions.Prefixes.Scope.Length..])
            .Where(Mislata.Core.Access.Scopes.IsKnown);

    private static async Task<ClaimsPrincipal> CreateUserPrincipalAsync(
        UserManager<MislataUser> users, MislataUser user, IList<string> roles, ImmutableArray<string> scopes, string clientId, IReadOnlyList<string> amr)
    {
        var identity = NewIdentity();
        identity.SetClaim(Claims.Subject, user.Id.ToString());
        identity.SetClaim(Claims.Email, await users.GetEmailAsync(user));
        identity.SetClaim(Claims.Name, await users.GetUserNameAsync(user));
        identity.SetClaim(Claims.ClientId, clientId);
        if (user.TenantId is { } tenantId)
        {
            identity.SetClaim(ClaimNames.TenantId, tenantId.ToString());
        }

        if (user.PartnerId is { } partnerId)
        {
            identity.SetClaim(ClaimNames.PartnerId, partnerId.ToString());
        }

        identity.SetClaims(Claims.Role, [.. roles]);
        if (amr.Count > 0)
        {
            // Always a JSON array (OIDC Core §2), even with one value: RFC 8176 values of how the session signed in.
            identity.AddClaim(new Claim(Claims.AuthenticationMethodReference, JsonSerializer.Serialize(amr), JsonClaimValueTypes.JsonArray));
        }

        identity.SetScopes(scopes);
        identity.SetResources(IdentityServerSetup.ApiAudience);
        identity.SetDestinations(Destinations);
        return new ClaimsPrincipal(identity);
    }

    private static ClaimsIdentity NewIdentity() => new(OidcScheme, Claims.Name, Claims.Role);

    private static IEnumerable<string> Destinations(Claim claim) => claim.Type switch
    {
        Claims.Subject => [OpenIddictConstants.Destinations.AccessToken, OpenIddictConstants.Destinations.IdentityToken],
        Claims.Role or ClaimNames.TenantId or ClaimNames.PartnerId => [OpenIddictConstants.Destinations.AccessToken, OpenIddictConstants.Destinations.IdentityToken],
        Claims.ClientId => [OpenIddictConstants.Destinations.AccessToken],
        Claims.AuthenticationMethodReference => [OpenIddictConstants.Destinations.IdentityToken],
        Claims.Email when claim.Subject?.HasScope(OpenIddictConstants.Scopes.Email) == true => [OpenIddictConstants.Destinations.IdentityToken],
        Claims.Name when claim.Subject?.HasScope(OpenIddictConstants.Scopes.Profile) == true => [OpenIddictConstants.Destinations.IdentityToken],
        _ => [],
    };

    private static IResult Forbid(string error, string description) => Results.Forbid(
        new AuthenticationProperties(new Dictionary<string, string?>
        {
            [OpenIddictServerAspNetCoreConstants.Properties.Error] = error,
            [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = description,
        }),
        [OidcScheme]);

    private static ILogger Logger(HttpContext context) => context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Mislata.Identity.Server");

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "Account step {Step}")]
    private static partial void LogStep(ILogger logger, string step);

    [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "Authorization refused for client {ClientId}: {Reason}")]
    private static partial void LogAuthorizeRefused(ILogger logger, string clientId, string reason);
}
