using System.Net;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// The services given every secret as a file (the *_FILE variables compose's Docker secrets and Kubernetes' Secret
/// volumes use): the whole stack comes up, the bootstrap client and the master key work, and no secret value is in any
/// service's process environment.
/// </summary>
[ExpectedSeconds(35)]
public sealed class SecretFileTests
{
    [Fact]
    public async Task A_stack_given_every_secret_as_a_file_works_and_keeps_the_secrets_out_of_its_environment()
    {
        await using var stack = await MislataStack.StartAsync(new StackOptions { SecretsAsFiles = true });

        // The bootstrap client's secret (identity, from a file) gives a token; the api creates a tenant (its data key
        // wrapped by the master key from a file) and stores and reads back a secret through it.
        using var client = stack.Gateway.CreateClient();
        using var token = await client.PostAsync(new Uri("/connect/token", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = stack.BootstrapClientId,
            ["client_secret"] = stack.BootstrapClientSecret,
            ["scope"] = "platform:admin",
        }));
        var tokenBody = await token.Content.ReadAsStringAsync();
        Assert.True(token.IsSuccessStatusCode, $"token: {(int)token.StatusCode} {tokenBody}");
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", JsonDocument.Parse(tokenBody).RootElement.GetProperty("access_token").GetString());
        var tenant = await CreatedAsync(client, "/api/v1/admin/tenants", new { name = "files-" + Guid.NewGuid().ToString("N")[..8] });
        var key = (await CreatedAsync(client, $"/api/v1/admin/tenants/{tenant.GetProperty("id").GetGuid()}/api-keys", new { name = "s", scopes = new[] { "secrets:read", "secrets:write" } }))
            .GetProperty("key").GetString()!;
        using var owner = stack.Gateway.CreateClient();
        owner.DefaultRequestHeaders.Add("X-Api-Key", key);
        var secret = await CreatedAsync(owner, "/api/v1/secrets", new { name = "db/password", value = "from-files" });
        using var read = await owner.GetAsync(new Uri($"/api/v1/secrets/{secret.GetProperty("id").GetGuid()}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Contains("from-files", await read.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The licence file was installed: the stack runs under the test licence, not Community.
        using var licence = await client.GetAsync(new Uri("/api/v1/admin/license", UriKind.Relative));
        Assert.Equal("valid", JsonDocument.Parse(await licence.Content.ReadAsStringAsync()).RootElement.GetProperty("state").GetString());

        foreach (var service in stack.Services)
        {
            var environ = "\0" + await File.ReadAllTextAsync($"/proc/{service.ProcessId}/environ");
            Assert.Contains("\0QAPI_MASTER_KEY_FILE=", environ, StringComparison.Ordinal);
            foreach (var name in new[] { "QAPI_MASTER_KEY", "QAPI_POSTGRES", "QAPI_POSTGRES_MIGRATIONS", "QAPI_REDIS", "QAPI_ADMIN_PASSWORD", "QAPI_BOOTSTRAP_CLIENT_SECRET", "QAPI_LICENSE" })
            {
                Assert.DoesNotContain($"\0{name}=", environ, StringComparison.Ordinal);
            }

            foreach (var value in new[] { stack.MasterKey, stack.Database.For(service.Name), stack.Database.Migrations, stack.Redis.ConfigurationFor(service.Name), stack.BootstrapClientSecret, stack.AdminPassword })
            {
                Assert.DoesNotContain(value, environ, StringComparison.Ordinal);
            }
        }
    }

    [Theory]
    [InlineData("identity")]
    [InlineData("api")]
    [InlineData("worker")]
    public async Task A_secret_given_both_as_a_value_and_as_a_file_stops_the_service_naming_it_without_its_value(string service)
    {
        var file = Path.Combine(TestEnvironment.NewFolder("both"), "redis");
        await File.WriteAllTextAsync(file, "127.0.0.1:1,password=file-secret-value");
        await using var process = ServiceProcess.Start(service, 0, new Dictionary<string, string?>
        {
            ["QAPI_MASTER_KEY"] = TestEnvironment.NewMasterKey(),
            ["QAPI_POSTGRES"] = "Host=127.0.0.1;Port=1;Database=none",
            ["QAPI_REDIS"] = "127.0.0.1:1,password=env-secret-value",
            ["QAPI_REDIS_FILE"] = file,
        });

        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        var line = Assert.Single(process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        Assert.Equal(78, exitCode);
        Assert.Contains("QAPI_REDIS and QAPI_REDIS_FILE", line, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-value", line, StringComparison.Ordinal);
    }

    private static async Task<JsonElement> CreatedAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsync(new Uri(path, UriKind.Relative), System.Net.Http.Json.JsonContent.Create(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
