using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Tenancy;

/// <summary>
/// An API key's expiry and IP allowlist (issue 9, "the missing tests"), through the gateway and straight to an api
/// replica. The services take <c>X-Forwarded-For</c> only from the gateway's address (127.0.0.1 / ::1 on a local stack,
/// <c>QAPI_TRUSTED_PROXIES</c> elsewhere), never from the rest of 127/8 nor from a client.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class ApiKeyExpiryAndAllowlistTests(TenancyFixture fixture)
{
    private static readonly Uri ApiKeys = new("/api/v1/api-keys", UriKind.Relative);

    private async Task<(Guid Id, string Key)> KeyAsync(Guid tenant, DateTimeOffset? expiresAt = null, string[]? ipAllowlist = null)
    {
        using var op = fixture.Operator();
        using var response = await op.PostAsJsonAsync(new Uri($"/api/v1/admin/tenants/{tenant}/api-keys", UriKind.Relative),
            new { name = "k", scopes = new[] { "apikeys:read" }, expiresAt, ipAllowlist });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        var root = JsonDocument.Parse(body).RootElement;
        return (root.GetProperty("id").GetGuid(), root.GetProperty("key").GetString()!);
    }

    /// <summary>A client whose connections leave from <paramref name="local"/> (another loopback address than the gateway's).</summary>
    private static HttpClient From(IPAddress local, Uri baseAddress, string key, string? forwardedFor)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(local, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler, disposeHandler: true) { BaseAddress = baseAddress };
        client.DefaultRequestHeaders.Add("X-Api-Key", key);
        if (forwardedFor is not null)
        {
            client.DefaultRequestHeaders.Add("X-Forwarded-For", forwardedFor);
        }

        return client;
    }

    private static async Task<(HttpStatusCode Status, string Error)> ReadAsync(HttpClient client)
    {
        using var response = await client.GetAsync(ApiKeys);
        return (response.StatusCode, response.IsSuccessStatusCode ? string.Empty : await TenancyFixture.ErrorCodeAsync(response));
    }

    [Fact]
    public async Task A_key_past_its_expiry_is_401()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (id, key) = await KeyAsync(tenant, DateTimeOffset.UtcNow.AddDays(1));
        await fixture.ExecuteAsync($"UPDATE mislata.api_keys SET expires_at = now() - interval '1 second' WHERE id = '{id}'");

        using var client = fixture.WithKey(key);
        using var response = await client.GetAsync(ApiKeys);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("unauthorized", await TenancyFixture.ErrorCodeAsync(response));
        Assert.Contains("invalid_token", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_created_with_a_short_expiry_works_until_then_and_is_401_afterwards()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, owner) = await KeyAsync(tenant);
        var created = Stopwatch.StartNew();
        var lifetime = TimeSpan.FromSeconds(15);
        var (id, key) = await KeyAsync(tenant, DateTimeOffset.UtcNow + lifetime);
        using var client = fixture.WithKey(key);

        var (before, _) = await ReadAsync(client);
        Assert.True(before == HttpStatusCode.OK || created.Elapsed >= lifetime, $"before its expiry: {(int)before}");

        // Polled gently (the tenant's plan allows 600 requests a minute) until the refusal, at most well past the expiry.
        var status = before;
        while (status != HttpStatusCode.Unauthorized && created.Elapsed < lifetime + TimeSpan.FromSeconds(45))
        {
            await Task.Delay(250);
            (status, _) = await ReadAsync(client);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.True(created.Elapsed >= lifetime - TimeSpan.FromSeconds(1), $"refused after {created.Elapsed}, before its expiry");

        using var owned = fixture.WithKey(owner);
        using var listed = await owned.GetAsync(new Uri($"/api/v1/api-keys/{id}", UriKind.Relative));
        Assert.Equal("expired", JsonDocument.Parse(await listed.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_allowlist_admits_listed_addresses_and_refuses_others_through_the_gateway_whatever_X_Forwarded_For_says()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, local) = await KeyAsync(tenant, ipAllowlist: ["127.0.0.1/32"]);
        var (_, remote) = await KeyAsync(tenant, ipAllowlist: ["203.0.113.0/24"]);

        using (var allowed = fixture.WithKey(local))
        {
            Assert.Equal(HttpStatusCode.OK, (await ReadAsync(allowed)).Status);
        }

        using var refused = fixture.WithKey(remote);
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), await ReadAsync(refused));

        // The gateway replaces a client's X-Forwarded-For with the address it sees.
        refused.DefaultRequestHeaders.Add("X-Forwarded-For", "203.0.113.7");
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), await ReadAsync(refused));
    }

    [Fact]
    public async Task A_forged_X_Forwarded_For_sent_straight_to_a_service_from_another_loopback_address_does_not_pass_the_allowlist()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, gatewayOnly) = await KeyAsync(tenant, ipAllowlist: ["127.0.0.1/32"]);
        var (_, remote) = await KeyAsync(tenant, ipAllowlist: ["203.0.113.0/24"]);
        var (_, second) = await KeyAsync(tenant, ipAllowlist: ["127.0.0.2/32"]);
        var other = IPAddress.Parse("127.0.0.2");

        foreach (var replica in fixture.ApiReplicas)
        {
            // The connection from 127.0.0.2 itself works: its own address is what the allowlist sees…
            using (var plain = From(other, replica, second, forwardedFor: null))
            {
                Assert.Equal(HttpStatusCode.OK, (await ReadAsync(plain)).Status);
            }

            // …and the address it claims in X-Forwarded-For is ignored, whichever it is.
            using (var claimsGateway = From(other, replica, gatewayOnly, forwardedFor: "127.0.0.1"))
            {
                Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), await ReadAsync(claimsGateway));
            }

            using (var claimsAllowed = From(other, replica, remote, forwardedFor: "203.0.113.7"))
            {
                Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), await ReadAsync(claimsAllowed));
            }

            // The gateway's address (127.0.0.1) is the trusted proxy: what it forwards is the client's address.
            using var viaTrustedProxy = From(IPAddress.Loopback, replica, remote, forwardedFor: "203.0.113.7");
            Assert.Equal(HttpStatusCode.OK, (await ReadAsync(viaTrustedProxy)).Status);
        }
    }
}
