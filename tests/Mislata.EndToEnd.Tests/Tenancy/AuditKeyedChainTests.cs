using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Tenancy;

/// <summary>
/// The keyed audit chain through the gateway (issue 8, "Audit that cannot be bypassed or forged"): a rewrite done with
/// SQL alone is reported; <c>/audit/verify</c> is incremental from a checkpoint, bounded per call, and rate limited.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class AuditKeyedChainTests(TenancyFixture fixture)
{
    private static Uri Verify(string query = "") => new("/api/v1/audit/verify" + query, UriKind.Relative);

    /// <summary>A tenant whose chain holds <paramref name="keys"/> + 1 events (key creations), and a key that reads its trail.</summary>
    private async Task<(Guid Tenant, string Key)> TenantWithEventsAsync(int keys)
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write", "audit:read"]);
        using var client = fixture.WithKey(key);
        for (var i = 0; i < keys; i++)
        {
            using var response = await client.PostAsJsonAsync(new Uri("/api/v1/api-keys", UriKind.Relative), new { name = "k" + i, scopes = new[] { "apikeys:read" } });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        return (tenant, key);
    }

    private static async Task<JsonElement> VerifyAsync(HttpClient client, string query = "")
    {
        using var response = await client.GetAsync(Verify(query));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    [Fact]
    public async Task A_rewrite_recomputed_with_the_unkeyed_rule_using_the_database_alone_is_reported_by_verify()
    {
        var (tenant, key) = await TenantWithEventsAsync(4);
        using var client = fixture.WithKey(key);
        Assert.True((await VerifyAsync(client)).GetProperty("valid").GetBoolean());

        // An attacker with database access (and the source code, but not the master key) hides a key creation: rewrites
        // the row, recomputes every later link and the chain head under the published rule.
        var target = await ScalarGuidAsync($"SELECT id FROM mislata.audit_events WHERE tenant_id = '{tenant}' ORDER BY sequence LIMIT 1 OFFSET 2");
        await fixture.ExecuteAsync($"UPDATE mislata.audit_events SET action = 'apikey.nothing-happened', resource_id = NULL WHERE id = '{target}'");
        await UnkeyedAuditRewrite.RechainAsync(fixture.Stack.PostgresConnectionString, tenant, 3);

        var after = await VerifyAsync(client);
        Assert.False(after.GetProperty("valid").GetBoolean());
        Assert.Equal(target, after.GetProperty("firstInvalidEventId").GetGuid());
    }

    [Fact]
    public async Task Verify_reads_at_most_the_limit_per_call_says_when_more_remains_and_continues_from_its_checkpoint()
    {
        var (_, key) = await TenantWithEventsAsync(4);
        using var client = fixture.WithKey(key);

        var seen = new List<long>();
        for (var call = 0; call < 3; call++)
        {
            var page = await VerifyAsync(client, "?limit=2");
            Assert.True(page.GetProperty("valid").GetBoolean());
            Assert.True(page.GetProperty("checked").GetInt64() <= 2, page.ToString());
            seen.Add(page.GetProperty("verifiedThrough").GetInt64());
            Assert.Equal(call < 2, !page.GetProperty("complete").GetBoolean());
        }

        Assert.Equal([2L, 4L, 5L], seen);

        // Out-of-range limits are refused as problems, not clamped silently.
        foreach (var query in new[] { "?limit=0", "?limit=10001", "?limit=many" })
        {
            using var bad = await client.GetAsync(Verify(query));
            Assert.True(bad.StatusCode == HttpStatusCode.BadRequest, $"{query}: {(int)bad.StatusCode}");
            Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Verify_is_rate_limited_per_tenant_with_Retry_After()
    {
        var (_, key) = await TenantWithEventsAsync(0);
        var (_, otherKey) = await TenantWithEventsAsync(0);
        using var client = fixture.WithKey(key);

        HttpResponseMessage? limited = null;
        for (var i = 0; i < 40 && limited is null; i++)
        {
            var response = await client.GetAsync(Verify());
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
                Assert.True(i >= 20, $"limited after {i} calls");
            }
            else
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                response.Dispose();
            }
        }

        Assert.NotNull(limited);
        using (limited)
        {
            Assert.Equal("rate_limited", await TenancyFixture.ErrorCodeAsync(limited));
            Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero, limited.Headers.RetryAfter?.ToString());
        }

        // Another tenant's verification is not held back.
        using var other = fixture.WithKey(otherKey);
        Assert.True((await VerifyAsync(other)).GetProperty("valid").GetBoolean());
    }

    private async Task<Guid> ScalarGuidAsync(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(fixture.Stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        return (Guid)(await command.ExecuteScalarAsync())!;
    }
}
