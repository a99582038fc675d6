using System.Net;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// Passkeys (issue 17) through the gateway with a software authenticator (attestation none): a signed-in user registers
/// one at /account/passkeys, then signs in with it alone; a replayed registration or assertion, a credential made for
/// another origin and a removed passkey are refused, and each step is audited.
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class PasskeyTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    private string Origin => _stack.Gateway.BaseAddress.GetLeftPart(UriPartial.Authority);

    /// <summary>What passkey.js does first: POST the options endpoint with the page form's antiforgery token.</summary>
    internal static async Task<string> OptionsAsync(Browser browser, Browser.Page page, string formAction, string optionsAction)
    {
        var token = page.Document.QuerySelector($"form[action='{formAction}'] input[name=__RequestVerificationToken]")?.GetAttribute("value");
        Assert.False(string.IsNullOrEmpty(token), $"no antiforgery token in the form {formAction}:\n{page.Body}");
        var answer = await browser.PostFormAsync(optionsAction, [new("__RequestVerificationToken", token!)]);
        Assert.True(answer.Status == HttpStatusCode.OK, $"{optionsAction}: {(int)answer.Status} {answer.Body}");
        return answer.Body;
    }

    private static async Task<long> AuditCountAsync(MislataStack stack, string action, Guid userId, string? method = null) =>
        await AccountsKit.ScalarAsync(stack,
            $"SELECT count(*) FROM mislata.audit_events WHERE action = '{action}' AND actor_id = '{userId}'" + (method is null ? string.Empty : $" AND details->>'method' = '{method}'"));

    [Fact]
    public async Task A_user_registers_a_passkey_signs_in_with_it_alone_and_replays_and_foreign_origins_are_refused()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (email, password) = (Oidc.NewEmail("passkey"), Oidc.StrongPassword());
        var userId = Guid.Parse((await Oidc.CreateUserAsync(_stack, op, email, password, ["tenant-member"], tenant)).GetProperty("id").GetString()!);
        using var authenticator = new SoftwareAuthenticator { Origin = Origin };

        // Registration, signed in with the password.
        using (var browser = new Browser(_stack))
        {
            await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
            var page = await browser.NavigateAsync("/account/passkeys");
            Assert.Equal("You have no passkey yet.", page.Document.QuerySelector("#passkey-count")?.TextContent);
            Assert.NotNull(page.Document.QuerySelector("script[src='/account/passkey.js']"));

            var options = await OptionsAsync(browser, page, "/account/passkeys", "/account/passkeys/options");
            using (var parsed = JsonDocument.Parse(options))
            {
                Assert.Equal(new Uri(Origin).Host, parsed.RootElement.GetProperty("rp").GetProperty("id").GetString());
                Assert.Equal(email, parsed.RootElement.GetProperty("user").GetProperty("name").GetString());
                Assert.True(parsed.RootElement.GetProperty("challenge").GetString()!.Length >= 22);
            }

            // A credential made for another origin is refused, and nothing is stored.
            using (var phishing = new SoftwareAuthenticator { Origin = "https://mislata.example.net" })
            {
                var foreign = await browser.SubmitAsync(page, new Dictionary<string, string> { ["name"] = "phished", ["credential"] = phishing.Create(options) }, selector: "form[action='/account/passkeys']");
                Assert.Equal(HttpStatusCode.BadRequest, foreign.Status);
                Assert.Contains("could not be verified", foreign.Document.QuerySelector("#error")?.TextContent, StringComparison.Ordinal);
            }

            page = await browser.NavigateAsync("/account/passkeys");
            options = await OptionsAsync(browser, page, "/account/passkeys", "/account/passkeys/options");
            var credential = authenticator.Create(options);
            var added = await browser.SubmitAsync(page, new Dictionary<string, string> { ["name"] = "laptop", ["credential"] = credential }, selector: "form[action='/account/passkeys']");
            Assert.True(added.Status == HttpStatusCode.OK, $"{(int)added.Status} {added.Body}");
            Assert.Equal("Passkey \"laptop\" added.", added.Document.QuerySelector("#notice")?.TextContent);
            Assert.Equal("1 passkey(s).", added.Document.QuerySelector("#passkey-count")?.TextContent);
            // The first passkey turns two-factor sign-in on, with recovery codes shown once.
            Assert.Equal(10, added.Document.QuerySelectorAll("#recovery-codes li").Length);
            Assert.Equal(1, await AuditCountAsync(_stack, "auth.mfa.enabled", userId, "passkey"));

            // The same registration again: its challenge is spent.
            var replayed = await browser.SubmitAsync(added, new Dictionary<string, string> { ["name"] = "again", ["credential"] = credential }, selector: "form[action='/account/passkeys']");
            Assert.Equal(HttpStatusCode.BadRequest, replayed.Status);
            Assert.Equal(1, await AccountsKit.ScalarAsync(_stack, $"SELECT count(*) FROM identity.\"AspNetUserPasskeys\" WHERE \"UserId\" = '{userId}'"));
            Assert.Equal(1, await AuditCountAsync(_stack, "auth.passkey.registered", userId));
        }

        // Sign-in with the passkey alone, in a browser that never saw the password.
        string assertion;
        using (var browser = new Browser(_stack))
        {
            var login = await browser.NavigateAsync("/account/login?ReturnUrl=%2Faccount");
            Assert.NotNull(login.Document.QuerySelector("#passkey-sign-in"));
            var options = await OptionsAsync(browser, login, "/account/login/passkey", "/account/login/passkey/options");
            assertion = authenticator.Get(options);
            var signedIn = await browser.SubmitAsync(login, new Dictionary<string, string> { ["credential"] = assertion }, selector: "form[action='/account/login/passkey']");
            Assert.True(signedIn.Status == HttpStatusCode.Redirect, $"{(int)signedIn.Status} {signedIn.Body}");
            Assert.Equal("/account", signedIn.Location!.AbsolutePath);
            var home = await browser.FollowAsync(signedIn);
            Assert.Equal(email, home.Document.QuerySelector("#user")?.TextContent);
            Assert.Equal(1, await AuditCountAsync(_stack, "auth.login.succeeded", userId, "passkey"));
        }

        // The same assertion in another browser: no session of its own, no challenge it answers.
        using (var browser = new Browser(_stack))
        {
            var login = await browser.NavigateAsync("/account/login");
            await OptionsAsync(browser, login, "/account/login/passkey", "/account/login/passkey/options");
            var replayed = await browser.SubmitAsync(login, new Dictionary<string, string> { ["credential"] = assertion }, selector: "form[action='/account/login/passkey']");
            Assert.Equal(HttpStatusCode.Unauthorized, replayed.Status);
            Assert.Null((await browser.NavigateAsync("/account")).Document.QuerySelector("#user"));
        }

        // Removed: the passkey no longer signs in. (With a passkey, two-factor is on: the password needs it as second factor.)
        using (var browser = new Browser(_stack))
        {
            var mfa = await browser.FollowAsync(await browser.SubmitAsync(await browser.NavigateAsync("/account/login?ReturnUrl=%2Faccount%2Fpasskeys"),
                new Dictionary<string, string> { ["email"] = email, ["password"] = password }));
            Assert.Contains("Two-factor", mfa.Document.Title ?? string.Empty, StringComparison.Ordinal);
            var mfaOptions = await OptionsAsync(browser, mfa, "/account/mfa/passkey", "/account/mfa/passkey/options");
            var page = await browser.FollowAsync(await browser.SubmitAsync(mfa, new Dictionary<string, string> { ["credential"] = authenticator.Get(mfaOptions) },
                selector: "form[action='/account/mfa/passkey']"));
            var removed = await browser.SubmitAsync(page, selector: "form[action='/account/passkeys/remove']");
            Assert.True(removed.Status == HttpStatusCode.OK, $"{(int)removed.Status} {removed.Body}");
            Assert.Equal("You have no passkey yet.", removed.Document.QuerySelector("#passkey-count")?.TextContent);
            Assert.Equal(1, await AuditCountAsync(_stack, "auth.passkey.removed", userId));
        }

        using (var browser = new Browser(_stack))
        {
            var login = await browser.NavigateAsync("/account/login");
            var options = await OptionsAsync(browser, login, "/account/login/passkey", "/account/login/passkey/options");
            var refused = await browser.SubmitAsync(login, new Dictionary<string, string> { ["credential"] = authenticator.Get(options) }, selector: "form[action='/account/login/passkey']");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
        }
    }
}
