using System.Net;
using Mislata.EndToEnd.Tests.Identity;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Revocation;

/// <summary>
/// Issue 8: the Hangfire dashboard reads identity's session cookie, whose claims were written at sign-in; it must
/// refuse a platform admin who has since been blocked or demoted (within a minute; it is checked on every request).
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class DashboardRevocationTests(TenancyFixture fixture)
{
    private static readonly TimeSpan WithinAMinute = TimeSpan.FromMinutes(1);
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task A_blocked_platform_admin_is_refused_by_the_jobs_dashboard()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (userId, browser) = await SignedInAdminAsync(op);
        using (browser)
        {
            var (blocked, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/users/{userId}/block", op);
            Assert.True(blocked == HttpStatusCode.OK, $"block: {(int)blocked} {body}");

            var refused = await RefusedAsync(browser);
            Assert.Equal("/account/login", refused.Location?.AbsolutePath);
            // The session is ended, not just refused once: the cookie no longer opens the dashboard after an unblock.
            var (unblocked, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/users/{userId}/unblock", op);
            Assert.Equal(HttpStatusCode.OK, unblocked);
            Assert.NotEqual(HttpStatusCode.OK, (await browser.GetAsync("/jobs")).Status);
        }
    }

    [Fact]
    public async Task A_demoted_platform_admin_is_refused_by_the_jobs_dashboard()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (userId, browser) = await SignedInAdminAsync(op);
        using (browser)
        {
            var (removed, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Delete, $"/api/v1/roles/platform-admin/members/{userId}", op);
            Assert.True(removed == HttpStatusCode.NoContent, $"remove platform-admin: {(int)removed} {body}");

            var refused = await RefusedAsync(browser);
            Assert.True(refused.Location?.AbsolutePath is "/account/login" or "/account/denied", $"/jobs: {(int)refused.Status} {refused.Location}");
        }
    }

    /// <summary>A second platform admin, created by the operator, signed in at identity and seeing the dashboard.</summary>
    private async Task<(string UserId, Browser Browser)> SignedInAdminAsync(string operatorToken)
    {
        var email = Oidc.NewEmail("jobs-admin");
        var password = Oidc.StrongPassword();
        var user = await Oidc.CreateUserAsync(_stack, operatorToken, email, password, ["platform-admin"], tenantId: null);
        var browser = new Browser(_stack);
        var login = await browser.FollowAsync(await browser.GetAsync("/jobs"));
        var dashboard = await Oidc.SignInAsync(browser, login, email, password);
        Assert.True(dashboard.Status == HttpStatusCode.OK, $"/jobs after sign-in: {(int)dashboard.Status} {dashboard.Location}");
        Assert.Contains("Mislata jobs", dashboard.Body, StringComparison.Ordinal);
        return (user.GetProperty("id").GetString()!, browser);
    }

    /// <summary>Polls /jobs until it is no longer served (a redirect to identity), for at most a minute.</summary>
    private static async Task<Browser.Page> RefusedAsync(Browser browser)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var page = await browser.GetAsync("/jobs");
            if (page.Status != HttpStatusCode.OK || watch.Elapsed > WithinAMinute)
            {
                Assert.True(page.Status == HttpStatusCode.Redirect, $"/jobs still {(int)page.Status} after {watch.Elapsed}");
                return page;
            }

            await Task.Delay(100);
        }
    }
}
