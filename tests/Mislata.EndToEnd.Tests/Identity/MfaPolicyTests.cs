using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;
using OtpNet;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// Issue 17, passkeys as the second factor, separate lockout counters and the per-application MFA policy, through the
/// gateway: a password and a passkey sign in; another user's credential, a replayed challenge and a flipped signature
/// are refused and counted; each counter locks at its exact threshold without touching the other; an application with
/// <c>mfaRequired</c> gives a password-only session no code, steps it up, and its ID token then carries the amr.
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class MfaPolicyTests(IdentityFixture fixture)
{
    /// <summary>The defaults of the <c>Lockout</c> section (the e2e stack sets none).</summary>
    private const int PasswordThreshold = 10;

    private const int SecondFactorThreshold = 5;

    private readonly MislataStack _stack = fixture.Stack;

    private string Origin => _stack.Gateway.BaseAddress.GetLeftPart(UriPartial.Authority);

    [Fact]
    public async Task A_password_and_a_passkey_sign_in_and_another_users_credential_a_replay_and_a_flipped_signature_are_refused_and_counted()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (email, password, userId) = await UserAsync(op, tenant, "pk2fa");
        using var authenticator = new SoftwareAuthenticator { Origin = Origin };
        var codes = await RegisterPasskeyAsync(email, password, authenticator);
        Assert.Equal(10, codes.Length);
        Assert.True(await ScalarAsync($"SELECT CASE WHEN \"TwoFactorEnabled\" THEN 1 ELSE 0 END FROM identity.\"AspNetUsers\" WHERE \"Id\" = '{userId}'") == 1);

        // Another user's passkey, to offer to this user's second step.
        var (otherEmail, otherPassword, _) = await UserAsync(op, tenant, "pk2fa-other");
        using var stranger = new SoftwareAuthenticator { Origin = Origin };
        await RegisterPasskeyAsync(otherEmail, otherPassword, stranger);

        using var browser = new Browser(_stack);
        var mfa = await PasswordStepAsync(browser, email, password, "/account");
        Assert.NotNull(mfa.Document.QuerySelector("form[action='/account/mfa/passkey'] #passkey-sign-in"));
        Assert.NotNull(mfa.Document.QuerySelector("script[src='/account/passkey.js']"));

        // The options name this user's passkey only.
        var options = await MfaOptionsAsync(browser, mfa);
        using (var parsed = JsonDocument.Parse(options))
        {
            var allowed = parsed.RootElement.GetProperty("allowCredentials").EnumerateArray().Select(c => c.GetProperty("id").GetString()).ToList();
            Assert.Equal([Base64UrlEncoder.Encode(authenticator.CredentialId)], allowed);
        }

        var refused = await SubmitPasskeyAsync(browser, mfa, stranger.Get(options));
        AssertRefused(refused, "The passkey was not accepted.");
        Assert.Equal(1, await SecondFactorFailuresAsync(userId));

        options = await MfaOptionsAsync(browser, mfa);
        var genuine = authenticator.Get(options);
        refused = await SubmitPasskeyAsync(browser, mfa, FlipSignature(genuine));
        AssertRefused(refused, "The passkey was not accepted.");
        Assert.Equal(2, await SecondFactorFailuresAsync(userId));

        // The genuine answer to the challenge the flipped one used up: a replay, refused.
        refused = await SubmitPasskeyAsync(browser, mfa, genuine);
        AssertRefused(refused, "The passkey was not accepted.");
        Assert.Equal(3, await SecondFactorFailuresAsync(userId));
        Assert.Equal(0, await ScalarAsync($"SELECT \"AccessFailedCount\" FROM identity.\"AspNetUsers\" WHERE \"Id\" = '{userId}'"));

        options = await MfaOptionsAsync(browser, mfa);
        var accepted = await SubmitPasskeyAsync(browser, mfa, authenticator.Get(options));
        Assert.True(accepted.Status == HttpStatusCode.Redirect, $"{(int)accepted.Status} {accepted.Body}");
        Assert.Equal("/account", accepted.Location!.AbsolutePath);
        Assert.Equal(email, (await browser.FollowAsync(accepted)).Document.QuerySelector("#user")?.TextContent);
        Assert.Equal(0, await SecondFactorFailuresAsync(userId));
        Assert.Equal(1, await ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE action = 'auth.mfa.succeeded' AND actor_id = '{userId}' AND details->>'method' = 'passkey'"));
        Assert.Equal(3, await ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE action = 'auth.mfa.failed' AND actor_id = '{userId}' AND details->>'method' = 'passkey'"));
    }

    [Fact]
    public async Task A_passkey_user_can_add_an_authenticator_which_counts_only_once_confirmed()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (email, password, userId) = await UserAsync(op, tenant, "pk-then-totp");
        using var authenticator = new SoftwareAuthenticator { Origin = Origin };
        await RegisterPasskeyAsync(email, password, authenticator);

        using var browser = new Browser(_stack);
        var mfa = await PasswordStepAsync(browser, email, password, "/account/mfa/setup");
        var setup = await browser.FollowAsync(await SubmitPasskeyAsync(browser, mfa, authenticator.Get(await MfaOptionsAsync(browser, mfa))));
        // Two-factor is on (the passkey), yet no authenticator yet: the set-up page offers one.
        var secret = setup.Document.QuerySelector("#secret")?.TextContent;
        Assert.False(string.IsNullOrEmpty(secret), setup.Body);
        var totp = new Totp(Base32Encoding.ToBytes(secret));

        // Not confirmed: a code of that key is no second factor (and counts as a failure).
        using (var other = new Browser(_stack))
        {
            var pending = await PasswordStepAsync(other, email, password, "/account");
            AssertRefused(await other.SubmitAsync(pending, new Dictionary<string, string> { ["code"] = totp.ComputeTotp(DateTime.UtcNow.AddSeconds(-30)) }), "The code is not valid.");
        }

        Assert.Equal(1, await SecondFactorFailuresAsync(userId));
        var on = await browser.SubmitAsync(setup, new Dictionary<string, string> { ["code"] = totp.ComputeTotp() });
        Assert.True(on.Status == HttpStatusCode.OK, $"{(int)on.Status} {on.Body}");
        Assert.Equal("Two-factor authentication is on.", on.Document.QuerySelector("#mfa-status")?.TextContent);

        using (var other = new Browser(_stack))
        {
            var pending = await PasswordStepAsync(other, email, password, "/account");
            var accepted = await other.SubmitAsync(pending, new Dictionary<string, string> { ["code"] = totp.ComputeTotp(DateTime.UtcNow.AddSeconds(30)) });
            Assert.True(accepted.Status == HttpStatusCode.Redirect, $"{(int)accepted.Status} {accepted.Body}");
        }

        Assert.Contains("is on", (await browser.NavigateAsync("/account/mfa/setup")).Document.QuerySelector("#mfa-status")?.TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Password_and_second_factor_counters_lock_at_their_own_thresholds_and_do_not_reset_each_other()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (email, password, userId) = await UserAsync(op, tenant, "counters");
        var (secret, _) = await AccountsKit.SetUpMfaAsync(_stack, email, password);
        var wrongCode = WrongTotp(secret);

        // Passwords: threshold − 1 wrong ones do not lock; the right one then resets the password counter only.
        using (var guesser = new Browser(_stack))
        {
            for (var i = 1; i < PasswordThreshold; i++)
            {
                var wrong = await guesser.SubmitAsync(await guesser.NavigateAsync("/account/login"), new Dictionary<string, string> { ["email"] = email, ["password"] = password + "x" });
                Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
                Assert.Equal("Invalid email or password.", wrong.Document.QuerySelector("#error")?.TextContent);
            }
        }

        Assert.Equal(PasswordThreshold - 1, await PasswordFailuresAsync(userId));

        // Second factors: two wrong codes in one browser, then the right password again elsewhere: the count goes on.
        using (var first = new Browser(_stack))
        {
            var mfa = await PasswordStepAsync(first, email, password, "/account");
            Assert.Equal(0, await PasswordFailuresAsync(userId));
            for (var i = 1; i <= 2; i++)
            {
                AssertRefused(await first.SubmitAsync(mfa, new Dictionary<string, string> { ["code"] = wrongCode }), "The code is not valid.");
            }
        }

        Assert.Equal(2, await SecondFactorFailuresAsync(userId));
        Assert.Equal(0, await PasswordFailuresAsync(userId));

        using (var second = new Browser(_stack))
        {
            var mfa = await PasswordStepAsync(second, email, password, "/account");
            Assert.Equal(2, await SecondFactorFailuresAsync(userId));
            for (var i = 3; i < SecondFactorThreshold; i++)
            {
                AssertRefused(await second.SubmitAsync(mfa, new Dictionary<string, string> { ["code"] = wrongCode }), "The code is not valid.");
            }

            Assert.Equal(SecondFactorThreshold - 1, await SecondFactorFailuresAsync(userId));
            var locked = await second.SubmitAsync(mfa, new Dictionary<string, string> { ["code"] = wrongCode });
            AssertRefused(locked, "Two-factor sign-in is locked after too many failed attempts. Try again later.");

            // Locked: even the right code is refused now.
            var right = await second.SubmitAsync(mfa, new Dictionary<string, string> { ["code"] = new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp(DateTime.UtcNow.AddSeconds(30)) });
            AssertRefused(right, "Two-factor sign-in is locked after too many failed attempts. Try again later.");
        }

        Assert.Equal(0, await PasswordFailuresAsync(userId));
        Assert.Equal(1, await ScalarAsync($"SELECT count(*) FROM identity.\"AspNetUsers\" WHERE \"Id\" = '{userId}' AND \"SecondFactorLockoutEnd\" > now() AND (\"LockoutEnd\" IS NULL OR \"LockoutEnd\" < now())"));
        var (_, status, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, $"/api/v1/users/{userId}", op);
        Assert.Equal("locked", status.GetProperty("status").GetString());

        // With the second factor locked, the login page answers the same to the right and to a wrong password (which still counts).
        using (var third = new Browser(_stack))
        {
            var rightPassword = await third.SubmitAsync(await third.NavigateAsync("/account/login"), new Dictionary<string, string> { ["email"] = email, ["password"] = password });
            var wrongPassword = await third.SubmitAsync(await third.NavigateAsync("/account/login"), new Dictionary<string, string> { ["email"] = email, ["password"] = password + "x" });
            Assert.Equal(HttpStatusCode.Unauthorized, rightPassword.Status);
            Assert.Equal(rightPassword.Status, wrongPassword.Status);
            Assert.Equal(rightPassword.Document.QuerySelector("#error")?.TextContent, wrongPassword.Document.QuerySelector("#error")?.TextContent);
            Assert.Contains("locked", rightPassword.Document.QuerySelector("#error")?.TextContent, StringComparison.Ordinal);
        }

        Assert.Equal(1, await PasswordFailuresAsync(userId));

        // An administrator's MFA reset clears the second-factor lockout with the factor.
        var (reset, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/users/{userId}/reset-mfa", op);
        Assert.Equal(HttpStatusCode.OK, reset);
        Assert.Equal(0, await ScalarAsync($"SELECT count(*) FROM identity.\"AspNetUsers\" WHERE \"Id\" = '{userId}' AND \"SecondFactorLockoutEnd\" IS NOT NULL"));
    }

    [Fact]
    public async Task An_mfa_required_application_gives_a_password_session_no_code_steps_it_up_and_its_id_token_carries_amr()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (created, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, new
        {
            name = "MFA app", type = "public", redirectUris = new[] { Oidc.RedirectUri }, scopes = new[] { "openid", "profile" }, tenantId = tenant,
            consentType = "implicit", mfaRequired = true,
        });
        Assert.True(created == HttpStatusCode.Created, app.ToString());
        var clientId = app.GetProperty("clientId").GetString()!;
        var appId = app.GetProperty("id").GetString()!;
        var (_, shown, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, $"/api/v1/applications/{appId}", op);
        Assert.True(shown.GetProperty("mfaRequired").GetBoolean());
        Assert.Equal(["totp", "passkey"], shown.GetProperty("mfaMethods").EnumerateArray().Select(m => m.GetString()));

        // No factor enrolled: refused, no code.
        var (email, password, _) = await UserAsync(op, tenant, "policy");
        using (var browser = new Browser(_stack))
        {
            await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
            CodeFlow.AssertDeniedWithoutCode(await CodeFlow.AuthorizeOnceAsync(browser, clientId, "openid profile"));
        }

        // Signed in with the password, then TOTP set up in the same session: still a password-only session.
        string recoveryCode;
        using (var browser = new Browser(_stack))
        {
            var setup = await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/mfa/setup"), email, password);
            var secret = setup.Document.QuerySelector("#secret")!.TextContent;
            var on = await browser.SubmitAsync(setup, new Dictionary<string, string> { ["code"] = new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp() });
            Assert.True(on.Status == HttpStatusCode.OK, $"{(int)on.Status} {on.Body}");
            recoveryCode = on.Document.QuerySelector("#recovery-codes li")!.TextContent.Trim();

            // prompt=none cannot step up: interaction_required, no code.
            var (verifier, challenge) = Oidc.Pkce();
            var state = TestEnvironment.RandomToken(8);
            var silent = await browser.NavigateAsync(Oidc.AuthorizeUrl(clientId, "openid profile", challenge, state) + "&prompt=none");
            Assert.True(silent.Location?.ToString().StartsWith(Oidc.RedirectUri, StringComparison.Ordinal) == true, $"{(int)silent.Status} {silent.Location} {silent.Body}");
            Assert.Null(Oidc.Query(silent.Location!, "code"));
            Assert.Equal("interaction_required", Oidc.Query(silent.Location!, "error"));

            // Interactive: the second step, then back to the authorization request, which now gives a code.
            var stepUp = await browser.NavigateAsync(Oidc.AuthorizeUrl(clientId, "openid profile", challenge, state));
            Assert.Null(stepUp.Location);
            Assert.Contains("Two-factor", stepUp.Document.Title ?? string.Empty, StringComparison.Ordinal);
            var afterMfa = await browser.SubmitAsync(stepUp, new Dictionary<string, string> { ["code"] = new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp(DateTime.UtcNow.AddSeconds(30)) });
            Assert.True(afterMfa.Status == HttpStatusCode.Redirect, $"{(int)afterMfa.Status} {afterMfa.Body}");
            var back = await browser.FollowAsync(afterMfa);
            Assert.True(back.Location?.ToString().StartsWith(Oidc.RedirectUri, StringComparison.Ordinal) == true, $"{(int)back.Status} {back.Location} {back.Body}");
            Assert.Equal(state, Oidc.Query(back.Location!, "state"));
            var code = Oidc.Query(back.Location!, "code");
            Assert.False(string.IsNullOrEmpty(code), back.Location!.ToString());

            var (redeemed, tokens) = await Oidc.RedeemAsync(_stack, clientId, code!, verifier);
            Assert.True(redeemed == HttpStatusCode.OK, tokens.ToString());
            var idToken = tokens.GetProperty("id_token").GetString()!;
            using var payload = JsonDocument.Parse(Base64UrlEncoder.Decode(idToken.Split('.')[1]));
            var amr = payload.RootElement.GetProperty("amr");
            Assert.Equal(JsonValueKind.Array, amr.ValueKind);
            Assert.Equal(["mfa", "otp", "pwd"], amr.EnumerateArray().Select(v => v.GetString()!).Order(StringComparer.Ordinal));
        }

        // An application allowing passkeys only: a TOTP session does not satisfy it, and the user has no passkey.
        var (patched, patchedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Patch, $"/api/v1/applications/{appId}", op, new { mfaMethods = new[] { "passkey" } });
        Assert.True(patched == HttpStatusCode.OK, patchedBody.ToString());
        Assert.Equal(["passkey"], patchedBody.GetProperty("mfaMethods").EnumerateArray().Select(m => m.GetString()));
        Assert.True(patchedBody.GetProperty("mfaRequired").GetBoolean());
        using (var browser = new Browser(_stack))
        {
            // A recovery code is a one-time code (method totp), like the authenticator's.
            var mfa = await PasswordStepAsync(browser, email, password, "/account");
            var done = await browser.SubmitAsync(mfa, new Dictionary<string, string> { ["code"] = recoveryCode });
            Assert.True(done.Status == HttpStatusCode.Redirect, $"{(int)done.Status} {done.Body}");
            CodeFlow.AssertDeniedWithoutCode(await CodeFlow.AuthorizeOnceAsync(browser, clientId, "openid profile"));
        }
    }

    [Fact]
    public async Task The_policy_fields_are_validated_and_only_the_owning_tenant_with_the_write_scope_changes_them()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenantA = await Oidc.CreateTenantAsync(_stack, op);
        var tenantB = await Oidc.CreateTenantAsync(_stack, op);
        var (unknown, unknownBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, new
        {
            name = "bad", type = "public", redirectUris = new[] { Oidc.RedirectUri }, scopes = new[] { "openid" }, tenantId = tenantA, mfaRequired = true, mfaMethods = new[] { "sms" },
        });
        Assert.Equal(HttpStatusCode.BadRequest, unknown);
        Assert.Equal("validation_failed", unknownBody.GetProperty("error").GetString());
        Assert.True(unknownBody.GetProperty("errors").TryGetProperty("mfaMethods", out _), unknownBody.ToString());

        var (created, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, new
        {
            name = "A app", type = "public", redirectUris = new[] { Oidc.RedirectUri }, scopes = new[] { "openid" }, tenantId = tenantA,
        });
        Assert.Equal(HttpStatusCode.Created, created);
        var appId = app.GetProperty("id").GetString()!;
        var (_, defaults, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, $"/api/v1/applications/{appId}", op);
        Assert.False(defaults.GetProperty("mfaRequired").GetBoolean());
        Assert.Equal(["totp", "passkey"], defaults.GetProperty("mfaMethods").EnumerateArray().Select(m => m.GetString()));

        var (empty, emptyBody, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Patch, $"/api/v1/applications/{appId}", op, new { mfaMethods = Array.Empty<string>() });
        Assert.Equal(HttpStatusCode.BadRequest, empty);
        Assert.True(emptyBody.GetProperty("errors").TryGetProperty("mfaMethods", out _), emptyBody.ToString());
        var (wrongType, wrongTypeBody, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Patch, $"/api/v1/applications/{appId}", op, new { mfaRequired = "yes" });
        Assert.Equal(HttpStatusCode.BadRequest, wrongType);
        Assert.True(wrongTypeBody.TryGetProperty("error", out _), wrongTypeBody.ToString());

        // Tenant B's administrator: not found. Tenant A's reader: 403 insufficient_scope. Nothing changed either way.
        var tokenB = await ServiceTokenAsync(op, tenantB, "applications:read", "applications:write");
        var (otherGet, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, $"/api/v1/applications/{appId}", tokenB);
        Assert.Equal(HttpStatusCode.NotFound, otherGet);
        var (otherPatch, otherBody, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Patch, $"/api/v1/applications/{appId}", tokenB, new { mfaRequired = true });
        Assert.Equal(HttpStatusCode.NotFound, otherPatch);
        Assert.Equal("not_found", otherBody.GetProperty("error").GetString());

        var readerA = await ServiceTokenAsync(op, tenantA, "applications:read");
        var (narrow, narrowBody, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Patch, $"/api/v1/applications/{appId}", readerA, new { mfaRequired = true });
        Assert.Equal(HttpStatusCode.Forbidden, narrow);
        Assert.Equal("insufficient_scope", narrowBody.GetProperty("error").GetString());
        var (readable, read, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, $"/api/v1/applications/{appId}", readerA);
        Assert.Equal(HttpStatusCode.OK, readable);
        Assert.False(read.GetProperty("mfaRequired").GetBoolean());

        var writerA = await ServiceTokenAsync(op, tenantA, "applications:read", "applications:write");
        var (changed, changedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Patch, $"/api/v1/applications/{appId}", writerA, new { mfaRequired = true, mfaMethods = new[] { "passkey", "totp", "passkey" } });
        Assert.True(changed == HttpStatusCode.OK, changedBody.ToString());
        Assert.True(changedBody.GetProperty("mfaRequired").GetBoolean());
        Assert.Equal(["totp", "passkey"], changedBody.GetProperty("mfaMethods").EnumerateArray().Select(m => m.GetString()));
    }

    [Fact]
    public async Task The_device_verification_page_steps_a_password_session_up_to_a_passkey_and_refuses_a_user_without_one()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (created, app, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, "/api/v1/applications", op, new
        {
            name = "Terminal", type = "public", deviceFlow = true, scopes = new[] { "openid", "keys:read" }, tenantId = tenant, mfaRequired = true, mfaMethods = new[] { "passkey" },
        });
        Assert.True(created == HttpStatusCode.Created, app.ToString());
        var clientId = app.GetProperty("clientId").GetString()!;

        // Without a passkey: refused on the verification page, and the device gets nothing.
        var (plainEmail, plainPassword, _) = await UserAsync(op, tenant, "device-plain");
        var (deviceCode, userCode) = await StartDeviceAsync(clientId);
        using (var browser = new Browser(_stack))
        {
            await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), plainEmail, plainPassword);
            var refused = await browser.NavigateAsync("/connect/verify?user_code=" + Uri.EscapeDataString(userCode));
            Assert.Equal("refused", refused.Document.QuerySelector("#result")?.GetAttribute("data-result"));
        }

        var (denied, deniedBody) = await PollDeviceAsync(clientId, deviceCode);
        Assert.Equal(HttpStatusCode.BadRequest, denied);
        Assert.NotEqual("authorization_pending", deniedBody.GetProperty("error").GetString());

        // A password session that registers a passkey is stepped up to it, then allows the device.
        var (email, password, _) = await UserAsync(op, tenant, "device-passkey");
        using var authenticator = new SoftwareAuthenticator { Origin = Origin };
        (deviceCode, userCode) = await StartDeviceAsync(clientId);
        using (var browser = new Browser(_stack))
        {
            await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
            var page = await browser.NavigateAsync("/account/passkeys");
            var creation = await PasskeyTests.OptionsAsync(browser, page, "/account/passkeys", "/account/passkeys/options");
            var added = await browser.SubmitAsync(page, new Dictionary<string, string> { ["name"] = "key", ["credential"] = authenticator.Create(creation) }, selector: "form[action='/account/passkeys']");
            Assert.True(added.Status == HttpStatusCode.OK, $"{(int)added.Status} {added.Body}");

            var mfa = await browser.NavigateAsync("/connect/verify?user_code=" + Uri.EscapeDataString(userCode));
            Assert.Contains("Two-factor", mfa.Document.Title ?? string.Empty, StringComparison.Ordinal);
            var options = await MfaOptionsAsync(browser, mfa);
            var consent = await browser.FollowAsync(await SubmitPasskeyAsync(browser, mfa, authenticator.Get(options)));
            Assert.Equal("Terminal", consent.Document.QuerySelector("#application")?.TextContent);
            var done = await browser.FollowAsync(await browser.SubmitAsync(consent, submitName: "submit", submitValue: "accept"));
            Assert.Equal("allowed", done.Document.QuerySelector("#result")?.GetAttribute("data-result"));
        }

        var (granted, tokens) = await PollDeviceAsync(clientId, deviceCode);
        Assert.True(granted == HttpStatusCode.OK, tokens.ToString());
        using var payload = JsonDocument.Parse(Base64UrlEncoder.Decode(tokens.GetProperty("id_token").GetString()!.Split('.')[1]));
        Assert.Equal(["mfa", "pop", "pwd"], payload.RootElement.GetProperty("amr").EnumerateArray().Select(v => v.GetString()!).Order(StringComparer.Ordinal));
    }

    private async Task<(string DeviceCode, string UserCode)> StartDeviceAsync(string clientId)
    {
        var (started, device) = await Oidc.PostFormAsync(_stack, "/connect/device", new Dictionary<string, string> { ["client_id"] = clientId, ["scope"] = "openid keys:read" });
        Assert.True(started == HttpStatusCode.OK, device.ToString());
        return (device.GetProperty("device_code").GetString()!, device.GetProperty("user_code").GetString()!);
    }

    private Task<(HttpStatusCode Status, JsonElement Body)> PollDeviceAsync(string clientId, string deviceCode) =>
        Oidc.TokenAsync(_stack, new Dictionary<string, string> { ["grant_type"] = "urn:ietf:params:oauth:grant-type:device_code", ["client_id"] = clientId, ["device_code"] = deviceCode });

    private async Task<string> ServiceTokenAsync(string op, Guid tenant, params string[] scopes)
    {
        var (clientId, secret) = await CodeFlow.CreateServiceAppAsync(_stack, op, tenant, scopes);
        return await Oidc.ClientCredentialsAsync(_stack, clientId, secret);
    }

    private async Task<(string Email, string Password, Guid Id)> UserAsync(string op, Guid tenant, string prefix)
    {
        var (email, password) = (Oidc.NewEmail(prefix), Oidc.StrongPassword());
        var user = await Oidc.CreateUserAsync(_stack, op, email, password, ["tenant-member"], tenant);
        return (email, password, Guid.Parse(user.GetProperty("id").GetString()!));
    }

    /// <summary>Signs in with the password (no second factor yet) and registers a passkey: the recovery codes shown.</summary>
    private async Task<string[]> RegisterPasskeyAsync(string email, string password, SoftwareAuthenticator authenticator)
    {
        using var browser = new Browser(_stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
        var page = await browser.NavigateAsync("/account/passkeys");
        var options = await PasskeyTests.OptionsAsync(browser, page, "/account/passkeys", "/account/passkeys/options");
        var added = await browser.SubmitAsync(page, new Dictionary<string, string> { ["name"] = "key", ["credential"] = authenticator.Create(options) }, selector: "form[action='/account/passkeys']");
        Assert.True(added.Status == HttpStatusCode.OK, $"{(int)added.Status} {added.Body}");
        return [.. added.Document.QuerySelectorAll("#recovery-codes li").Select(li => li.TextContent.Trim())];
    }

    /// <summary>The login form with the right password: the second-factor page it leads to.</summary>
    private static async Task<Browser.Page> PasswordStepAsync(Browser browser, string email, string password, string returnUrl)
    {
        var login = await browser.NavigateAsync("/account/login?ReturnUrl=" + Uri.EscapeDataString(returnUrl));
        var afterPassword = await browser.SubmitAsync(login, new Dictionary<string, string> { ["email"] = email, ["password"] = password });
        Assert.True(afterPassword.Status == HttpStatusCode.Redirect, $"login: {(int)afterPassword.Status} {afterPassword.Body}");
        var mfa = await browser.FollowAsync(afterPassword);
        Assert.Contains("Two-factor", mfa.Document.Title ?? string.Empty, StringComparison.Ordinal);
        return mfa;
    }

    private static Task<string> MfaOptionsAsync(Browser browser, Browser.Page mfa) =>
        PasskeyTests.OptionsAsync(browser, mfa, "/account/mfa/passkey", "/account/mfa/passkey/options");

    private static Task<Browser.Page> SubmitPasskeyAsync(Browser browser, Browser.Page mfa, string credential) =>
        browser.SubmitAsync(mfa, new Dictionary<string, string> { ["credential"] = credential }, selector: "form[action='/account/mfa/passkey']");

    private static void AssertRefused(Browser.Page page, string error)
    {
        Assert.True(page.Status == HttpStatusCode.Unauthorized, $"{(int)page.Status} {page.Body}");
        Assert.Equal(error, page.Document.QuerySelector("#error")?.TextContent);
    }

    /// <summary>The assertion with one bit of its signature flipped.</summary>
    private static string FlipSignature(string assertion)
    {
        var node = JsonNode.Parse(assertion)!;
        var signature = Base64UrlEncoder.DecodeBytes(node["response"]!["signature"]!.GetValue<string>());
        signature[^1] ^= 0x01;
        node["response"]!["signature"] = Base64UrlEncoder.Encode(signature);
        return node.ToJsonString();
    }

    private static string WrongTotp(string secret)
    {
        var totp = new Totp(Base32Encoding.ToBytes(secret));
        var window = Enumerable.Range(-4, 9).Select(i => totp.ComputeTotp(DateTime.UtcNow.AddSeconds(30 * i))).ToHashSet();
        return Enumerable.Range(0, 1_000_000).Select(i => i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture)).First(c => !window.Contains(c));
    }

    private Task<long> ScalarAsync(string sql) => AccountsKit.ScalarAsync(_stack, sql);

    private Task<long> SecondFactorFailuresAsync(Guid userId) =>
        ScalarAsync($"SELECT \"SecondFactorFailedCount\" FROM identity.\"AspNetUsers\" WHERE \"Id\" = '{userId}'");

    private Task<long> PasswordFailuresAsync(Guid userId) =>
        ScalarAsync($"SELECT \"AccessFailedCount\" FROM identity.\"AspNetUsers\" WHERE \"Id\" = '{userId}'");
}
