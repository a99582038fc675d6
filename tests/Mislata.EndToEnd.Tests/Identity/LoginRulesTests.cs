using System.Net;
using System.Text.Encodings.Web;
using System.Text.RegularExpressions;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>Login: no account enumeration by answer or time, the exact lockout threshold, and lockout keeping issued tokens.</summary>
[Collection(IdentityCollection.Name)]
public sealed partial class LoginRulesTests(IdentityFixture fixture)
{
    private const string Invalid = "Invalid email or password.";

    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task Unknown_and_existing_emails_get_the_same_answer_in_comparable_time()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var existing = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var email = Oidc.NewEmail("known" + i);
            await Oidc.CreateUserAsync(_stack, operatorToken, email, Oidc.StrongPassword(), ["tenant-member"], tenant);
            existing.Add(email);
        }

        using var form = new AccountsKit.LoginForm(_stack);
        // Warm-up on both paths (first requests of each replica), not measured; the fourth user takes it.
        for (var i = 0; i < 2; i++)
        {
            await form.PostAsync(Oidc.NewEmail("nobody"), "Wrong-password-1a!");
            await form.PostAsync(existing[3], "Wrong-password-1a!");
        }

        // Interleaved, three wrong passwords per existing user (far from the lockout).
        var unknownTimes = new List<double>();
        var existingTimes = new List<double>();
        for (var i = 0; i < 9; i++)
        {
            var nobody = Oidc.NewEmail("nobody");
            var unknown = await form.PostAsync(nobody, "Wrong-password-" + i + "a!");
            var known = await form.PostAsync(existing[i % 3], "Wrong-password-" + i + "a!");

            Assert.Equal(HttpStatusCode.Unauthorized, unknown.Status);
            Assert.Equal(HttpStatusCode.Unauthorized, known.Status);
            Assert.Equal(Normalize(known.Body, existing[i % 3]), Normalize(unknown.Body, nobody));
            Assert.Contains(Invalid, unknown.Body, StringComparison.Ordinal);
            unknownTimes.Add(unknown.Elapsed.TotalMilliseconds);
            existingTimes.Add(known.Elapsed.TotalMilliseconds);
        }

        var unknownMedian = Median(unknownTimes);
        var existingMedian = Median(existingTimes);
        Assert.True(unknownMedian >= 0.5 * existingMedian,
            $"median of unknown-email answers {unknownMedian:F1} ms, of wrong passwords on existing users {existingMedian:F1} ms");
    }

    [Fact]
    public async Task Nine_wrong_passwords_then_the_right_one_signs_in()
    {
        var (email, password) = await NewUserAsync("nine");
        using var form = new AccountsKit.LoginForm(_stack);
        for (var i = 1; i <= 9; i++)
        {
            var wrong = await form.PostAsync(email, "Wrong-password-" + i + "a!");
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
            Assert.Contains(Invalid, wrong.Body, StringComparison.Ordinal);
        }

        var right = await form.PostAsync(email, password);
        Assert.True(right.Status == HttpStatusCode.Redirect, $"{(int)right.Status} {right.Body}");
        Assert.Equal("/account", right.Location);
    }

    [Fact]
    public async Task Ten_wrong_passwords_lock_the_account_at_the_tenth_and_the_right_one_is_refused()
    {
        var (email, password) = await NewUserAsync("ten");
        using var form = new AccountsKit.LoginForm(_stack);
        for (var i = 1; i <= 10; i++)
        {
            var wrong = await form.PostAsync(email, "Wrong-password-" + i + "a!");
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
            Assert.True(i == 10 == wrong.Body.Contains("locked", StringComparison.Ordinal), $"attempt {i}: {wrong.Body}");
        }

        var right = await form.PostAsync(email, password);
        Assert.Equal(HttpStatusCode.Unauthorized, right.Status);
        Assert.Contains("locked", right.Body, StringComparison.Ordinal);
        Assert.Null(right.Location);
    }

    [Fact]
    public async Task A_lockout_keeps_the_users_refresh_tokens_working()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var email = Oidc.NewEmail("victim");
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-admin"], tenant);
        var clientId = await Oidc.CreatePublicAppAsync(_stack, operatorToken, tenant, "openid offline_access users:read");
        using var browser = new Browser(_stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
        var (verifier, challenge) = Oidc.Pkce();
        var (_, tokens) = await Oidc.RedeemAsync(_stack, clientId, await Oidc.AuthorizeAsync(browser, clientId, "openid offline_access users:read", challenge), verifier);

        // Someone else guesses the password ten times: the account locks.
        using (var attacker = new AccountsKit.LoginForm(_stack))
        {
            for (var i = 1; i <= 10; i++)
            {
                await attacker.PostAsync(email, "Guess-" + i + "-password!A");
            }

            Assert.Contains("locked", (await attacker.PostAsync(email, password)).Body, StringComparison.Ordinal);
        }

        // The user's refresh token still refreshes, and the new access token works.
        var (refreshed, body) = await Oidc.RefreshAsync(_stack, clientId, tokens.GetProperty("refresh_token").GetString()!);
        Assert.True(refreshed == HttpStatusCode.OK, body.ToString());
        var (users, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users", body.GetProperty("access_token").GetString());
        Assert.Equal(HttpStatusCode.OK, users);
    }

    private async Task<(string Email, string Password)> NewUserAsync(string prefix)
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var email = Oidc.NewEmail(prefix);
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-member"], await Oidc.CreateTenantAsync(_stack, operatorToken));
        return (email, password);
    }

    /// <summary>The page without what differs by construction: the antiforgery token and the email typed in.</summary>
    private static string Normalize(string body, string email) =>
        AntiforgeryValue().Replace(body, "name=\"__RequestVerificationToken\" value=\"(token)\"").Replace(HtmlEncoder.Default.Encode(email), "(email)", StringComparison.Ordinal);

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"[^\"]*\"")]
    private static partial Regex AntiforgeryValue();
}
