using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// Identity records its audit event before it commits: with the audit store unavailable a change is refused with
/// 503 (an error page on the account pages) and nothing is changed.
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class AuditBeforeCommitTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task With_the_audit_store_unavailable_creating_a_user_is_503_and_creates_nothing()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var email = Oidc.NewEmail("outage");

        await AccountsKit.WithAuditStoreDownAsync(_stack, async () =>
        {
            var (status, body, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Post, "/api/v1/users", operatorToken,
                new { email, password = Oidc.StrongPassword(), roles = new[] { "tenant-admin" }, tenantId = tenant });
            Assert.True(status == HttpStatusCode.ServiceUnavailable, $"{(int)status} {body}");
            Assert.Equal("unavailable", body.GetProperty("error").GetString());
        });

        Assert.Equal(0L, await AccountsKit.ScalarAsync(_stack, $"SELECT count(*) FROM identity.\"AspNetUsers\" WHERE \"NormalizedEmail\" = '{email.ToUpperInvariant()}'"));
        // Once the store is back, the same request succeeds (nothing half-made is in the way).
        await Oidc.CreateUserAsync(_stack, operatorToken, email, Oidc.StrongPassword(), ["tenant-admin"], tenant);
    }

    [Fact]
    public async Task With_the_audit_store_unavailable_assigning_a_role_is_503_and_assigns_nothing()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var userId = await MemberAsync(operatorToken);

        await AccountsKit.WithAuditStoreDownAsync(_stack, async () =>
        {
            var (status, body, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Put, $"/api/v1/roles/tenant-admin/members/{userId}", operatorToken);
            Assert.True(status == HttpStatusCode.ServiceUnavailable, $"{(int)status} {body}");
            Assert.Equal("unavailable", body.GetProperty("error").GetString());
        });

        Assert.Equal(["tenant-member"], await RolesAsync(operatorToken, userId));
    }

    [Fact]
    public async Task With_the_audit_store_unavailable_changing_roles_is_503_and_changes_nothing()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var userId = await MemberAsync(operatorToken);

        await AccountsKit.WithAuditStoreDownAsync(_stack, async () =>
        {
            var (status, body, _) = await AccountsKit.SendAsync(_stack, HttpMethod.Patch, "/api/v1/users/" + userId, operatorToken, new { roles = new[] { "tenant-member", "auditor" } });
            Assert.True(status == HttpStatusCode.ServiceUnavailable, $"{(int)status} {body}");
            Assert.Equal("unavailable", body.GetProperty("error").GetString());
        });

        Assert.Equal(["tenant-member"], await RolesAsync(operatorToken, userId));
    }

    [Fact]
    public async Task With_the_audit_store_unavailable_a_password_change_shows_an_error_page_and_changes_nothing()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(_stack);
        var email = Oidc.NewEmail("pw-outage");
        var password = Oidc.StrongPassword();
        var newPassword = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["tenant-member"], await Oidc.CreateTenantAsync(_stack, operatorToken));
        using var browser = new Browser(_stack);
        var page = await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/password"), email, password);
        Assert.Equal("Change password · Mislata", page.Document.Title);

        await AccountsKit.WithAuditStoreDownAsync(_stack, async () =>
        {
            var answer = await browser.SubmitAsync(page, new Dictionary<string, string>
            {
                ["currentPassword"] = password,
                ["newPassword"] = newPassword,
                ["confirmPassword"] = newPassword,
            });
            Assert.True(answer.Status == HttpStatusCode.ServiceUnavailable, $"{(int)answer.Status} {answer.Body}");
            Assert.NotNull(answer.Document.QuerySelector("#unavailable"));
        });

        using var form = new AccountsKit.LoginForm(_stack);
        Assert.Equal(HttpStatusCode.Unauthorized, (await form.PostAsync(email, newPassword)).Status);
        Assert.Equal(HttpStatusCode.Redirect, (await form.PostAsync(email, password)).Status);
    }

    private async Task<string> MemberAsync(string operatorToken)
    {
        var tenant = await Oidc.CreateTenantAsync(_stack, operatorToken);
        var user = await Oidc.CreateUserAsync(_stack, operatorToken, Oidc.NewEmail("role-outage"), Oidc.StrongPassword(), ["tenant-member"], tenant);
        return user.GetProperty("id").GetString()!;
    }

    private async Task<string[]> RolesAsync(string operatorToken, string userId)
    {
        var (_, user, _) = await Oidc.ApiAsync(_stack, HttpMethod.Get, "/api/v1/users/" + userId, operatorToken);
        return [.. user.GetProperty("roles").EnumerateArray().Select(r => r.GetString()!)];
    }
}
