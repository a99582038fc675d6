using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;
using Npgsql;
using StackExchange.Redis;

namespace Mislata.EndToEnd.Tests.Operations;

/// <summary>
/// A unique plaintext and a unique context, sent through every operation (and through failing calls), never appear in
/// the services' logs, in Redis (every key and value, and what base64 inside them decodes to), in the audit rows or in a
/// pg_dump of the whole database — neither as text, nor base64, nor hex.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class MarkerTests(TenancyFixture fixture)
{
    private static Uri U(string path) => new(path, UriKind.Relative);

    [Fact]
    public async Task Plaintext_and_context_markers_appear_in_no_log_redis_value_audit_row_or_database_dump()
    {
        var plaintext = "PLAINTEXT-MARKER-" + Guid.NewGuid().ToString("N");
        var context = "CONTEXT-MARKER-" + Guid.NewGuid().ToString("N");
        var tenant = await fixture.CreateTenantAsync();
        var (_, apiKey) = await fixture.CreateKeyAsync(tenant, ["keys:read", "keys:write", "encryption:write"]);
        using var client = fixture.WithKey(apiKey);
        client.Timeout = TimeSpan.FromMinutes(3);

        var keys = new Dictionary<string, Guid>();
        foreach (var algorithm in new[] { "AES-256-GCM", "ML-KEM-768", "RSA-2048", "ML-DSA-65", "HMAC-SHA512" })
        {
            using var created = await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "m-" + Guid.NewGuid().ToString("N")[..8], algorithm });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            keys[algorithm] = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid();
        }

        var base64Plaintext = Convert.ToBase64String(Encoding.UTF8.GetBytes(plaintext));
        foreach (var algorithm in new[] { "AES-256-GCM", "ML-KEM-768", "RSA-2048" })
        {
            var keyId = keys[algorithm];
            var payload = await FieldAsync(client, "encrypt", new { plaintext, keyId, context }, "encryptedPayload");
            var payload64 = await FieldAsync(client, "encrypt", new { plaintext = base64Plaintext, encoding = "base64", keyId, context }, "encryptedPayload");
            Assert.Equal(plaintext, await FieldAsync(client, "decrypt", new { encryptedPayload = payload, context }, "plaintext"));
            Assert.Equal(base64Plaintext, await FieldAsync(client, "decrypt", new { encryptedPayload = payload64, context }, "plaintext"));
            await FieldAsync(client, "rewrap", new { encryptedPayload = payload, context }, "encryptedPayload");
            await FieldAsync(client, "datakey", new { keyId, context }, "encryptedPayload");
            using var batch = await client.PostAsJsonAsync(U("/api/v1/encrypt/batch"), new { keyId, items = new[] { new { plaintext, context }, new { plaintext, context = context + "2" } } });
            Assert.Equal(HttpStatusCode.OK, batch.StatusCode);
            using var batchDecrypt = await client.PostAsJsonAsync(U("/api/v1/decrypt/batch"), new { items = new[] { new { encryptedPayload = payload, context }, new { encryptedPayload = payload, context = context + "x" } } });
            Assert.Equal(HttpStatusCode.OK, batchDecrypt.StatusCode);

            // Failing calls carry the markers too.
            using var wrongContext = await client.PostAsJsonAsync(U("/api/v1/decrypt"), new { encryptedPayload = payload, context = context + "-wrong" });
            Assert.Equal(HttpStatusCode.BadRequest, wrongContext.StatusCode);
            using var badKey = await client.PostAsJsonAsync(U("/api/v1/encrypt"), new { plaintext, keyId = "bad-" + plaintext, context });
            Assert.Equal(HttpStatusCode.BadRequest, badKey.StatusCode);
            Assert.DoesNotContain(plaintext, await badKey.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var signature = await FieldAsync(client, "sign", new { message = plaintext, keyId = keys["ML-DSA-65"], context }, "signature");
        using (var verified = await client.PostAsJsonAsync(U("/api/v1/verify"), new { message = plaintext, signature, keyId = keys["ML-DSA-65"], context }))
        {
            Assert.Contains("\"valid\":true", await verified.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var mac = await FieldAsync(client, "hmac", new { message = plaintext, keyId = keys["HMAC-SHA512"] }, "mac");
        using (var macVerified = await client.PostAsJsonAsync(U("/api/v1/hmac/verify"), new { message = plaintext, mac, keyId = keys["HMAC-SHA512"] }))
        {
            Assert.Equal(HttpStatusCode.OK, macVerified.StatusCode);
        }

        var forms = new[] { plaintext, context, base64Plaintext, Convert.ToBase64String(Encoding.UTF8.GetBytes(context)), Hex(plaintext), Hex(context) };

        // Logs of every service.
        foreach (var service in fixture.Stack.Services)
        {
            foreach (var form in forms)
            {
                Assert.False(service.Output.Contains(form, StringComparison.OrdinalIgnoreCase), $"{service.Name} logged a marker");
            }
        }

        // Redis: every key name and value, and what the base64 in them decodes to.
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Stack.Redis.Configuration + ",allowAdmin=true"))
        {
            var server = redis.GetServer(redis.GetEndPoints()[0]);
            var db = redis.GetDatabase();
            await foreach (var redisKey in server.KeysAsync(pattern: "*"))
            {
                var type = await db.KeyTypeAsync(redisKey);
                var values = type switch
                {
                    RedisType.String => [(string?)await db.StringGetAsync(redisKey)],
                    RedisType.Hash => (await db.HashGetAllAsync(redisKey)).Select(e => $"{e.Name}={e.Value}").ToArray(),
                    RedisType.List => (await db.ListRangeAsync(redisKey)).Select(v => (string?)v).ToArray(),
                    RedisType.Set => (await db.SetMembersAsync(redisKey)).Select(v => (string?)v).ToArray(),
                    RedisType.SortedSet => (await db.SortedSetRangeByRankAsync(redisKey)).Select(v => (string?)v).ToArray(),
                    _ => [],
                };
                var readable = values.Where(v => v is not null).SelectMany(v => new[] { v! }.Concat(DecodedBase64(v!))).Append(redisKey.ToString()).ToList();
                foreach (var form in forms)
                {
                    Assert.DoesNotContain(readable, v => v.Contains(form, StringComparison.OrdinalIgnoreCase));
                }
            }
        }

        // Audit rows: the operations were recorded (key ids), never their data or context.
        Assert.True(await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{tenant}' AND action LIKE 'crypto.%'") >= 20);
        foreach (var form in forms)
        {
            Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events a WHERE position(lower('{form}') in lower(a::text)) > 0"));
        }

        // A dump of the whole database.
        var csb = new NpgsqlConnectionStringBuilder(fixture.Stack.PostgresConnectionString);
        var dump = await Processes.RunAsync("pg_dump", ["--no-owner", "--data-only"], new Dictionary<string, string>
        {
            ["PGHOST"] = csb.Host!, ["PGPORT"] = csb.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), ["PGUSER"] = csb.Username!,
            ["PGPASSWORD"] = csb.Password ?? string.Empty, ["PGDATABASE"] = csb.Database!,
        }, TimeSpan.FromMinutes(5));
        Assert.Contains(keys["AES-256-GCM"].ToString(), dump, StringComparison.Ordinal);
        foreach (var form in forms)
        {
            Assert.False(dump.Contains(form, StringComparison.OrdinalIgnoreCase), "the database dump holds a marker");
        }
    }

    private static async Task<string> FieldAsync(HttpClient client, string operation, object body, string field)
    {
        using var response = await client.PostAsJsonAsync(U("/api/v1/" + operation), body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{operation}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty(field).GetString()!;
    }

    private static string Hex(string text) => Convert.ToHexString(Encoding.UTF8.GetBytes(text));

    private static IEnumerable<string> DecodedBase64(string value)
    {
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(value, "[A-Za-z0-9+/]{24,}={0,2}"))
        {
            var padded = m.Value.TrimEnd('=');
            padded += new string('=', (4 - (padded.Length % 4)) % 4);
            var buffer = new byte[padded.Length];
            if (Convert.TryFromBase64String(padded, buffer, out var written))
            {
                yield return Encoding.UTF8.GetString(buffer, 0, written);
            }
        }
    }
}
