using System.Net;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// DPoP with Redis down (its own stack: Redis is stopped): a proof whose <c>jti</c> cannot be checked for replay is
/// never accepted — the token endpoint answers 503 <c>temporarily_unavailable</c>, the api and userinfo 503 — while an
/// unbound Bearer token keeps working at the api (its hot path makes no Redis call).
/// </summary>
[ExpectedSeconds(35)]
public sealed class DpopRedisOutageTests : IAsyncLifetime
{
    private MislataStack? _stack;

    private MislataStack Stack => _stack!;

    public async Task InitializeAsync() => _stack = await MislataStack.StartAsync(new StackOptions());

    public async Task DisposeAsync()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }
    }

    private string Url(string path) => new Uri(Stack.Gateway.BaseAddress, path.TrimStart('/')).ToString();

    [Fact]
    public async Task With_Redis_down_a_DPoP_call_answers_503_and_is_never_accepted_unchecked()
    {
        var op = await Oidc.OperatorTokenAsync(Stack);
        var (clientId, secret) = await DpopTests.ConfidentialAppAsync(Stack, op);
        using var key = DpopTestKey.Es256();
        var form = new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = secret };
        var (ok, tokens) = await DpopTests.TokenAsync(Stack, form, key.Proof("POST", Url("/connect/token")));
        Assert.True(ok == HttpStatusCode.OK, tokens.ToString());
        var bound = tokens.GetProperty("access_token").GetString()!;
        var plain = await Oidc.ClientCredentialsAsync(Stack, clientId, secret);
        Assert.Equal(HttpStatusCode.OK, (await DpopTests.SendAsync(Stack, HttpMethod.Get, "/api/v1/keys", "Bearer", plain)).Status); // warm: JWKS known

        await Stack.Redis.StopAsync();
        try
        {
            var (tokenStatus, tokenError) = await DpopTests.TokenAsync(Stack, form, key.Proof("POST", Url("/connect/token")));
            Assert.True(tokenStatus == HttpStatusCode.ServiceUnavailable, $"{(int)tokenStatus} {tokenError}");
            Assert.Equal("temporarily_unavailable", tokenError.GetProperty("error").GetString());
            Assert.Contains("DPoP", tokenError.GetProperty("error_description").GetString(), StringComparison.Ordinal);

            var (apiStatus, apiBody, _) = await DpopTests.SendAsync(Stack, HttpMethod.Get, "/api/v1/keys", "DPoP", bound, key.Proof("GET", Url("/api/v1/keys"), bound));
            Assert.True(apiStatus == HttpStatusCode.ServiceUnavailable, $"{(int)apiStatus} {apiBody}");
            Assert.Equal("unavailable", apiBody.GetProperty("error").GetString());

            var (userInfoStatus, userInfoBody, _) = await DpopTests.SendAsync(Stack, HttpMethod.Get, "/connect/userinfo", "DPoP", bound, key.Proof("GET", Url("/connect/userinfo"), bound));
            Assert.True(userInfoStatus == HttpStatusCode.ServiceUnavailable, $"{(int)userInfoStatus} {userInfoBody}");

            // The unbound token's path does not need Redis.
            var (plainStatus, plainBody, _) = await DpopTests.SendAsync(Stack, HttpMethod.Get, "/api/v1/keys", "Bearer", plain);
            Assert.True(plainStatus == HttpStatusCode.OK, $"{(int)plainStatus} {plainBody}");
        }
        finally
        {
            await Stack.Redis.StartAsync();
        }

        await Stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        var (after, afterTokens) = await DpopTests.TokenAsync(Stack, form, key.Proof("POST", Url("/connect/token")));
        Assert.True(after == HttpStatusCode.OK, afterTokens.ToString());
    }
}
