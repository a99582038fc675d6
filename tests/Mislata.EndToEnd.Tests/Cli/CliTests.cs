using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Cli;

/// <summary>
/// The <c>mislata</c> CLI as a process against the running platform, one test per command group: login and profiles,
/// keys, encrypt/decrypt (1 KiB with /encrypt, 50 MB with the data-key envelope, offline ML-KEM), sign/verify/hmac/
/// random, secrets, api-keys/audit/billing, and admin over client credentials; `--output json` parsed; exit codes.
/// </summary>
[Collection(SecondTenancyCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CliTests(SecondTenancyFixture fixture)
{
    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    private string CaCertificate => Path.Combine(fixture.Stack.Gateway.Folder, "tls", "cert.pem");

    private string Url => fixture.Stack.Gateway.BaseAddress.ToString();

    /// <summary>A CLI logged in (profile "default") with a new tenant's first key, which holds every tenant scope.</summary>
    private async Task<(CliRunner Cli, string ApiKey, Guid TenantId)> LoggedInAsync()
    {
        var tenant = await fixture.CreateTenantAsync("business");
        var (_, key) = await fixture.CreateKeyAsync(tenant);
        var cli = new CliRunner();
        (await cli.RunAsync(["login", "--url", Url, "--ca-cert", CaCertificate], Encoding.UTF8.GetBytes(key + "\n"))).Ok();
        return (cli, key, tenant);
    }

    [Fact]
    public async Task Login_stores_a_private_profile_and_never_echoes_the_key()
    {
        var (cli, key, _) = await LoggedInAsync();
        var file = Path.Combine(cli.ConfigFolder, "profiles.json");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, System.IO.File.GetUnixFileMode(cli.ConfigFolder));

        var show = (await cli.RunAsync("profile", "show")).Ok();
        var list = (await cli.RunAsync("profile", "list", "--output", "json")).Ok();
        Assert.Equal("default", list.Json[0].GetProperty("name").GetString());
        Assert.True(list.Json[0].GetProperty("current").GetBoolean());
        Assert.Equal(key[..13] + "…", show.Json.GetProperty("apiKeyPrefix").GetString());
        foreach (var output in new[] { show.Text + show.Stderr, list.Text + list.Stderr })
        {
            Assert.DoesNotContain(key, output, StringComparison.Ordinal);
        }

        var wrong = new CliRunner();
        (await wrong.RunAsync(["login", "--url", Url, "--ca-cert", CaCertificate], Encoding.UTF8.GetBytes("qapi_" + new string('x', 43) + "\n"))).Fails(3);
        Assert.False(System.IO.File.Exists(Path.Combine(wrong.ConfigFolder, "profiles.json")));
        (await new CliRunner().RunAsync("keys", "list")).Fails(2);
        (await cli.RunAsync("keys", "create")).Fails(2);
        (await cli.RunAsync("keys", "get", "not-a-guid")).Fails(2);
    }

    [Fact]
    public async Task Keys_group_create_list_get_update_rotate_disable_enable_delete_restore_export_import()
    {
        var (cli, _, _) = await LoggedInAsync();
        var name = Unique("k");
        var created = (await cli.RunAsync("keys", "create", name, "--algorithm", "ML-KEM-768", "--tag", "team:a", "--output", "json")).Ok().Json;
        var id = created.GetProperty("id").GetString()!;
        Assert.Equal("enabled", created.GetProperty("state").GetString());

        var table = (await cli.RunAsync("keys", "list", "--name", name)).Ok().Text;
        Assert.Contains("ALGORITHM", table, StringComparison.Ordinal);
        Assert.Contains(id, table, StringComparison.Ordinal);
        Assert.Equal(id, (await cli.RunAsync("keys", "list", "--tag", "team:a", "-o", "json")).Ok().Json.GetProperty("data")[0].GetProperty("id").GetString());
        Assert.Equal(name, (await cli.RunAsync("keys", "get", id, "-o", "json")).Ok().Json.GetProperty("name").GetString());
        Assert.Equal("new", (await cli.RunAsync("keys", "update", id, "--description", "new", "-o", "json")).Ok().Json.GetProperty("description").GetString());
        Assert.Equal(2, (await cli.RunAsync("keys", "rotate", id, "-o", "json")).Ok().Json.GetProperty("currentVersion").GetInt32());
        Assert.Equal("disabled", (await cli.RunAsync("keys", "disable", id, "-o", "json")).Ok().Json.GetProperty("state").GetString());
        (await cli.RunAsync(["encrypt", "--key", id], [1, 2, 3])).Fails(5);
        Assert.Equal("enabled", (await cli.RunAsync("keys", "enable", id, "-o", "json")).Ok().Json.GetProperty("state").GetString());
        Assert.Equal("pendingDeletion", (await cli.RunAsync("keys", "delete", id, "--pending-days", "7", "-o", "json")).Ok().Json.GetProperty("state").GetString());
        Assert.Equal("disabled", (await cli.RunAsync("keys", "restore", id, "-o", "json")).Ok().Json.GetProperty("state").GetString());
        (await cli.RunAsync("keys", "enable", id)).Ok();

        (await cli.RunAsync("keys", "export", id, "--out", cli.File("pub.json"))).Ok();
        var exported = JsonDocument.Parse(await System.IO.File.ReadAllTextAsync(cli.File("pub.json"))).RootElement;
        Assert.Equal((2, "raw"), (exported.GetProperty("version").GetInt32(), exported.GetProperty("format").GetString()));
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", (await cli.RunAsync("keys", "export", id, "--format", "pem")).Ok().Text, StringComparison.Ordinal);
        Assert.Contains(id, (await cli.RunAsync("keys", "jwks")).Ok().Text, StringComparison.Ordinal);

        await System.IO.File.WriteAllBytesAsync(cli.File("aes.key"), RandomNumberGenerator.GetBytes(32));
        var imported = (await cli.RunAsync("keys", "import", Unique("byok"), "--algorithm", "AES-256-GCM", "--format", "raw", "--in", cli.File("aes.key"), "-o", "json")).Ok().Json;
        Assert.Equal("imported", imported.GetProperty("origin").GetString());

        var missing = (await cli.RunAsync("keys", "get", Guid.NewGuid().ToString(), "-o", "json")).Fails(4);
        Assert.Equal("not_found", JsonDocument.Parse(missing.Stderr).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Ssh_group_creates_a_ca_signs_a_public_key_that_ssh_keygen_reads_and_lists_the_certificate()
    {
        var (cli, _, _) = await LoggedInAsync();
        var ca = (await cli.RunAsync("ssh", "ca", "create", Unique("ca"), "--algorithm", "ECDSA-P256", "--allow", "ops-*", "-o", "json")).Ok().Json;
        var caId = ca.GetProperty("id").GetString()!;
        var knownHosts = (await cli.RunAsync("ssh", "ca", "get", caId, "--line", "known-hosts")).Ok().Text.Trim();
        Assert.Equal("@cert-authority * " + ca.GetProperty("publicKey").GetString(), knownHosts);
        Assert.Contains(caId, (await cli.RunAsync("ssh", "ca", "list")).Ok().Text, StringComparison.Ordinal);

        using var dir = new Ssh.SshDirectory();
        dir.NewKey("user", "ed25519", null);
        (await cli.RunAsync("ssh", "sign", "--ca", caId, "--in", dir.PathOf("user.pub"), "--key-id", "ops@cli", "-n", "ops-alice", "--validity", "600",
            "-O", "force-command=/usr/bin/uptime", "--out", dir.PathOf("user-cert.pub"))).Ok();
        var listing = dir.Run("ssh-keygen", "-L", "-f", "user-cert.pub");
        Assert.Matches(@"Principals: \n\s+ops-alice\n", listing);
        Assert.Contains("force-command /usr/bin/uptime", listing, StringComparison.Ordinal);
        Assert.Contains("Key ID: \"ops@cli\"", listing, StringComparison.Ordinal);

        // Outside the CA's allowed principals: rejected input (exit 2), nothing issued.
        (await cli.RunAsync("ssh", "sign", "--ca", caId, "--in", dir.PathOf("user.pub"), "--key-id", "ops@cli", "-n", "root")).Fails(2);
        var records = (await cli.RunAsync("ssh", "certificates", "--ca", caId, "-o", "json")).Ok().Json.GetProperty("data");
        Assert.Equal(1, records.GetArrayLength());
        Assert.Equal("ops@cli", records[0].GetProperty("keyId").GetString());
    }

    [Fact]
    public async Task Certificate_groups_create_a_ca_issue_with_a_generated_key_openssl_verifies_then_revoke_it_into_the_crl()
    {
        var (cli, _, _) = await LoggedInAsync();
        var ca = (await cli.RunAsync("cas", "create", Unique("root"), "--subject", "CN=CLI Root,O=Example", "--algorithm", "ECDSA-P256", "--validity-days", "365", "-o", "json")).Ok().Json;
        var caId = ca.GetProperty("id").GetString()!;
        Assert.Contains(caId, (await cli.RunAsync("cas", "list")).Ok().Text, StringComparison.Ordinal);

        using var dir = new Ssh.SshDirectory();
        dir.Write("root.pem", (await cli.RunAsync("cas", "get", caId, "--pem", "certificate")).Ok().Text);
        (await cli.RunAsync("certificates", "issue", "--ca", caId, "--subject", "CN=cli.example.com", "--san", "dns:cli.example.com", "--validity-days", "30",
            "--key-out", dir.PathOf("leaf.key"), "--out", dir.PathOf("leaf.pem"))).Ok();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(dir.PathOf("leaf.key")));
        Assert.Contains("leaf.pem: OK", dir.Run("openssl", "verify", "-CAfile", "root.pem", "leaf.pem"), StringComparison.Ordinal);
        Assert.Equal(dir.Run("openssl", "x509", "-noout", "-pubkey", "-in", "leaf.pem"), dir.Run("openssl", "pkey", "-pubout", "-in", "leaf.key"));

        // The key is written once, to a new file: an existing one is refused before anything is issued (exit 2).
        (await cli.RunAsync("certificates", "issue", "--ca", caId, "--subject", "CN=again.example.com", "--san", "dns:again.example.com", "--validity-days", "30",
            "--key-out", dir.PathOf("leaf.key"))).Fails(2);
        var issued = (await cli.RunAsync("certificates", "list", "--ca", caId, "-o", "json")).Ok().Json.GetProperty("data");
        Assert.Equal(1, issued.GetArrayLength());
        Assert.False(issued[0].TryGetProperty("privateKeyPem", out var key) && key.ValueKind == JsonValueKind.String);

        (await cli.RunAsync("certificates", "revoke", issued[0].GetProperty("id").GetString()!, "--reason", "keyCompromise")).Ok();
        (await cli.RunAsync("cas", "crl", caId, "--out", dir.PathOf("root.crl.der"))).Ok();
        var crl = dir.Run("openssl", "crl", "-inform", "DER", "-in", "root.crl.der", "-noout", "-text");
        Assert.Contains(issued[0].GetProperty("serialNumber").GetString()!.ToUpperInvariant(), crl.Replace(":", string.Empty, StringComparison.Ordinal).ToUpperInvariant(), StringComparison.Ordinal);
        Assert.Contains("Key Compromise", crl, StringComparison.Ordinal);
        (await cli.RunAsync("cas", "crl", caId, "--pem", "--out", dir.PathOf("root.crl"))).Ok();
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            Processes.RunAsync("openssl", ["verify", "-CAfile", dir.PathOf("root.pem"), "-crl_check", "-CRLfile", dir.PathOf("root.crl"), dir.PathOf("leaf.pem")]));
        Assert.Contains("certificate revoked", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encrypt_and_decrypt_1_KiB_with_encrypt_50_MB_with_the_envelope_and_offline_to_an_exported_key()
    {
        var (cli, _, _) = await LoggedInAsync();
        var id = (await cli.RunAsync("keys", "create", Unique("enc"), "-o", "json")).Ok().Json.GetProperty("id").GetString()!;

        var small = RandomNumberGenerator.GetBytes(1024);
        await System.IO.File.WriteAllBytesAsync(cli.File("small.bin"), small);
        (await cli.RunAsync("encrypt", "--key", id, "--context", "ctx", "--in", cli.File("small.bin"), "--out", cli.File("small.enc"))).Ok();
        (await cli.RunAsync("decrypt", "--context", "ctx", "--in", cli.File("small.enc"), "--out", cli.File("small.out"))).Ok();
        Assert.Equal(small, await System.IO.File.ReadAllBytesAsync(cli.File("small.out")));
        (await cli.RunAsync("decrypt", "--context", "other", "--in", cli.File("small.enc"))).Fails(7);

        var payload = (await cli.RunAsync(["encrypt", "--key", id], small)).Ok().Stdout;
        Assert.Equal(small, (await cli.RunAsync(["decrypt"], payload)).Ok().Stdout);
        var json = (await cli.RunAsync(["encrypt", "--key", id, "-o", "json"], small)).Ok().Json;
        Assert.Equal(id, json.GetProperty("keyId").GetString());

        var big = cli.File("big.bin");
        await using (var file = System.IO.File.Create(big))
        {
            var block = new byte[1024 * 1024];
            for (var i = 0; i < 50; i++)
            {
                RandomNumberGenerator.Fill(block);
                await file.WriteAsync(block);
            }
        }

        (await cli.RunAsync(["envelope", "encrypt", "--key", id, "--context", "file:big", "--in", big, "--out", cli.File("big.env"), "--progress"], timeout: TimeSpan.FromMinutes(5))).Ok();
        Assert.True(new FileInfo(cli.File("big.env")).Length > 50 * 1024 * 1024);
        (await cli.RunAsync(["envelope", "decrypt", "--context", "file:big", "--in", cli.File("big.env"), "--out", cli.File("big.out")], timeout: TimeSpan.FromMinutes(5))).Ok();
        Assert.Equal(await HashAsync(big), await HashAsync(cli.File("big.out")));

        await using (var tamper = new FileStream(cli.File("big.env"), FileMode.Open, FileAccess.ReadWrite))
        {
            tamper.Position = tamper.Length - 1000;
            var b = tamper.ReadByte();
            tamper.Position--;
            tamper.WriteByte((byte)(b ^ 1));
        }

        (await cli.RunAsync(["envelope", "decrypt", "--context", "file:big", "--in", cli.File("big.env"), "--out", cli.File("tampered.out")], timeout: TimeSpan.FromMinutes(5))).Fails(7);
        Assert.False(System.IO.File.Exists(cli.File("tampered.out")));
        Assert.Empty(Directory.GetFiles(cli.WorkFolder, "*.partial"));

        (await cli.RunAsync("keys", "export", id, "--out", cli.File("pub.json"))).Ok();
        var offline = (await cli.RunAsync(["encrypt", "--offline-key", cli.File("pub.json"), "--context", "off"], small)).Ok().Stdout;
        Assert.Equal(small, (await cli.RunAsync(["decrypt", "--context", "off"], offline)).Ok().Stdout);
    }

    [Fact]
    public async Task A_folder_is_envelope_encrypted_file_by_file_and_decrypted_back()
    {
        var (cli, _, _) = await LoggedInAsync();
        var plain = Directory.CreateDirectory(cli.File("plain")).FullName;
        Directory.CreateDirectory(Path.Combine(plain, "sub", "deeper"));
        var files = new Dictionary<string, byte[]>
        {
            ["a.bin"] = RandomNumberGenerator.GetBytes(300_000),
            ["empty"] = [],
            [Path.Combine("sub", "b.txt")] = Encoding.UTF8.GetBytes("hello"),
            [Path.Combine("sub", "deeper", "c.bin")] = RandomNumberGenerator.GetBytes(70_000),
        };
        foreach (var (name, bytes) in files)
        {
            await System.IO.File.WriteAllBytesAsync(Path.Combine(plain, name), bytes);
        }

        // No key yet: the tenant has no default encryption key, a 404 not_found for the first file (exit 4, nothing written).
        (await cli.RunAsync("envelope", "encrypt", "--in", plain, "--out", cli.File("sealed"), "--context", "backup")).Fails(4);
        Assert.Empty(Directory.GetFiles(cli.File("sealed"), "*", SearchOption.AllDirectories));
        (await cli.RunAsync("keys", "create", Unique("backup"), "--default", "true")).Ok();
        var encrypted = (await cli.RunAsync("envelope", "encrypt", "--in", plain, "--out", cli.File("sealed"), "--context", "backup", "-o", "json")).Ok().Json;
        Assert.Equal(4, encrypted.GetArrayLength());
        Assert.True(System.IO.File.Exists(Path.Combine(cli.File("sealed"), "sub", "deeper", "c.bin.mslenv")));
        (await cli.RunAsync("envelope", "decrypt", "--in", cli.File("sealed"), "--out", cli.File("restored"), "--context", "backup")).Ok();
        foreach (var (name, bytes) in files)
        {
            Assert.Equal(bytes, await System.IO.File.ReadAllBytesAsync(Path.Combine(cli.File("restored"), name)));
        }

        (await cli.RunAsync("envelope", "encrypt", "--in", plain)).Fails(2);
        (await cli.RunAsync("envelope", "decrypt", "--in", cli.File("sealed"), "--out", cli.File("wrong"), "--context", "other")).Fails(7);
    }

    private static async Task<string> HashAsync(string path)
    {
        await using var file = System.IO.File.OpenRead(path);
        return Convert.ToHexString(await SHA256.HashDataAsync(file));
    }

    [Fact]
    public async Task Sign_verify_hmac_and_random()
    {
        var (cli, _, _) = await LoggedInAsync();
        var signing = (await cli.RunAsync("keys", "create", Unique("sig"), "--algorithm", "Ed25519", "-o", "json")).Ok().Json.GetProperty("id").GetString()!;
        var mac = (await cli.RunAsync("keys", "create", Unique("mac"), "--algorithm", "HMAC-SHA512", "-o", "json")).Ok().Json.GetProperty("id").GetString()!;
        var message = Encoding.UTF8.GetBytes("release 1.2.3\n\0binary");

        var signature = (await cli.RunAsync(["sign", "--key", signing], message)).Ok().Text.Trim();
        Assert.Equal(64, Convert.FromBase64String(signature).Length);
        Assert.Equal("valid", (await cli.RunAsync(["verify", "--key", signing, "--signature", signature], message)).Ok().Text.Trim());
        (await cli.RunAsync(["verify", "--key", signing, "--signature", signature], [.. message, 1])).Fails(7);

        var tag = (await cli.RunAsync(["hmac", "--key", mac], message)).Ok().Text.Trim();
        Assert.Equal(64, Convert.FromBase64String(tag).Length);
        (await cli.RunAsync(["hmac", "--key", mac, "--verify", tag], message)).Ok();
        (await cli.RunAsync(["hmac", "--key", mac, "--verify", tag], [1])).Fails(7);

        Assert.Equal(100, (await cli.RunAsync("random", "--bytes", "100", "--raw")).Ok().Stdout.Length);
        var random = (await cli.RunAsync("random", "-n", "16", "-o", "json")).Ok().Json;
        Assert.Equal(16, Convert.FromBase64String(random.GetProperty("random").GetString()!).Length);
        (await cli.RunAsync("random", "--bytes", "5000")).Fails(2);
    }

    [Fact]
    public async Task Secrets_round_trip_by_name_with_history_delete_and_restore()
    {
        var (cli, _, _) = await LoggedInAsync();
        var name = "app/" + Unique("db");
        var v1 = (await cli.RunAsync(["secrets", "put", name, "--label", "env:prod", "-o", "json"], Encoding.UTF8.GetBytes("s3cr3t-one"))).Ok().Json;
        Assert.Equal(1, v1.GetProperty("version").GetInt32());
        var binary = RandomNumberGenerator.GetBytes(300);
        await System.IO.File.WriteAllBytesAsync(cli.File("value.bin"), binary);
        Assert.Equal(2, (await cli.RunAsync("secrets", "put", name, "--in", cli.File("value.bin"), "--expected-version", "1", "-o", "json")).Ok().Json.GetProperty("version").GetInt32());
        (await cli.RunAsync(["secrets", "put", name, "--expected-version", "1"], [1])).Fails(5);

        Assert.Equal(binary, (await cli.RunAsync("secrets", "get", name)).Ok().Stdout);
        Assert.Equal("s3cr3t-one", (await cli.RunAsync("secrets", "get", name, "--version", "1")).Ok().Text);
        var history = (await cli.RunAsync("secrets", "history", name, "-o", "json")).Ok().Json.GetProperty("data");
        Assert.Equal(2, history.GetArrayLength());
        var list = (await cli.RunAsync("secrets", "list", "--name", name)).Ok();
        Assert.Contains(name, list.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", list.Text, StringComparison.Ordinal);

        (await cli.RunAsync("secrets", "delete", name)).Ok();
        (await cli.RunAsync("secrets", "get", name)).Fails(4);
        (await cli.RunAsync("secrets", "restore", name)).Ok();
        Assert.Equal(binary, (await cli.RunAsync("secrets", "get", v1.GetProperty("id").GetString()!)).Ok().Stdout);
        (await cli.RunAsync("secrets", "delete", name, "--permanent")).Ok();
        (await cli.RunAsync("secrets", "restore", name)).Fails(4);
    }

    [Fact]
    public async Task Api_keys_audit_and_billing()
    {
        var (cli, _, _) = await LoggedInAsync();
        var since = DateTimeOffset.UtcNow.AddMinutes(-5).ToString("O");
        var created = (await cli.RunAsync("api-keys", "create", Unique("reader"), "--scope", "keys:read", "-o", "json")).Ok().Json;
        var newKey = created.GetProperty("key").GetString()!;
        var id = created.GetProperty("id").GetString()!;
        var listed = (await cli.RunAsync("api-keys", "list")).Ok().Text;
        Assert.Contains(id, listed, StringComparison.Ordinal);
        Assert.DoesNotContain(newKey, listed, StringComparison.Ordinal);
        Assert.Equal("active", (await cli.RunAsync("api-keys", "get", id, "-o", "json")).Ok().Json.GetProperty("status").GetString());

        var reader = new CliRunner();
        (await reader.RunAsync(["login", "--url", Url, "--ca-cert", CaCertificate], Encoding.UTF8.GetBytes(newKey + "\n"))).Ok();
        (await reader.RunAsync("keys", "list")).Ok();
        (await reader.RunAsync("secrets", "list")).Fails(3);
        (await cli.RunAsync("api-keys", "revoke", id)).Ok();
        var exit = 0;
        for (var i = 0; i < 20 && exit != 3; i++)
        {
            exit = (await reader.RunAsync("keys", "list")).Exit;
        }

        Assert.Equal(3, exit);

        var events = (await cli.RunAsync("audit", "list", "--from", since, "--action", "apikey.create", "-o", "json")).Ok().Json.GetProperty("data");
        Assert.True(events.GetArrayLength() >= 1, events.ToString());
        Assert.Contains("ACTION", (await cli.RunAsync("audit", "list", "--limit", "5")).Ok().Text, StringComparison.Ordinal);
        Assert.True((await cli.RunAsync("audit", "verify", "-o", "json")).Ok().Json.GetProperty("valid").GetBoolean());
        var tail = (await cli.RunAsync("audit", "tail", "--from", since, "--max-events", "2", "--duration", "20")).Ok().Text;
        Assert.Equal(2, tail.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        Assert.Equal("business", (await cli.RunAsync("billing", "usage", "-o", "json")).Ok().Json.GetProperty("plan").GetString());
        (await cli.RunAsync("billing", "subscription")).Ok();
    }

    [Fact]
    public async Task Admin_over_client_credentials_creates_a_tenant_and_manages_plans_and_partners()
    {
        var cli = new CliRunner();
        (await cli.RunAsync(["login", "--profile", "operator", "--url", Url, "--ca-cert", CaCertificate, "--client-id", fixture.Stack.BootstrapClientId,
            "--scope", "platform:admin audit:read"], Encoding.UTF8.GetBytes(fixture.Stack.BootstrapClientSecret + "\n"))).Ok();
        Assert.DoesNotContain(fixture.Stack.BootstrapClientSecret, (await cli.RunAsync("profile", "show")).Ok().Text, StringComparison.Ordinal);

        var name = Unique("tenant");
        var tenant = (await cli.RunAsync("admin", "tenants", "create", name, "--plan", "business", "--admin-email", "a@example.com", "-o", "json")).Ok().Json;
        var id = tenant.GetProperty("id").GetString()!;
        Assert.Equal(("active", name), (tenant.GetProperty("status").GetString(), tenant.GetProperty("name").GetString()));
        Assert.Equal(name, (await cli.RunAsync("admin", "tenants", "get", id, "-o", "json")).Ok().Json.GetProperty("name").GetString());
        Assert.Equal("suspended", (await cli.RunAsync("admin", "tenants", "suspend", id, "-o", "json")).Ok().Json.GetProperty("status").GetString());
        Assert.Equal("active", (await cli.RunAsync("admin", "tenants", "reactivate", id, "-o", "json")).Ok().Json.GetProperty("status").GetString());
        (await cli.RunAsync("admin", "tenants", "create", name)).Fails(5);
        var first = (await cli.RunAsync("admin", "tenants", "create-key", id, "--scope", "keys:read", "keys:write", "-o", "json")).Ok().Json;
        Assert.StartsWith("qapi_", first.GetProperty("key").GetString(), StringComparison.Ordinal);
        Assert.Contains("NAME", (await cli.RunAsync("admin", "tenants", "list", "--limit", "3")).Ok().Text, StringComparison.Ordinal);

        var code = Unique("plan").ToLowerInvariant();
        var plan = (await cli.RunAsync("admin", "plans", "create", "--code", code, "--name", "CLI plan", "--max-keys", "10", "-o", "json")).Ok().Json;
        Assert.Equal(20, (await cli.RunAsync("admin", "plans", "update", plan.GetProperty("id").GetString()!, "--max-keys", "20", "-o", "json")).Ok().Json.GetProperty("maxKeys").GetInt32());
        Assert.Contains(code, (await cli.RunAsync("admin", "plans", "list", "--limit", "100")).Ok().Text, StringComparison.Ordinal);

        var partner = (await cli.RunAsync("admin", "partners", "create", "--name", Unique("partner"), "--max-tenants", "2", "-o", "json")).Ok().Json.GetProperty("id").GetString()!;
        Assert.Equal(3, (await cli.RunAsync("admin", "partners", "update", partner, "--max-tenants", "3", "-o", "json")).Ok().Json.GetProperty("maxTenants").GetInt32());
        (await cli.RunAsync("admin", "partners", "delete", partner)).Ok();
        (await cli.RunAsync("admin", "partners", "get", partner)).Fails(4);

        var (tenantCli, _, _) = await LoggedInAsync();
        (await tenantCli.RunAsync("admin", "tenants", "list")).Fails(3);
    }

    [Fact]
    public async Task License_vendor_tools_sign_and_inspect_offline_and_admin_license_shows_the_licence_and_refuses_a_foreign_one()
    {
        var cli = new CliRunner();
        var folder = Directory.CreateTempSubdirectory("mislata-cli-license").FullName;
        try
        {
            var pair = (await cli.RunAsync("license", "keygen", "cli-test-vendor", folder, "-o", "json")).Ok().Json;
            var privateKey = pair.GetProperty("privateKey").GetString()!;
            var publicKey = pair.GetProperty("publicKey").GetString()!;
            Assert.True(File.Exists(privateKey) && File.Exists(publicKey));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(privateKey));
            }

            var spec = Path.Combine(folder, "spec.json");
            await File.WriteAllTextAsync(spec, $$"""{"licensee":"CLI Test Ltd","edition":"enterprise","expiresAt":"{{DateTimeOffset.UtcNow.AddDays(30):O}}","maxKeys":100}""");
            var licence = Path.Combine(folder, "cli.lic");
            (await cli.RunAsync("license", "issue", spec, privateKey, "--out", licence)).Ok();
            var inspected = (await cli.RunAsync("license", "inspect", licence, "--public-key", publicKey)).Ok().Text;
            Assert.Contains("CLI Test Ltd", inspected, StringComparison.Ordinal);

            // Not signed by a vendor key built into this release; a changed character breaks both signatures.
            (await cli.RunAsync("license", "inspect", licence)).Fails(7);
            var text = await File.ReadAllTextAsync(licence);
            var tampered = Path.Combine(folder, "tampered.lic");
            var at = text.IndexOf('\n', StringComparison.Ordinal) + 10;
            await File.WriteAllTextAsync(tampered, text[..at] + (text[at] == 'A' ? 'B' : 'A') + text[(at + 1)..]);
            (await cli.RunAsync("license", "inspect", tampered, "--public-key", publicKey)).Fails(7);
            (await cli.RunAsync("license", "issue", spec, publicKey)).Fails(2);

            (await cli.RunAsync(["login", "--profile", "operator", "--url", Url, "--ca-cert", CaCertificate, "--client-id", fixture.Stack.BootstrapClientId,
                "--scope", "platform:admin"], Encoding.UTF8.GetBytes(fixture.Stack.BootstrapClientSecret + "\n"))).Ok();
            var status = (await cli.RunAsync("admin", "license", "get", "-o", "json")).Ok().Json;
            var state = status.GetProperty("state").GetString();
            var installedId = status.GetProperty("license").GetProperty("id").GetString();
            Assert.Equal("valid", state);

            // The stack trusts only its test vendor key: a licence of another key is refused and changes nothing.
            (await cli.RunAsync("admin", "license", "install", "--in", licence)).Fails(2);
            (await cli.RunAsync(["admin", "license", "install"], [])).Fails(2);
            var after = (await cli.RunAsync("admin", "license", "get", "-o", "json")).Ok().Json;
            Assert.Equal((state, installedId), (after.GetProperty("state").GetString(), after.GetProperty("license").GetProperty("id").GetString()));

            var (tenantCli, _, _) = await LoggedInAsync();
            (await tenantCli.RunAsync("admin", "license", "get")).Fails(3);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
