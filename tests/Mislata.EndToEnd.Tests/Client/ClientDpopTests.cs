using Mislata.Client;
using Mislata.Client.Authentication;
using Mislata.EndToEnd.Tests.Identity;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Client;

/// <summary>
/// The client library with a DPoP key: its client-credentials tokens are bound to the key (an application that
/// requires DPoP and a server nonce serves it), and its API calls carry a fresh proof each; without the key the same
/// application gets no token.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class ClientDpopTests(TenancyFixture fixture)
{
    [Fact]
    public async Task A_client_with_a_DPoP_key_gets_bound_tokens_and_calls_the_api_with_a_proof_per_request()
    {
        var op = await Oidc.OperatorTokenAsync(fixture.Stack);
        var (clientId, secret) = await DpopTests.ConfidentialAppAsync(fixture.Stack, op, requireDpop: true);

        using var key = DpopKey.Create();
        var (client, services) = ClientKit.Create(fixture, o => o.ClientCredentials = new ClientCredentialsOptions { ClientId = clientId, ClientSecret = secret, Scope = "keys:read", DpopKey = key });
        await using (services)
        {
            // Two calls with one cached token: each needs its own proof (a reused one is refused as a replay).
            Assert.NotNull(await client.Keys.ListAsync());
            Assert.NotNull(await client.Keys.ListAsync());
        }

        var (bearer, bearerServices) = ClientKit.Create(fixture, o => o.ClientCredentials = new ClientCredentialsOptions { ClientId = clientId, ClientSecret = secret, Scope = "keys:read" });
        await using (bearerServices)
        {
            var refused = await ClientKit.FailsAsync(() => bearer.Keys.ListAsync());
            Assert.Equal("invalid_dpop_proof", refused.Title);
        }
    }
}
