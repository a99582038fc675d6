using System.Net;
using Mislata.EndToEnd.Tests.Identity;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Abuse;

/// <summary>
/// The gateway's per-address request limits on <c>/connect/token</c> and <c>/account/*</c>: a flood from one address is
/// answered 429 problem+json with Retry-After by nginx itself, and other addresses are served as usual.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class GatewayLimitTests(TenancyFixture fixture)
{
    /// <summary>Far more than the burst (60) plus what the rate (≤ 10 r/s) refills while they are sent.</summary>
    private const int MaxFlood = 2_000;

    private const string GatewayDetail = "Too many requests from this address to this endpoint";

    [Fact]
    public async Task A_token_endpoint_flood_from_one_address_gets_429_problem_with_retry_after_and_another_address_still_gets_tokens()
    {
        using var flood = SourceAddress.Client(fixture.Stack, "127.0.0.3", maxConnections: 8);

        // An empty token request is refused by identity (invalid_request) without any credential: only the gateway's
        // request limit can answer 429 here, not the services' failed-credential limit.
        var (limited, served) = await FloodUntil429Async(() => flood.PostAsync(
            new Uri("/connect/token", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>())));

        Assert.True(limited is not null, $"no 429 after {served} token requests from one address");
        Assert.True(served >= 60, $"the burst of 60 must pass before the limit applies; only {served} were served");
        using (limited)
        {
            var detail = await SourceAddress.AssertRateLimitedAsync(limited, maxRetryAfterSeconds: 1);
            Assert.StartsWith(GatewayDetail, detail, StringComparison.Ordinal);
        }

        // Another address at the same moment: a normal client-credentials token.
        var token = await fixture.OperatorTokenAsync();
        Assert.False(string.IsNullOrEmpty(token));
    }

    [Fact]
    public async Task An_account_page_flood_from_one_address_gets_429_problem_with_retry_after_and_a_sign_in_from_another_address_works()
    {
        using var flood = SourceAddress.Client(fixture.Stack, "127.0.0.5", maxConnections: 8);

        var (limited, served) = await FloodUntil429Async(() => flood.GetAsync(new Uri("/account/login", UriKind.Relative)));

        Assert.True(limited is not null, $"no 429 after {served} sign-in page requests from one address");
        Assert.True(served >= 60, $"the burst of 60 must pass before the limit applies; only {served} were served");
        using (limited)
        {
            var detail = await SourceAddress.AssertRateLimitedAsync(limited, maxRetryAfterSeconds: 1);
            Assert.StartsWith(GatewayDetail, detail, StringComparison.Ordinal);
        }

        // Sign-in attempts from the flooding address are refused too (the rate refills a few at most meanwhile)…
        var posts = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => flood.PostAsync(new Uri("/account/login", UriKind.Relative),
            new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = fixture.Stack.AdminEmail, ["password"] = "not-the-password" }))));
        Assert.Contains(posts, r => r.StatusCode == HttpStatusCode.TooManyRequests);
        foreach (var post in posts)
        {
            post.Dispose();
        }

        // …while a person at another address signs in normally.
        using var browser = new Browser(fixture.Stack);
        var login = await browser.NavigateAsync("/account/login");
        Assert.Equal(HttpStatusCode.OK, login.Status);
        var home = await Oidc.SignInAsync(browser, login, fixture.Stack.AdminEmail, fixture.Stack.AdminPassword);
        Assert.True(home.Status == HttpStatusCode.OK, $"{(int)home.Status} {home.Body}");
        Assert.DoesNotContain("Sign in", home.Document.Title ?? string.Empty, StringComparison.Ordinal);
    }

    /// <summary>
    /// Sends requests 16 at a time until one is answered 429 (returned, undisposed) or <see cref="MaxFlood"/> were sent;
    /// also returns how many were served (not 429) until then.
    /// </summary>
    private static async Task<(HttpResponseMessage? Limited, int Served)> FloodUntil429Async(Func<Task<HttpResponseMessage>> send)
    {
        var served = 0;
        for (var sent = 0; sent < MaxFlood; sent += 16)
        {
            var wave = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => send()));
            HttpResponseMessage? limited = null;
            foreach (var response in wave)
            {
                Assert.True((int)response.StatusCode is 200 or 400 or 401 or 429, $"unexpected {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                if (response.StatusCode != HttpStatusCode.TooManyRequests)
                {
                    served++;
                    response.Dispose();
                }
                else if (limited is null)
                {
                    limited = response;
                }
                else
                {
                    response.Dispose();
                }
            }

            if (limited is not null)
            {
                return (limited, served);
            }
        }

        return (null, served);
    }
}
