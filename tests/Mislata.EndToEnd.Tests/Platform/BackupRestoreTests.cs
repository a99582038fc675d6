using System.Formats.Tar;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Identity;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// Issue 13, backup/restore, through <c>./run.sh backup</c> and <c>./run.sh restore</c>: a running installation with a
/// tenant, encryption keys of three kinds, a signing key, a secret and a user is backed up; a second installation made
/// by run.sh refuses the backup while its master key differs (its data stays as it was, it keeps running); a fresh
/// state folder holding only the first installation's master key restores it, and so does the running second
/// installation once it holds that key: every key opens the earlier payloads, the signature verifies, the secret reads,
/// the user signs in, the API key works.
/// </summary>
[ExpectedSeconds(145)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class BackupRestoreTests
{
    [Fact]
    public async Task A_backup_restores_onto_a_fresh_installation_with_the_same_master_key_and_is_refused_with_another()
    {
        // --- The first installation, with data in it.
        await using var first = await RunScriptInstance.StartNewAsync();
        using var firstOperator = first.Operator(await first.OperatorTokenAsync());
        var tenantId = (await RunScriptInstance.PostAsync(firstOperator, "/api/v1/admin/tenants",
            new { name = "backed-up", adminEmail = "admin@example.com" }, HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var apiKey = (await RunScriptInstance.PostAsync(firstOperator, $"/api/v1/admin/tenants/{tenantId}/api-keys",
            new { name = "app" }, HttpStatusCode.Created)).GetProperty("key").GetString()!;
        var email = Oidc.NewEmail("restored");
        var password = Oidc.StrongPassword();
        await RunScriptInstance.PostAsync(firstOperator, "/api/v1/users", new { email, password, roles = new[] { "tenant-admin" }, tenantId }, HttpStatusCode.Created);

        using var tenant = first.WithApiKey(apiKey);
        var payloads = new List<(string KeyId, string Plaintext, string Payload)>();
        foreach (var algorithm in new[] { "AES-256-GCM", "ML-KEM-768", "RSA-2048" })
        {
            var keyId = (await RunScriptInstance.PostAsync(tenant, "/api/v1/keys", new { name = "k-" + algorithm, algorithm }, HttpStatusCode.Created)).GetProperty("id").GetString()!;
            var plaintext = "before the backup, " + algorithm;
            var payload = (await RunScriptInstance.PostAsync(tenant, "/api/v1/encrypt", new { plaintext, keyId }, HttpStatusCode.OK)).GetProperty("encryptedPayload").GetString()!;
            payloads.Add((keyId, plaintext, payload));
        }

        var signingKey = (await RunScriptInstance.PostAsync(tenant, "/api/v1/keys", new { name = "signer", algorithm = "ML-DSA-65" }, HttpStatusCode.Created)).GetProperty("id").GetString()!;
        var signature = (await RunScriptInstance.PostAsync(tenant, "/api/v1/sign", new { message = "signed before", keyId = signingKey }, HttpStatusCode.OK)).GetProperty("signature").GetString()!;
        const string SecretValue = "db-password-kept-across-restore";
        var secretId = (await RunScriptInstance.PostAsync(tenant, "/api/v1/secrets", new { name = "db", value = SecretValue }, HttpStatusCode.Created)).GetProperty("id").GetString()!;

        // --- Backup: mode 600, a manifest naming the master key by its id, and no master key in it.
        var backup = Path.Combine(first.State, "mislata.backup");
        await first.RunAsync("backup", backup);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(backup));
        var masterKey = File.ReadAllText(Path.Combine(first.State, "secrets", "master.key")).Trim();
        var entries = ReadTar(backup);
        Assert.Equal(["database.dump", "dataprotection.json", "manifest.json"], entries.Keys.Order(StringComparer.Ordinal));
        var manifest = JsonDocument.Parse(entries["manifest.json"]).RootElement;
        Assert.Equal(1, manifest.GetProperty("format").GetInt32());
        var ids = manifest.GetProperty("masterKeyIds").EnumerateArray().Select(e => e.GetString()!).ToList();
        var masterKeyId = Assert.Single(ids);
        Assert.Matches("^mk-[0-9a-f]{16}$", masterKeyId);
        var raw = Convert.FromBase64String(masterKey);
        foreach (var (name, content) in entries)
        {
            Assert.False(Contains(content, Encoding.ASCII.GetBytes(masterKey)), $"{name} holds the master key (base64)");
            Assert.False(Contains(content, raw), $"{name} holds the master key (raw)");
            Assert.False(Contains(content, Encoding.UTF8.GetBytes(SecretValue)), $"{name} holds the secret in clear");
        }

        // The Data Protection ring travels encrypted under the platform key (a fresh installation's is random, pk-…),
        // which the database holds wrapped by the master key named in the manifest.
        Assert.Matches("pk-[0-9a-f]{16}", Encoding.UTF8.GetString(entries["dataprotection.json"]));
        await first.RunAsync("stop");

        // --- A second installation with its own master key: the restore is refused and changes nothing.
        await using var second = await RunScriptInstance.StartNewAsync();
        using (var secondOperator = second.Operator(await second.OperatorTokenAsync()))
        {
            var ownTenant = (await RunScriptInstance.PostAsync(secondOperator, "/api/v1/admin/tenants",
                new { name = "second-only", adminEmail = "admin@example.com" }, HttpStatusCode.Created)).GetProperty("id").GetGuid();
            var (exitCode, output) = await second.TryRunAsync("restore", backup);
            Assert.NotEqual(0, exitCode);
            Assert.Contains("refusing to restore", output, StringComparison.Ordinal);
            Assert.Contains(masterKeyId, output, StringComparison.Ordinal);
            Assert.Contains("Nothing was changed", output, StringComparison.Ordinal);

            // Still running, on its own data: its tenant is there, the first installation's API key is unknown.
            using var tenants = await secondOperator.GetAsync(new Uri("/api/v1/admin/tenants?limit=100", UriKind.Relative));
            var listed = await tenants.Content.ReadAsStringAsync();
            Assert.True(tenants.StatusCode == HttpStatusCode.OK, listed);
            Assert.Contains(ownTenant.ToString(), listed, StringComparison.Ordinal);
            Assert.DoesNotContain(tenantId.ToString(), listed, StringComparison.Ordinal);
            using var stranger = second.WithApiKey(apiKey);
            using var refused = await stranger.GetAsync(new Uri("/api/v1/keys", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        // --- A fresh state folder holding only the first installation's master key (kept apart from the backup):
        // restore sets up PostgreSQL and Redis, restores, and starts the services.
        await second.RunAsync("stop");
        await using var fresh = RunScriptInstance.Create();
        Directory.CreateDirectory(Path.Combine(fresh.State, "secrets"));
        File.WriteAllText(Path.Combine(fresh.State, "secrets", "master.key"), masterKey + "\n");
        File.SetUnixFileMode(Path.Combine(fresh.State, "secrets", "master.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await fresh.RunAsync("restore", backup);
        await VerifyRestoredAsync(fresh, apiKey, payloads, signingKey, signature, secretId, SecretValue, email, password);
        await fresh.RunAsync("stop");

        // --- And onto the running second installation once it holds that master key: its own data is replaced.
        await second.StartAsync();
        File.WriteAllText(Path.Combine(second.State, "secrets", "master.key"), masterKey + "\n");
        await second.RunAsync("restore", backup);
        await VerifyRestoredAsync(second, apiKey, payloads, signingKey, signature, secretId, SecretValue, email, password);
    }

    private static async Task VerifyRestoredAsync(
        RunScriptInstance installation, string apiKey, List<(string KeyId, string Plaintext, string Payload)> payloads,
        string signingKey, string signature, string secretId, string secretValue, string email, string password)
    {
        using var restored = installation.WithApiKey(apiKey);
        foreach (var (keyId, plaintext, payload) in payloads)
        {
            var opened = await RunScriptInstance.PostAsync(restored, "/api/v1/decrypt", new { encryptedPayload = payload }, HttpStatusCode.OK);
            Assert.Equal(plaintext, opened.GetProperty("plaintext").GetString());
            var again = (await RunScriptInstance.PostAsync(restored, "/api/v1/encrypt", new { plaintext = "after", keyId }, HttpStatusCode.OK)).GetProperty("encryptedPayload").GetString()!;
            Assert.Equal("after", (await RunScriptInstance.PostAsync(restored, "/api/v1/decrypt", new { encryptedPayload = again }, HttpStatusCode.OK)).GetProperty("plaintext").GetString());
        }

        var verified = await RunScriptInstance.PostAsync(restored, "/api/v1/verify", new { message = "signed before", signature, keyId = signingKey }, HttpStatusCode.OK);
        Assert.True(verified.GetProperty("valid").GetBoolean());
        using (var secret = await restored.GetAsync(new Uri($"/api/v1/secrets/{secretId}", UriKind.Relative)))
        {
            var body = await secret.Content.ReadAsStringAsync();
            Assert.True(secret.StatusCode == HttpStatusCode.OK, body);
            Assert.Equal(secretValue, JsonDocument.Parse(body).RootElement.GetProperty("value").GetString());
        }

        using var browser = new Browser(installation.BaseAddress, installation.Certificate);
        var home = await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
        Assert.Equal(email, home.Document.QuerySelector("#user")?.TextContent);
    }

    private static Dictionary<string, byte[]> ReadTar(string file)
    {
        var entries = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        using var stream = File.OpenRead(file);
        using var reader = new TarReader(stream);
        while (reader.GetNextEntry() is { } entry)
        {
            using var content = new MemoryStream();
            entry.DataStream?.CopyTo(content);
            entries[entry.Name.TrimStart('.', '/')] = content.ToArray();
        }

        return entries;
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
