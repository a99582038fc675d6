using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using StackExchange.Redis;

namespace Mislata.EndToEnd.Tests.Tenancy;

/// <summary>No API key, token, client secret or password in the services' logs or in Redis.</summary>
[Collection(TenancyCollection.Name)]
public sealed class SecretsStaySecretTests(TenancyFixture fixture)
{
    [Fact]
    public async Task Keys_tokens_and_passwords_appear_in_no_log_and_no_redis_value()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write"]);
        using (var client = fixture.WithKey(key))
        {
            using var created = await client.PostAsJsonAsync(new Uri("/api/v1/api-keys", UriKind.Relative), new { name = "short-lived", scopes = new[] { "apikeys:read" } });
            var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement;
            var secondKey = body.GetProperty("key").GetString()!;
            using var revoked = await client.DeleteAsync(new Uri($"/api/v1/api-keys/{body.GetProperty("id").GetGuid()}", UriKind.Relative));
            Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
            using (var refused = fixture.WithKey(secondKey))
            {
                using var r = await refused.GetAsync(new Uri("/api/v1/api-keys", UriKind.Relative));
                Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            }

            await AssertNowhereAsync(secondKey);
        }

        // A well-formed but unknown key, and a garbage bearer token, are refused without being echoed.
        var unknown = "qapi_" + TestEnvironment.RandomToken(32)[..43];
        using (var stranger = fixture.WithKey(unknown))
        {
            using var r = await stranger.GetAsync(new Uri("/api/v1/api-keys", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            Assert.DoesNotContain(unknown, await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var junkToken = "eyJhbGciOiJFUzI1NiJ9." + TestEnvironment.RandomToken(40) + "." + TestEnvironment.RandomToken(40);
        using (var bearer = fixture.Stack.Gateway.CreateClient())
        {
            bearer.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", junkToken);
            using var r = await bearer.GetAsync(new Uri("/api/v1/api-keys", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }

        await AssertNowhereAsync(key, unknown, junkToken, fixture.OperatorToken, fixture.Stack.BootstrapClientSecret,
            fixture.Stack.AdminPassword, fixture.Stack.MasterKey);
    }

    private async Task AssertNowhereAsync(params string[] secrets)
    {
        foreach (var service in fixture.Stack.Services)
        {
            var output = service.Output;
            foreach (var secret in secrets)
            {
                Assert.False(output.Contains(secret, StringComparison.Ordinal), $"{service.Name} logged a secret");
            }
        }

        await using var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Stack.Redis.Configuration + ",allowAdmin=true");
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var db = redis.GetDatabase();
        await foreach (var redisKey in server.KeysAsync(pattern: "*"))
        {
            var name = redisKey.ToString();
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
            foreach (var secret in secrets)
            {
                Assert.False(name.Contains(secret, StringComparison.Ordinal), "a Redis key name holds a secret");
                Assert.DoesNotContain(values, v => v is not null && v.Contains(secret, StringComparison.Ordinal));
            }
        }
    }
}
