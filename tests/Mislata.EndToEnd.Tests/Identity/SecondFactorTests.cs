using System.Net;
using OtpNet;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>Second factor: seeds and recovery codes encrypted at rest, each TOTP code and recovery code good once.</summary>
[Collection(IdentityCollection.Name)]
public sealed class SecondFactorTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task Totp_seeds_and_recovery_codes_are_nowhere_in_clear_in_the_identity_schema()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var email = Oidc.NewEmail("at-rest");
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-member"], await Oidc.CreateTenantAsync(_stack, operatorToken));
        var (secret, codes) = await AccountsKit.SetUpMfaAsync(_stack, email, password);

        var everything = await AccountsKit.IdentitySchemaTextAsync(_stack);

        Assert.Contains(email, everything, StringComparison.OrdinalIgnoreCase); // the dump does see this user's rows
        Assert.DoesNotContain(secret, everything, StringComparison.OrdinalIgnoreCase);
        Assert.All(codes, code =>
        {
            Assert.DoesNotContain(code, everything, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(code.Replace("-", string.Empty, StringComparison.Ordinal), everything, StringComparison.OrdinalIgnoreCase);
        });

        // Still usable: the encrypted seed signs in, and so does a recovery code.
        using var browser = new Browser(_stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password, secret);
        using var other = new Browser(_stack);
        var recovered = await AccountsKit.SubmitSecondFactorAsync(other, email, password, codes[3]);
        Assert.True(recovered.Status == HttpStatusCode.Redirect, $"{(int)recovered.Status} {recovered.Body}");
    }

    [Fact]
    public async Task A_seed_stored_in_clear_before_encryption_still_signs_in_and_is_then_encrypted()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var email = Oidc.NewEmail("legacy");
        var password = Oidc.StrongPassword();
        var user = await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-member"], await Oidc.CreateTenantAsync(_stack, operatorToken));
        var userId = user.GetProperty("id").GetString();
        var secret = Base32Encoding.ToString(KeyGeneration.GenerateRandomKey(20)).TrimEnd('=');
        // As the previous version stored it: the base32 seed in clear in the framework's token row.
        await AccountsKit.ExecuteAsync(_stack, $"""
            INSERT INTO identity."AspNetUserTokens" ("UserId", "LoginProvider", "Name", "Value") VALUES ('{userId}', '[AspNetUserStore]', 'AuthenticatorKey', '{secret}');
            UPDATE identity."AspNetUsers" SET "TwoFactorEnabled" = true WHERE "Id" = '{userId}';
            """);

        using var browser = new Browser(_stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password, secret);

        var stored = await AccountsKit.TextAsync(_stack, $"SELECT \"Value\" FROM identity.\"AspNetUserTokens\" WHERE \"UserId\" = '{userId}' AND \"Name\" = 'AuthenticatorKey'");
        Assert.StartsWith("mislata:v1:", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, await AccountsKit.IdentitySchemaTextAsync(_stack), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_totp_code_accepted_once_is_refused_the_second_time()
    {
        var (email, password, secret, _) = await MfaUserAsync("replay");
        var code = new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp(DateTime.UtcNow.AddSeconds(30));

        using var first = new Browser(_stack);
        var accepted = await AccountsKit.SubmitSecondFactorAsync(first, email, password, code);
        Assert.True(accepted.Status == HttpStatusCode.Redirect, $"first use: {(int)accepted.Status} {accepted.Body}");

        using var second = new Browser(_stack);
        var replayed = await AccountsKit.SubmitSecondFactorAsync(second, email, password, code);
        Assert.Equal(HttpStatusCode.Unauthorized, replayed.Status);
        Assert.Equal("The code is not valid.", replayed.Document.QuerySelector("#error")?.TextContent);
        var home = await second.NavigateAsync("/account");
        Assert.Equal("Sign in · Mislata", home.Document.Title);
    }

    [Fact]
    public async Task A_wrong_totp_code_is_refused()
    {
        var (email, password, secret, _) = await MfaUserAsync("wrong");
        var totp = new Totp(Base32Encoding.ToBytes(secret));
        var window = Enumerable.Range(-3, 7).Select(i => totp.ComputeTotp(DateTime.UtcNow.AddSeconds(30 * i))).ToHashSet();
        var wrong = Enumerable.Range(0, 1_000_000).Select(i => i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture)).First(c => !window.Contains(c));

        using var browser = new Browser(_stack);
        var refused = await AccountsKit.SubmitSecondFactorAsync(browser, email, password, wrong);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
        Assert.Equal("The code is not valid.", refused.Document.QuerySelector("#error")?.TextContent);
        Assert.Equal("Sign in · Mislata", (await browser.NavigateAsync("/account")).Document.Title);
    }

    [Fact]
    public async Task A_recovery_code_works_once()
    {
        var (email, password, _, codes) = await MfaUserAsync("recovery");

        using var first = new Browser(_stack);
        var accepted = await AccountsKit.SubmitSecondFactorAsync(first, email, password, codes[0]);
        Assert.True(accepted.Status == HttpStatusCode.Redirect, $"first use: {(int)accepted.Status} {accepted.Body}");

        using var second = new Browser(_stack);
        var reused = await AccountsKit.SubmitSecondFactorAsync(second, email, password, codes[0]);
        Assert.Equal(HttpStatusCode.Unauthorized, reused.Status);
        Assert.Equal("The code is not valid.", reused.Document.QuerySelector("#error")?.TextContent);

        // Another, unused code still works (the refusal is about the used one).
        var next = await second.SubmitAsync(reused, new Dictionary<string, string> { ["code"] = codes[1] });
        Assert.True(next.Status == HttpStatusCode.Redirect, $"unused code: {(int)next.Status} {next.Body}");
    }

    private async Task<(string Email, string Password, string Secret, string[] Codes)> MfaUserAsync(string prefix)
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var email = Oidc.NewEmail(prefix);
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-member"], await Oidc.CreateTenantAsync(_stack, operatorToken));
        var (secret, codes) = await AccountsKit.SetUpMfaAsync(_stack, email, password);
        return (email, password, secret, codes);
    }
}
