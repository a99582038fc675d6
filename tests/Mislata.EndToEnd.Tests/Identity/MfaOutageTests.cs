using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// The second step with a dependency down (its own stack and PostgreSQL cluster: Redis, then PostgreSQL, is stopped): the answer is 503, never
/// 500 and never a session, and nothing of it is kept — the recovery code tried during the Redis outage (the session
/// store) still signs in once Redis is back.
/// </summary>
[ExpectedSeconds(30)]
public sealed class MfaOutageTests : IAsyncLifetime
{
    private MislataStack? _stack;

    private MislataStack Stack => _stack!;

    public async Task InitializeAsync() => _stack = await MislataStack.StartAsync(new StackOptions { OwnPostgres = true });

    public async Task DisposeAsync()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }
    }

    [Fact]
    public async Task With_redis_or_postgres_down_the_second_step_answers_503_and_signs_nobody_in()
    {
        var op = await Oidc.OperatorTokenAsync(Stack);
        var tenant = await Oidc.CreateTenantAsync(Stack, op);
        var (email, password) = (Oidc.NewEmail("mfa-outage"), Oidc.StrongPassword());
        await Oidc.CreateUserAsync(Stack, op, email, password, ["tenant-member"], tenant);
        var (_, codes) = await AccountsKit.SetUpMfaAsync(Stack, email, password);

        await AnswerWithDependencyDownAsync(email, password, codes[0], Stack.Redis.StopAsync, Stack.Redis.StartAsync);
        await AnswerWithDependencyDownAsync(email, password, codes[1], Stack.Postgres.StopAsync, Stack.Postgres.StartAsync);

        // Back: the code tried while Redis was down was not used up.
        await Stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        using var browser = new Browser(Stack);
        var accepted = await AccountsKit.SubmitSecondFactorAsync(browser, email, password, codes[0]);
        Assert.True(accepted.Status == HttpStatusCode.Redirect, $"{(int)accepted.Status} {accepted.Body}");
        Assert.Equal(email, (await browser.FollowAsync(accepted)).Document.QuerySelector("#user")?.TextContent);
    }

    private async Task AnswerWithDependencyDownAsync(string email, string password, string code, Func<Task> stop, Func<Task> start)
    {
        await Stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        using var browser = new Browser(Stack);
        var login = await browser.NavigateAsync("/account/login");
        var afterPassword = await browser.SubmitAsync(login, new Dictionary<string, string> { ["email"] = email, ["password"] = password });
        Assert.True(afterPassword.Status == HttpStatusCode.Redirect, $"login: {(int)afterPassword.Status} {afterPassword.Body}");
        var mfa = await browser.FollowAsync(afterPassword);
        Assert.Contains("Two-factor", mfa.Document.Title ?? string.Empty, StringComparison.Ordinal);

        await stop();
        try
        {
            var answer = await browser.SubmitAsync(mfa, new Dictionary<string, string> { ["code"] = code });
            Assert.True(answer.Status == HttpStatusCode.ServiceUnavailable, $"{(int)answer.Status} {answer.Body}");
            Assert.DoesNotContain("Exception", answer.Body, StringComparison.Ordinal);
        }
        finally
        {
            await start();
        }

        await Stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        // No session came of it.
        Assert.Equal("Sign in · Mislata", (await browser.NavigateAsync("/account")).Document.Title);
    }
}
