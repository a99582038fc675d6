using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;

namespace Mislata.EndToEnd.Tests.Tenancy;

/// <summary>
/// A platform with two api replicas and the operator's access token (bootstrap client, client_credentials). Its tests
/// present failing credentials on purpose, all from this machine's address: the services' failed-credential limit is
/// raised here so that one test's refusals do not lock out the next one. <see cref="AbuseFixture"/> keeps the
/// product's default for the tests of that limit.
/// </summary>
public class TenancyFixture : IAsyncLifetime
{
    /// <summary>Far above what the whole tenancy collection presents in a minute.</summary>
    internal const int RaisedFailedCredentialLimit = 1_000_000;

    private MislataStack? _stack;

    public MislataStack Stack => _stack ?? throw new InvalidOperationException("the stack is not started");

    public string OperatorToken { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        _stack = await MislataStack.StartAsync(Options());
        OperatorToken = await OperatorTokenAsync();
    }

    /// <summary>The platform this fixture starts.</summary>
    protected virtual StackOptions Options() => new()
    {
        ApiReplicas = 2,
        Environment = new Dictionary<string, string?> { ["FailedCredentials__PerMinute"] = RaisedFailedCredentialLimit.ToString(System.Globalization.CultureInfo.InvariantCulture) },
    };

    public virtual async Task DisposeAsync()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }
    }

    public Task<string> OperatorTokenAsync() => OperatorTokenAsync(Stack);

    /// <summary>An access token of the bootstrap operator client (client_credentials, <c>platform:admin audit:read</c>).</summary>
    public static async Task<string> OperatorTokenAsync(MislataStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        using var client = stack.Gateway.CreateClient();
        using var response = await client.PostAsync(new Uri("/connect/token", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = stack.BootstrapClientId,
            ["client_secret"] = stack.BootstrapClientSecret,
            ["scope"] = "platform:admin audit:read",
        }));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"token: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString()!;
    }

    public HttpClient Operator()
    {
        var client = Stack.Gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", OperatorToken);
        return client;
    }

    public HttpClient WithKey(string? key, Uri? baseAddress = null)
    {
        var client = baseAddress is null ? Stack.Gateway.CreateClient() : new HttpClient { BaseAddress = baseAddress };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", key);
        }

        return client;
    }

    public IReadOnlyList<Uri> ApiReplicas => [.. Stack.Of("api").Select(s => s.BaseAddress)];

    /// <summary>A new tenant (through the operator) and its id.</summary>
    public async Task<Guid> CreateTenantAsync(string? plan = null)
    {
        using var client = Operator();
        using var response = await client.PostAsJsonAsync(new Uri("/api/v1/admin/tenants", UriKind.Relative),
            new { name = "t-" + Guid.NewGuid().ToString("N")[..12], planId = plan, adminEmail = "admin@example.com" });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"create tenant: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("id").GetGuid();
    }

    /// <summary>A key for the tenant through <c>POST /admin/tenants/{id}/api-keys</c>: (id, key).</summary>
    public async Task<(Guid Id, string Key)> CreateKeyAsync(Guid tenantId, string[]? scopes = null, int? rateLimitPerMinute = null)
    {
        using var client = Operator();
        // No retry of a 503: a replica answers the first request after a PostgreSQL restart (DependencyOutageTests).
        using var response = await client.PostAsJsonAsync(new Uri($"/api/v1/admin/tenants/{tenantId}/api-keys", UriKind.Relative),
            new { name = "key-" + Guid.NewGuid().ToString("N")[..8], scopes, rateLimitPerMinute });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"create key: {(int)response.StatusCode} {body}");
        var root = JsonDocument.Parse(body).RootElement;
        return (root.GetProperty("id").GetGuid(), root.GetProperty("key").GetString()!);
    }

    /// <summary>
    /// Polls <paramref name="send"/> until it answers <paramref name="expected"/> or <paramref name="within"/> passes:
    /// access changes (revocation, suspension) reach the other replicas over Redis pub/sub, "within one second".
    /// Returns the last response's status and elapsed time.
    /// </summary>
    public static async Task<(HttpStatusCode Status, TimeSpan Elapsed, string Body)> EventuallyAsync(
        Func<Task<HttpResponseMessage>> send, HttpStatusCode expected, TimeSpan within)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            using var response = await send();
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == expected || watch.Elapsed >= within)
            {
                return (response.StatusCode, watch.Elapsed, body);
            }

            await Task.Delay(20);
        }
    }

    /// <summary>
    /// Set-up and assertions as the cluster's superuser, each on a connection of its own: a test that restarts
    /// PostgreSQL leaves no dead pooled connection to the next statement.
    /// </summary>
    public async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(Stack.PostgresConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(Stack.PostgresConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public static async Task<string> ErrorCodeAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        try
        {
            return JsonDocument.Parse(body).RootElement.GetProperty("error").GetString() ?? string.Empty;
        }
        catch (JsonException)
        {
            return "(no problem body: " + body + ")";
        }
        catch (KeyNotFoundException)
        {
            return "(no error member: " + body + ")";
        }
    }
}

[CollectionDefinition(Name)]
[ExpectedSeconds(240)]
public sealed class TenancyCollection : ICollectionFixture<TenancyFixture>
{
    public const string Name = "tenancy";
}

/// <summary>
/// A second platform like <see cref="TenancyFixture"/>'s for the longest tenancy tests (the CLI run as processes, the
/// failed-authentication audit that waits for a minute's aggregate), so that they run beside the tenancy collection
/// rather than after it. Its tests create their own tenants and count only their own data, as on the first platform.
/// </summary>
public sealed class SecondTenancyFixture : TenancyFixture;

[CollectionDefinition(Name)]
[ExpectedSeconds(290)]
public sealed class SecondTenancyCollection : ICollectionFixture<SecondTenancyFixture>
{
    public const string Name = "tenancy-2";
}
