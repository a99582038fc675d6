using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Client;
using Mislata.Client.Contracts;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>Stops and restarts Redis and PostgreSQL under a running platform: readiness follows, no service restarts.</summary>
[ExpectedSeconds(50)]
public sealed class ResilienceTests : IAsyncLifetime
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
    public async Task Health_follows_redis_and_postgres_going_down_and_coming_back()
    {
        var pids = Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList();
        var (secretsKey, secretId) = await TenantWithSecretAsync();
        var sshCaId = await SshCaAsync(secretsKey);
        var operatorToken = await OperatorTokenAsync();

        await Stack.Redis.StopAsync();
        var (_, downBody) = await Stack.WaitHealthAsync(HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(10));
        AssertDependencyNamed(downBody, "redis");
        await Stack.Redis.StartAsync();
        await Stack.WaitHealthAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(30));

        await Stack.Postgres.StopAsync();
        (_, downBody) = await Stack.WaitHealthAsync(HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(10));
        AssertDependencyNamed(downBody, "postgres");
        await AssertUnavailableAsync(HttpMethod.Get, "api/v1/keys", apiKey: true);
        await AssertUnavailableAsync(HttpMethod.Get, "api/v1/api-keys", apiKey: true);
        await AssertUnavailableAsync(HttpMethod.Post, "connect/token", apiKey: false);
        await AssertSecretsUnavailableAsync(secretsKey, secretId);
        await AssertSshUnavailableAsync(secretsKey, sshCaId);
        await AssertLicenceUnavailableAsync(operatorToken);
        await Stack.Postgres.StartAsync();
        await Stack.WaitHealthAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(30));

        Assert.All(Stack.Services, s => Assert.False(s.HasExited, $"{s.Name} exited"));
        // No service restarted: the same processes, not merely the same ports.
        Assert.Equal(pids, Stack.Services.Select(s => (s.Name, s.ProcessId)).ToList());
    }

    [Fact]
    public async Task The_client_library_retries_a_read_answered_503_while_postgres_is_down_and_gets_it_when_postgres_is_back()
    {
        var (secretsKey, secretId) = await TenantWithSecretAsync();
        var statuses = new ConcurrentQueue<int?>();
        var thumbprint = Stack.Gateway.Certificate.GetCertHashString();
        var services = new ServiceCollection();
        services.AddMislataClient(o =>
        {
            o.BaseAddress = Stack.Gateway.BaseAddress;
            o.ConfigureHandler = h => h.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == thumbprint;
            o.ApiKey = secretsKey;
            o.MaxRetries = 10;
            o.RetryBaseDelay = TimeSpan.FromSeconds(1);
            o.MaxRetryDelay = TimeSpan.FromSeconds(3);
            o.OnRetry = (_, _, status) => statuses.Enqueue(status);
        });
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<MislataClient>();

        await Stack.Postgres.StopAsync();
        Task<SecretValue> read;
        try
        {
            read = client.Secrets.GetAsync(secretId);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (!statuses.Contains(503) && !read.IsCompleted && watch.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(100);
            }
        }
        finally
        {
            await Stack.Postgres.StartAsync();
        }

        // The GET was answered 503 while PostgreSQL was down, retried, and answered once it was back.
        Assert.Equal(secretId, (await read).Id);
        Assert.Contains(503, statuses);
    }

    /// <summary>A tenant (through the bootstrap operator client), an API key with the secrets scopes and one secret.</summary>
    private async Task<(string Key, Guid SecretId)> TenantWithSecretAsync()
    {
        using var client = Stack.Gateway.CreateClient();
        using var token = await client.PostAsync(new Uri("/connect/token", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = Stack.BootstrapClientId,
            ["client_secret"] = Stack.BootstrapClientSecret,
            ["scope"] = "platform:admin",
        }));
        var tokenBody = await token.Content.ReadAsStringAsync();
        Assert.True(token.IsSuccessStatusCode, $"token: {(int)token.StatusCode} {tokenBody}");
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", JsonDocument.Parse(tokenBody).RootElement.GetProperty("access_token").GetString());
        var tenant = await CreatedAsync(client, "/api/v1/admin/tenants", new { name = "t-" + Guid.NewGuid().ToString("N")[..12] });
        var key = (await CreatedAsync(client, $"/api/v1/admin/tenants/{tenant.GetProperty("id").GetGuid()}/api-keys", new { name = "secrets", scopes = new[] { "secrets:read", "secrets:write", "ssh:read", "ssh:write" } }))
            .GetProperty("key").GetString()!;
        using var owner = Stack.Gateway.CreateClient();
        owner.DefaultRequestHeaders.Add("X-Api-Key", key);
        var secret = await CreatedAsync(owner, "/api/v1/secrets", new { name = "db/password", value = "resilient" });
        using var read = await owner.GetAsync(new Uri($"/api/v1/secrets/{secret.GetProperty("id").GetGuid()}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        return (key, secret.GetProperty("id").GetGuid());
    }

    private static async Task<JsonElement> CreatedAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsync(new Uri(path, UriKind.Relative), System.Net.Http.Json.JsonContent.Create(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private async Task<string> OperatorTokenAsync()
    {
        using var client = Stack.Gateway.CreateClient();
        using var token = await client.PostAsync(new Uri("/connect/token", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = Stack.BootstrapClientId,
            ["client_secret"] = Stack.BootstrapClientSecret,
            ["scope"] = "platform:admin",
        }));
        var body = await token.Content.ReadAsStringAsync();
        Assert.True(token.IsSuccessStatusCode, $"token: {(int)token.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString()!;
    }

    /// <summary>The licence's status and installation while PostgreSQL is down: 503 <c>unavailable</c>, never a 500.</summary>
    private async Task AssertLicenceUnavailableAsync(string operatorToken)
    {
        using var client = Stack.Gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", operatorToken);
        var licence = Mislata.Testing.Licensing.TestVendor.Issue(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        foreach (var (method, body) in new (HttpMethod, object?)[] { (HttpMethod.Get, null), (HttpMethod.Put, new { license = licence }) })
        {
            using var request = new HttpRequestMessage(method, "/api/v1/admin/license") { Content = body is null ? null : System.Net.Http.Json.JsonContent.Create(body) };
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{method} /api/v1/admin/license with PostgreSQL down: {(int)response.StatusCode} {text}");
            Assert.Equal("unavailable", JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
        }
    }

    /// <summary>An SSH CA of the key's tenant (created while PostgreSQL is up).</summary>
    private async Task<Guid> SshCaAsync(string key)
    {
        using var owner = Stack.Gateway.CreateClient();
        owner.DefaultRequestHeaders.Add("X-Api-Key", key);
        return (await CreatedAsync(owner, "/api/v1/ssh/ca", new { name = "outage-ca", algorithm = "Ed25519" })).GetProperty("id").GetGuid();
    }

    /// <summary>Every SSH CA route of a known caller, while PostgreSQL is down: 503 <c>unavailable</c>, never a 500.</summary>
    private async Task AssertSshUnavailableAsync(string key, Guid caId)
    {
        var routes = new (HttpMethod Method, string Path, object? Body)[]
        {
            (HttpMethod.Post, "/api/v1/ssh/ca", new { name = "new", algorithm = "Ed25519" }),
            (HttpMethod.Get, "/api/v1/ssh/ca", null),
            (HttpMethod.Get, $"/api/v1/ssh/ca/{caId}", null),
            (HttpMethod.Post, "/api/v1/ssh/certificates", new
            {
                caId, type = "user", keyId = "k", principals = new[] { "alice" }, validitySeconds = 60,
                publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM",
            }),
            (HttpMethod.Get, "/api/v1/ssh/certificates", null),
            (HttpMethod.Get, $"/api/v1/ssh/certificates/{caId}", null),
        };
        await AssertRoutesUnavailableAsync(key, routes);
    }

    /// <summary>Every secrets route of a known caller, while PostgreSQL is down: 503 <c>unavailable</c>, never a 500, and no value.</summary>
    private async Task AssertSecretsUnavailableAsync(string key, Guid id)
    {
        var routes = new (HttpMethod Method, string Path, object? Body)[]
        {
            (HttpMethod.Post, "/api/v1/secrets", new { name = "new", value = "v" }),
            (HttpMethod.Get, "/api/v1/secrets", null),
            (HttpMethod.Get, $"/api/v1/secrets/{id}", null),
            (HttpMethod.Put, $"/api/v1/secrets/{id}", new { value = "v2", expectedVersion = 1 }),
            (HttpMethod.Patch, $"/api/v1/secrets/{id}", new { description = "d" }),
            (HttpMethod.Get, $"/api/v1/secrets/{id}/versions", null),
            (HttpMethod.Delete, $"/api/v1/secrets/{id}", null),
            (HttpMethod.Post, $"/api/v1/secrets/{id}/restore", null),
        };
        await AssertRoutesUnavailableAsync(key, routes);
    }

    /// <summary>Each route of a known caller, while PostgreSQL is down: 503 <c>unavailable</c> with Retry-After, never a 500, and no secret value.</summary>
    private async Task AssertRoutesUnavailableAsync(string key, IEnumerable<(HttpMethod Method, string Path, object? Body)> routes)
    {
        using var client = Stack.Gateway.CreateClient();
        client.DefaultRequestHeaders.Add("X-Api-Key", key);
        foreach (var (method, path, body) in routes)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : System.Net.Http.Json.JsonContent.Create(body) };
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{method} {path} with PostgreSQL down: {(int)response.StatusCode} {text}");
            Assert.Equal("unavailable", JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.DoesNotContain("resilient", text, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// A request that needs PostgreSQL while it is down is a 503 <c>unavailable</c> problem with <c>Retry-After</c>, never a
    /// 500: the credential lookup of the api (an API key never seen before) and the identity token endpoint (a client it
    /// must look up).
    /// </summary>
    private async Task AssertUnavailableAsync(HttpMethod method, string path, bool apiKey)
    {
        using var client = Stack.Gateway.CreateClient();
        using var request = new HttpRequestMessage(method, path);
        if (apiKey)
        {
            request.Headers.Add("X-Api-Key", "qapi_" + TestEnvironment.RandomToken(32));
        }
        else
        {
            request.Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials",
                ["client_id"] = "client-" + TestEnvironment.RandomToken(8),
                ["client_secret"] = TestEnvironment.RandomToken(32),
            });
        }

        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{method} {path} with PostgreSQL down: {(int)response.StatusCode} {body}");
        Assert.NotNull(response.Headers.RetryAfter);
        if (apiKey)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("unavailable", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
        }

        Assert.DoesNotContain("Npgsql", body, StringComparison.Ordinal);
    }

    private static void AssertDependencyNamed(string body, string dependency)
    {
        var services = JsonDocument.Parse(body).RootElement.GetProperty("services");
        var named = services.EnumerateObject().Count(s =>
            s.Value.GetProperty("checks").TryGetProperty(dependency, out var check) &&
            check.GetProperty("status").GetString() == "Unhealthy");
        Assert.True(named >= 1, $"no service names {dependency} as unhealthy: {body}");
    }
}
