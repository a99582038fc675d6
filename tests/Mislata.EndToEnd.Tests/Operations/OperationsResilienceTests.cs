using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Operations;

/// <summary>A platform with its own PostgreSQL, which the test stops: one api replica.</summary>
public sealed class OwnPostgresFixture : TenancyFixture
{
    protected override StackOptions Options() => base.Options() with { ApiReplicas = 1, OwnPostgres = true };
}

/// <summary>
/// With PostgreSQL down the audit log cannot store the event of an operation, so the operation answers
/// <c>503 unavailable</c> with <c>Retry-After</c> and no result — even though the key is in the api's memory — and never
/// a 500; once PostgreSQL is back the same calls succeed, with no restart of the api.
/// </summary>
public sealed class OperationsResilienceTests(OwnPostgresFixture fixture) : IClassFixture<OwnPostgresFixture>
{
    private static Uri U(string path) => new(path, UriKind.Relative);

    [Fact]
    public async Task Operations_fail_closed_with_503_while_the_audit_store_is_down_and_work_again_after()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, apiKey) = await fixture.CreateKeyAsync(tenant, ["keys:write", "encryption:write"]);
        using var client = fixture.WithKey(apiKey);
        client.Timeout = TimeSpan.FromMinutes(2);
        using var created = await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "resilient", algorithm = "AES-256-GCM" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var keyId = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid();
        using var warm = await client.PostAsJsonAsync(U("/api/v1/encrypt"), new { plaintext = "warm", keyId });
        Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        var payload = JsonDocument.Parse(await warm.Content.ReadAsStringAsync()).RootElement.GetProperty("encryptedPayload").GetString();
        var api = fixture.Stack.Of("api").Single();
        var pid = api.ProcessId;

        await fixture.Stack.Postgres.StopAsync();
        try
        {
            foreach (var (operation, body) in new (string, object)[]
            {
                ("encrypt", new { plaintext = "while down", keyId }),
                ("decrypt", new { encryptedPayload = payload }),
                ("encrypt/batch", new { keyId, items = new[] { new { plaintext = "x" } } }),
                ("random", new { bytes = 16 }),
            })
            {
                using var response = await client.PostAsJsonAsync(U("/api/v1/" + operation), body);
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{operation} with PostgreSQL down: {(int)response.StatusCode} {text}");
                Assert.Equal("unavailable", JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
                Assert.NotNull(response.Headers.RetryAfter);
                Assert.DoesNotContain("while down", text, StringComparison.Ordinal);
                Assert.DoesNotContain("encryptedPayload", text, StringComparison.Ordinal);
            }
        }
        finally
        {
            await fixture.Stack.Postgres.StartAsync();
        }

        await fixture.Stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        var (status, _, answer) = await TenancyFixture.EventuallyAsync(() => client.PostAsJsonAsync(U("/api/v1/encrypt"), new { plaintext = "back", keyId }), HttpStatusCode.OK, TimeSpan.FromSeconds(30));
        Assert.True(status == HttpStatusCode.OK, answer);
        Assert.Equal(pid, api.ProcessId);
        Assert.False(api.HasExited);
    }
}
