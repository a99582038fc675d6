using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Tenancy;

/// <summary>The tenant's audit trail through the gateway: tamper evidence and no secrets.</summary>
[Collection(TenancyCollection.Name)]
public sealed class AuditTrailTests(TenancyFixture fixture)
{
    private async Task<(Guid Tenant, string Key, List<string> IssuedKeys)> TenantWithEventsAsync(int keys)
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write", "audit:read"]);
        var issued = new List<string>();
        using var client = fixture.WithKey(key);
        for (var i = 0; i < keys; i++)
        {
            using var response = await client.PostAsJsonAsync(new Uri("/api/v1/api-keys", UriKind.Relative), new { name = "k" + i, scopes = new[] { "apikeys:read" } });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            issued.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("key").GetString()!);
        }

        return (tenant, key, issued);
    }

    private static async Task<JsonElement> VerifyAsync(HttpClient client)
    {
        using var response = await client.GetAsync(new Uri("/api/v1/audit/verify", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
    }

    [Fact]
    public async Task Editing_an_audit_row_in_postgres_makes_verify_report_that_event()
    {
        var (tenant, key, _) = await TenantWithEventsAsync(4);
        using var client = fixture.WithKey(key);
        var before = await VerifyAsync(client);
        Assert.True(before.GetProperty("valid").GetBoolean());
        var checkedBefore = before.GetProperty("checked").GetInt64();
        Assert.True(checkedBefore >= 4, $"checked {checkedBefore}");

        var target = await ScalarGuidAsync($"SELECT id FROM mislata.audit_events WHERE tenant_id = '{tenant}' ORDER BY sequence LIMIT 1 OFFSET 1");
        await fixture.ExecuteAsync($"UPDATE mislata.audit_events SET action = 'apikey.nothing-happened' WHERE id = '{target}'");

        var after = await VerifyAsync(client);
        Assert.False(after.GetProperty("valid").GetBoolean());
        Assert.Equal(target, after.GetProperty("firstInvalidEventId").GetGuid());
    }

    [Fact]
    public async Task Deleting_an_audit_row_in_postgres_makes_verify_report_the_event_after_it()
    {
        var (tenant, key, _) = await TenantWithEventsAsync(4);
        using var client = fixture.WithKey(key);
        Assert.True((await VerifyAsync(client)).GetProperty("valid").GetBoolean());

        var next = await ScalarGuidAsync($"SELECT id FROM mislata.audit_events WHERE tenant_id = '{tenant}' ORDER BY sequence LIMIT 1 OFFSET 2");
        await fixture.ExecuteAsync($"DELETE FROM mislata.audit_events WHERE tenant_id = '{tenant}' AND sequence = (SELECT sequence FROM mislata.audit_events WHERE tenant_id = '{tenant}' ORDER BY sequence LIMIT 1 OFFSET 1)");

        var after = await VerifyAsync(client);
        Assert.False(after.GetProperty("valid").GetBoolean());
        Assert.Equal(next, after.GetProperty("firstInvalidEventId").GetGuid());
    }

    [Fact]
    public async Task The_trail_lists_key_lifecycle_events_and_holds_no_secret()
    {
        var (tenant, key, issued) = await TenantWithEventsAsync(2);
        using var client = fixture.WithKey(key);
        using var response = await client.GetAsync(new Uri("/api/v1/audit?limit=100", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var data = JsonDocument.Parse(text).RootElement.GetProperty("data");
        Assert.True(data.GetArrayLength() >= 2);

        // Neither the API nor the table holds any key the platform issued, nor the hash-lookup form of it.
        await using var connection = new Npgsql.NpgsqlConnection(fixture.Stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            $"SELECT coalesce(string_agg(concat_ws('|', actor_id, action, resource_id, error_code, request_id, details::text), E'\\n'), '') FROM mislata.audit_events WHERE tenant_id = '{tenant}' OR tenant_id IS NULL", connection);
        var rows = (string)(await command.ExecuteScalarAsync())!;
        foreach (var secret in issued.Append(key))
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, rows, StringComparison.Ordinal);
            Assert.DoesNotContain(secret["qapi_".Length..], rows, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Bad_audit_queries_are_400_problems()
    {
        var (_, key, _) = await TenantWithEventsAsync(0);
        using var client = fixture.WithKey(key);
        foreach (var query in new[] { "?limit=0", "?limit=101", "?limit=abc", "?cursor=%%%", "?from=yesterday", "?outcome=maybe" })
        {
            using var response = await client.GetAsync(new Uri("/api/v1/audit" + query, UriKind.Relative));
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{query}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    private async Task<Guid> ScalarGuidAsync(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(fixture.Stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        return (Guid)(await command.ExecuteScalarAsync())!;
    }
}
