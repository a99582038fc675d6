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
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write", "users:write", "keys:read", "encryption:write", "secrets:read", "secrets:write"]);
        var userPassword = "Pw-" + Guid.NewGuid().ToString("N") + "-Secret";
        using (var client = fixture.WithKey(key))
        {
            // Idempotent creates keep their first response for replay: that response holds the new key, and the
            // request a password; neither may be readable in Redis.
            using var createRequest = new HttpRequestMessage(HttpMethod.Post, "/api/v1/api-keys")
            {
                Content = JsonContent.Create(new { name = "short-lived", scopes = new[] { "apikeys:read" } }),
            };
            createRequest.Headers.Add("Idempotency-Key", "secret-check-" + Guid.NewGuid().ToString("N"));
            using var created = await client.SendAsync(createRequest);
            using var userRequest = new HttpRequestMessage(HttpMethod.Post, "/api/v1/users")
            {
                Content = JsonContent.Create(new { email = $"s-{Guid.NewGuid():N}@e2e.mislata.test", password = userPassword, roles = new[] { "tenant-member" } }),
            };
            userRequest.Headers.Add("Idempotency-Key", "secret-user-" + Guid.NewGuid().ToString("N"));
            using var userCreated = await client.SendAsync(userRequest);
            Assert.Equal(HttpStatusCode.Created, userCreated.StatusCode);
            var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement;
            var secondKey = body.GetProperty("key").GetString()!;
            using var revoked = await client.DeleteAsync(new Uri($"/api/v1/api-keys/{body.GetProperty("id").GetGuid()}", UriKind.Relative));
            Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
            using (var refused = fixture.WithKey(secondKey))
            {
                var (status, _, _) = await TenancyFixture.EventuallyAsync(() => refused.GetAsync(new Uri("/api/v1/api-keys", UriKind.Relative)), HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(1));
                Assert.Equal(HttpStatusCode.Unauthorized, status);
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
            fixture.Stack.AdminPassword, fixture.Stack.MasterKey, userPassword);
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
            // Values are also searched inside any base64 they carry (a JSON byte[] is base64).
            var readable = values.Where(v => v is not null).SelectMany(v => new[] { v! }.Concat(DecodedBase64(v!))).ToList();
            foreach (var secret in secrets)
            {
                Assert.False(name.Contains(secret, StringComparison.Ordinal), "a Redis key name holds a secret");
                Assert.DoesNotContain(readable, v => v.Contains(secret, StringComparison.Ordinal));
            }
        }
    }

    private static IEnumerable<string> DecodedBase64(string value)
    {
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(value, "[A-Za-z0-9+/]{24,}={0,2}"))
        {
            var token = m.Value;
            var padded = token.TrimEnd('=');
            padded += new string('=', (4 - (padded.Length % 4)) % 4);
            var buffer = new byte[padded.Length];
            if (Convert.TryFromBase64String(padded, buffer, out var written))
            {
                yield return System.Text.Encoding.UTF8.GetString(buffer, 0, written);
            }
        }
    }
}
