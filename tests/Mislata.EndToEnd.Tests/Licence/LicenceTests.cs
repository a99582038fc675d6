using System.Buffers.Text;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mislata.Core.Licensing;
using Mislata.EndToEnd.Tests.Tenancy;
using Mislata.Testing.Licensing;

namespace Mislata.EndToEnd.Tests.Licence;

/// <summary>
/// The licence through the gateway: <c>GET/PUT /api/v1/admin/license</c>, its states (valid, grace, restricted) with
/// the api's behaviour in each, the installation-wide limits, refused licences (tampered, one signature wrong, unknown
/// key) that leave the installed one in place, and who may see or change it. Every test installs the licence it needs
/// first; the tests of this collection run one after the other on their own platform.
/// </summary>
[Collection(LicenceCollection.Name)]
public sealed class LicenceTests(LicenceFixture fixture)
{
    private static readonly string[] TenantScopes = ["keys:read", "keys:write", "encryption:write", "secrets:read", "secrets:write", "ssh:read", "ssh:write", "certificates:read", "certificates:write"];

    /// <summary>An OpenSSH public key line (RFC 8032 test 2's public key) for SSH certificate requests.</summary>
    private const string SshUserKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM user@example";

    private static Uri U(string path) => new(path, UriKind.Relative);

    private static string ValidLicence(int? maxTenants = null, int? maxKeys = null, string licensee = "Licence E2E") =>
        TestVendor.Issue(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(90), graceDays: 30, maxTenants: maxTenants, maxKeys: maxKeys, licensee: licensee);

    private async Task<JsonElement> InstallAsync(string licence)
    {
        using var client = fixture.Operator();
        return await OkAsync(await client.PutAsJsonAsync(U("/api/v1/admin/license"), new { license = licence }));
    }

    private async Task<JsonElement> StatusAsync(Uri? replica = null)
    {
        using var client = replica is null ? fixture.Operator() : new HttpClient { BaseAddress = replica };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.OperatorToken);
        return await OkAsync(await client.GetAsync(U("/api/v1/admin/license")));
    }

    private static async Task<JsonElement> OkAsync(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == expected, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} → {(int)response.StatusCode} {body}");
            return JsonDocument.Parse(body).RootElement.Clone();
        }
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string error)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} → {(int)response.StatusCode} {body} (expected {(int)status} {error})");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var root = JsonDocument.Parse(body).RootElement.Clone();
            Assert.Equal(error, root.GetProperty("error").GetString());
            Assert.False(string.IsNullOrEmpty(root.GetProperty("traceId").GetString()));
            return root;
        }
    }

    private async Task<HttpClient> TenantClientAsync()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, TenantScopes);
        return fixture.WithKey(key);
    }

    private static async Task<Guid> CreateKeyAsync(HttpClient client, string algorithm) =>
        (await OkAsync(await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "k-" + Guid.NewGuid().ToString("N")[..10], algorithm }), HttpStatusCode.Created))
        .GetProperty("id").GetGuid();

    /// <summary>Every api replica reports <paramref name="state"/> (each evaluates the licence against its own clock and reloads it when told).</summary>
    private async Task EveryReplicaReportsAsync(string state, TimeSpan within)
    {
        foreach (var replica in fixture.ApiReplicas)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            string? last = null;
            while (watch.Elapsed < within)
            {
                last = (await StatusAsync(replica)).GetProperty("state").GetString();
                if (last == state)
                {
                    break;
                }

                await Task.Delay(200);
            }

            Assert.True(last == state, $"api replica {replica} reports {last}, not {state}, after {within}");
        }
    }

    [Fact]
    public async Task An_installed_licence_shows_its_state_licensee_limits_and_usage_on_every_replica()
    {
        var id = Guid.NewGuid();
        var licence = TestVendor.Issue(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(60), graceDays: 14, maxTenants: 500, maxKeys: 5000, licensee: "Status Corp", id: id);

        var installed = await InstallAsync(licence);

        Assert.Equal("valid", installed.GetProperty("state").GetString());
        Assert.False(installed.GetProperty("restricted").GetBoolean());
        var details = installed.GetProperty("license");
        Assert.Equal(id, details.GetProperty("id").GetGuid());
        Assert.Equal("Status Corp", details.GetProperty("licensee").GetString());
        Assert.Equal("enterprise", details.GetProperty("edition").GetString());
        Assert.Equal(TestVendor.KeyId, details.GetProperty("keyId").GetString());
        Assert.Equal(14, details.GetProperty("graceDays").GetInt32());
        Assert.Equal(500, installed.GetProperty("limits").GetProperty("maxTenants").GetInt32());
        Assert.Equal(JsonValueKind.Null, installed.GetProperty("limits").GetProperty("maxUsers").ValueKind);
        var tenants = installed.GetProperty("usage").GetProperty("tenants");
        Assert.True(tenants.GetProperty("used").GetInt64() >= 0);
        Assert.Equal(500, tenants.GetProperty("limit").GetInt32());
        Assert.True(installed.GetProperty("usage").GetProperty("users").GetProperty("used").GetInt64() >= 1, "the bootstrap admin is a user");

        // The other replica was told over Redis: every replica agrees within seconds.
        foreach (var replica in fixture.ApiReplicas)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            Guid? seen = null;
            while (watch.Elapsed < TimeSpan.FromSeconds(10) && seen != id)
            {
                seen = (await StatusAsync(replica)).GetProperty("license").GetProperty("id").GetGuid();
                await Task.Delay(100);
            }

            Assert.Equal(id, seen);
        }

        // The installation is audited without the document.
        var audit = await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE action = 'license.install' AND resource_id = '{id}' AND outcome = 'success'");
        Assert.Equal(1L, audit);
        Assert.Equal(0L, await fixture.ScalarAsync("SELECT count(*) FROM mislata.audit_events WHERE details::text LIKE '%MISLATA LICENSE%' OR details::text LIKE '%signatures%'"));
    }

    [Fact]
    public async Task A_tampered_untrusted_or_malformed_licence_is_refused_and_the_installed_one_stays()
    {
        var id = Guid.NewGuid();
        var good = TestVendor.Issue(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(90), id: id);
        await InstallAsync(good);

        var envelope = Envelope(ValidLicence());
        var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(envelope["payload"]!.GetValue<string>()));
        var tampered = envelope.DeepClone().AsObject();
        tampered["payload"] = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload.Replace("Licence E2E", "Licence E2F", StringComparison.Ordinal)));
        var oneSignatureWrong = envelope.DeepClone().AsObject();
        oneSignatureWrong["signatures"]!["ed25519"] = Envelope(ValidLicence())["signatures"]!["ed25519"]!.GetValue<string>();
        using var stranger = VendorKeyPair.Generate("stranger-e2e-1");
        var unknownKey = LicenceDocument.Issue(TestVendor.Payload(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(90)), stranger);
        var expired = TestVendor.Issue(DateTimeOffset.UtcNow.AddDays(-100), DateTimeOffset.UtcNow.AddDays(-50), graceDays: 10);
        var notYet = TestVendor.Issue(DateTimeOffset.UtcNow.AddDays(10), DateTimeOffset.UtcNow.AddDays(100));

        using var client = fixture.Operator();
        foreach (var (what, text) in new[]
        {
            ("tampered payload", LicenceDocument.Armour(tampered.ToJsonString())),
            ("one signature wrong", LicenceDocument.Armour(oneSignatureWrong.ToJsonString())),
            ("unknown vendor key", unknownKey),
            ("expired past its grace", expired),
            ("not valid yet", notYet),
            ("not a licence", "hello"),
        })
        {
            var problem = await ProblemAsync(await client.PutAsJsonAsync(U("/api/v1/admin/license"), new { license = text }), HttpStatusCode.BadRequest, "license_invalid");
            Assert.Contains("installed licence is unchanged", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.True((await StatusAsync()).GetProperty("license").GetProperty("id").GetGuid() == id, what);
        }

        // Wrong types, a missing member and broken JSON are problems too, never a 500.
        await ProblemAsync(await client.PutAsJsonAsync(U("/api/v1/admin/license"), new { license = 5 }), HttpStatusCode.BadRequest, "invalid_request");
        await ProblemAsync(await client.PutAsJsonAsync(U("/api/v1/admin/license"), new { }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await client.PutAsync(U("/api/v1/admin/license"), new StringContent("{\"license\": ", Encoding.UTF8, "application/json")), HttpStatusCode.BadRequest, "invalid_request");
        await ProblemAsync(await client.PutAsJsonAsync(U("/api/v1/admin/license"), new { license = new string('A', 2 * 1024 * 1024) }), HttpStatusCode.RequestEntityTooLarge, "payload_too_large");

        var status = await StatusAsync();
        Assert.Equal("valid", status.GetProperty("state").GetString());
        Assert.Equal(id, status.GetProperty("license").GetProperty("id").GetGuid());
        Assert.True(await fixture.ScalarAsync("SELECT count(*) FROM mislata.audit_events WHERE action = 'license.install' AND outcome = 'failure' AND error_code = 'license_invalid'") >= 6);
    }

    [Fact]
    public async Task Only_a_platform_admin_sees_or_changes_the_licence()
    {
        await InstallAsync(ValidLicence());

        // A tenant administrator's key (every tenant scope) and a platform credential without platform:admin.
        var tenant = await fixture.CreateTenantAsync();
        var (_, tenantAdminKey) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write", "audit:read", "billing:read", "users:read", "users:write", "keys:read", "keys:write", "encryption:write", "secrets:read", "secrets:write"]);
        using var tenantAdmin = fixture.WithKey(tenantAdminKey);
        using var narrower = fixture.Stack.Gateway.CreateClient();
        narrower.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await OperatorTokenAsync("audit:read"));
        using var anonymous = fixture.Stack.Gateway.CreateClient();

        foreach (var client in new[] { tenantAdmin, narrower })
        {
            await ProblemAsync(await client.GetAsync(U("/api/v1/admin/license")), HttpStatusCode.Forbidden, "insufficient_scope");
            await ProblemAsync(await client.PutAsJsonAsync(U("/api/v1/admin/license"), new { license = ValidLicence(licensee: "Intruder") }), HttpStatusCode.Forbidden, "insufficient_scope");
        }

        await ProblemAsync(await anonymous.GetAsync(U("/api/v1/admin/license")), HttpStatusCode.Unauthorized, "unauthorized");
        await ProblemAsync(await anonymous.PutAsJsonAsync(U("/api/v1/admin/license"), new { license = ValidLicence(licensee: "Intruder") }), HttpStatusCode.Unauthorized, "unauthorized");
        Assert.NotEqual("Intruder", (await StatusAsync()).GetProperty("license").GetProperty("licensee").GetString());
    }

    [Fact]
    public async Task In_grace_everything_keeps_working_and_the_status_warns()
    {
        var inGrace = TestVendor.Issue(DateTimeOffset.UtcNow.AddDays(-100), DateTimeOffset.UtcNow.AddDays(-2), graceDays: 30);
        var status = await InstallAsync(inGrace);
        Assert.Equal("grace", status.GetProperty("state").GetString());
        Assert.Contains("grace period ends", status.GetProperty("reason").GetString(), StringComparison.Ordinal);
        await EveryReplicaReportsAsync("grace", TimeSpan.FromSeconds(10));

        using var client = await TenantClientAsync();
        var key = await CreateKeyAsync(client, "AES-256-GCM");
        var encrypted = await OkAsync(await client.PostAsJsonAsync(U("/api/v1/encrypt"), new { keyId = key, plaintext = "in grace" }));
        var decrypted = await OkAsync(await client.PostAsJsonAsync(U("/api/v1/decrypt"), new { encryptedPayload = encrypted.GetProperty("encryptedPayload").GetString() }));
        Assert.Equal("in grace", decrypted.GetProperty("plaintext").GetString());
        await OkAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = "grace-" + Guid.NewGuid().ToString("N")[..8], value = "v" }), HttpStatusCode.Created);
    }

    [Fact]
    public async Task Past_grace_the_platform_is_restricted_yet_every_existing_payload_decrypts_and_verifies()
    {
        await InstallAsync(ValidLicence());
        using var client = await TenantClientAsync();
        var aes = await CreateKeyAsync(client, "AES-256-GCM");
        var kem = await CreateKeyAsync(client, "ML-KEM-768");
        var signer = await CreateKeyAsync(client, "ML-DSA-65");
        var payloads = new List<(string Plaintext, string Payload)>();
        foreach (var key in new[] { aes, kem })
        {
            var plaintext = "before restriction " + key;
            var encrypted = await OkAsync(await client.PostAsJsonAsync(U("/api/v1/encrypt"), new { keyId = key, plaintext }));
            payloads.Add((plaintext, encrypted.GetProperty("encryptedPayload").GetString()!));
        }

        var batch = await OkAsync(await client.PostAsJsonAsync(U("/api/v1/encrypt/batch"), new { keyId = aes, items = new[] { new { plaintext = "batch one" }, new { plaintext = "batch two" } } }));
        var signature = (await OkAsync(await client.PostAsJsonAsync(U("/api/v1/sign"), new { keyId = signer, message = "signed before" }))).GetProperty("signature").GetString();
        var secret = (await OkAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = "kept-" + Guid.NewGuid().ToString("N")[..8], value = "still mine" }), HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var sshCa = (await OkAsync(await client.PostAsJsonAsync(U("/api/v1/ssh/ca"), new { name = "ca-" + Guid.NewGuid().ToString("N")[..8], algorithm = "Ed25519" }), HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var sshCertificate = new { caId = sshCa, publicKey = SshUserKey, type = "user", keyId = "alice", principals = new[] { "alice" }, validitySeconds = 600 };
        await OkAsync(await client.PostAsJsonAsync(U("/api/v1/ssh/certificates"), sshCertificate), HttpStatusCode.Created);
        var ca = (await OkAsync(await client.PostAsJsonAsync(U("/api/v1/cas"), new { name = "ca-" + Guid.NewGuid().ToString("N")[..8], algorithm = "ECDSA-P256", subject = "CN=Licensed CA", validityDays = 30 }),
            HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var certificate = (await OkAsync(await client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId = ca, subject = "CN=before", profile = "client", validityDays = 5 }),
            HttpStatusCode.Created)).GetProperty("id").GetGuid();

        // A licence that expires in a few seconds with no grace: the api replicas restrict by their own clocks.
        var expiresAt = DateTimeOffset.UtcNow.AddSeconds(8);
        var shortLived = TestVendor.Issue(DateTimeOffset.UtcNow.AddDays(-30), expiresAt, graceDays: 0, licensee: "Short Lived");
        Assert.Equal("valid", (await InstallAsync(shortLived)).GetProperty("state").GetString());
        while (DateTimeOffset.UtcNow < expiresAt.AddSeconds(1))
        {
            await Task.Delay(250);
        }

        await EveryReplicaReportsAsync("restricted", TimeSpan.FromSeconds(10));
        Assert.True((await StatusAsync()).GetProperty("restricted").GetBoolean());

        // Nothing new: keys, imports, secrets and new versions, encryptions, data keys, rewraps, tenants.
        var restricted = new (string What, Func<Task<HttpResponseMessage>> Send)[]
        {
            ("create key", () => client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "refused", algorithm = "AES-256-GCM" })),
            ("import key", () => client.PostAsJsonAsync(U("/api/v1/keys/import"), new { name = "refused", algorithm = "AES-256-GCM", format = "raw", material = Convert.ToBase64String(new byte[32]) })),
            ("create secret", () => client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = "refused", value = "v" })),
            ("new secret version", () => client.PutAsJsonAsync(U($"/api/v1/secrets/{secret}"), new { value = "v2" })),
            ("encrypt", () => client.PostAsJsonAsync(U("/api/v1/encrypt"), new { keyId = aes, plaintext = "new" })),
            ("encrypt batch", () => client.PostAsJsonAsync(U("/api/v1/encrypt/batch"), new { keyId = aes, items = new[] { new { plaintext = "new" } } })),
            ("datakey", () => client.PostAsJsonAsync(U("/api/v1/datakey"), new { keyId = aes })),
            ("rewrap", () => client.PostAsJsonAsync(U("/api/v1/rewrap"), new { encryptedPayload = payloads[0].Payload })),
            ("ssh ca", () => client.PostAsJsonAsync(U("/api/v1/ssh/ca"), new { name = "refused", algorithm = "Ed25519" })),
            ("ssh certificate", () => client.PostAsJsonAsync(U("/api/v1/ssh/certificates"), sshCertificate)),
            ("create CA", () => client.PostAsJsonAsync(U("/api/v1/cas"), new { name = "refused", algorithm = "ECDSA-P256", subject = "CN=Refused", validityDays = 30 })),
            ("issue certificate", () => client.PostAsJsonAsync(U("/api/v1/certificates"), new { caId = ca, subject = "CN=refused", profile = "client", validityDays = 5 })),
        };
        foreach (var (what, send) in restricted)
        {
            var problem = await ProblemAsync(await send(), HttpStatusCode.Forbidden, "license_restricted");
            Assert.Contains("keep working", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using (var operatorClient = fixture.Operator())
        {
            await ProblemAsync(await operatorClient.PostAsJsonAsync(U("/api/v1/admin/tenants"), new { name = "refused-" + Guid.NewGuid().ToString("N")[..8] }), HttpStatusCode.Forbidden, "license_restricted");
        }

        // Everything that reads keeps working: decrypt (single and batch), verify, key and secret reads, lists.
        foreach (var (plaintext, payload) in payloads)
        {
            var decrypted = await OkAsync(await client.PostAsJsonAsync(U("/api/v1/decrypt"), new { encryptedPayload = payload }));
            Assert.Equal(plaintext, decrypted.GetProperty("plaintext").GetString());
        }

        var items = batch.GetProperty("results").EnumerateArray().Select(r => new { encryptedPayload = r.GetProperty("encryptedPayload").GetString() }).ToArray();
        var decryptedBatch = await OkAsync(await client.PostAsJsonAsync(U("/api/v1/decrypt/batch"), new { items }));
        Assert.Equal(["batch one", "batch two"], decryptedBatch.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("plaintext").GetString()));
        Assert.True((await OkAsync(await client.PostAsJsonAsync(U("/api/v1/verify"), new { keyId = signer, message = "signed before", signature }))).GetProperty("valid").GetBoolean());
        Assert.Equal("still mine", (await OkAsync(await client.GetAsync(U($"/api/v1/secrets/{secret}")))).GetProperty("value").GetString());
        await OkAsync(await client.GetAsync(U($"/api/v1/keys/{aes}")));
        await OkAsync(await client.GetAsync(U("/api/v1/keys")));
        await OkAsync(await client.GetAsync(U("/api/v1/secrets")));
        await OkAsync(await client.GetAsync(U($"/api/v1/ssh/ca/{sshCa}")));
        await OkAsync(await client.GetAsync(U("/api/v1/ssh/certificates")));

        // Revocation is never held back by the licence (a compromised key must be revocable), and the CRL is signed.
        await OkAsync(await client.PostAsJsonAsync(U($"/api/v1/certificates/{certificate}/revoke"), new { reason = "keyCompromise" }));
        using (var crl = await client.GetAsync(U($"/api/v1/cas/{ca}/crl")))
        {
            Assert.Equal(HttpStatusCode.OK, crl.StatusCode);
            Assert.StartsWith("-----BEGIN X509 CRL-----", await crl.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.certificates WHERE ca_id = '{ca}'"));

        // A new licence lifts the restriction on every replica.
        Assert.Equal("valid", (await InstallAsync(ValidLicence())).GetProperty("state").GetString());
        await EveryReplicaReportsAsync("valid", TimeSpan.FromSeconds(10));
        await OkAsync(await client.PostAsJsonAsync(U("/api/v1/encrypt"), new { keyId = aes, plaintext = "after renewal" }));
    }

    [Fact]
    public async Task The_licence_limits_on_tenants_and_keys_are_enforced_across_the_installation()
    {
        await InstallAsync(ValidLicence());
        using var client = await TenantClientAsync();
        await CreateKeyAsync(client, "AES-256-GCM");
        var tenants = await fixture.ScalarAsync("SELECT count(*) FROM mislata.tenants");
        var keys = await fixture.ScalarAsync("SELECT count(*) FROM mislata.keys WHERE state <> 'Destroyed'");

        // Room for exactly one more of each.
        var status = await InstallAsync(ValidLicence(maxTenants: (int)tenants + 1, maxKeys: (int)keys + 1));
        Assert.Equal(tenants, status.GetProperty("usage").GetProperty("tenants").GetProperty("used").GetInt64());
        Assert.Equal(keys, status.GetProperty("usage").GetProperty("keys").GetProperty("used").GetInt64());
        await EveryReplicaReportsAsync("valid", TimeSpan.FromSeconds(10));

        await CreateKeyAsync(client, "Ed25519");
        var refusedKey = await ProblemAsync(await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "over", algorithm = "Ed25519" }), HttpStatusCode.Forbidden, "license_restricted");
        Assert.Contains($"at most {keys + 1} keys", refusedKey.GetProperty("detail").GetString(), StringComparison.Ordinal);

        await fixture.CreateTenantAsync();
        using (var operatorClient = fixture.Operator())
        {
            var refusedTenant = await ProblemAsync(await operatorClient.PostAsJsonAsync(U("/api/v1/admin/tenants"), new { name = "over-" + Guid.NewGuid().ToString("N")[..8] }), HttpStatusCode.Forbidden, "license_restricted");
            Assert.Contains($"at most {tenants + 1} tenants", refusedTenant.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // Reads and operations on what exists are not limited.
        await OkAsync(await client.GetAsync(U("/api/v1/keys")));
        Assert.Equal(tenants + 1, await fixture.ScalarAsync("SELECT count(*) FROM mislata.tenants"));
        Assert.Equal(keys + 1, await fixture.ScalarAsync("SELECT count(*) FROM mislata.keys WHERE state <> 'Destroyed'"));

        await InstallAsync(ValidLicence());
    }

    [Fact]
    public async Task The_licence_limit_on_users_is_enforced_where_users_are_created()
    {
        await InstallAsync(ValidLicence());
        var tenant = await fixture.CreateTenantAsync();
        var users = await fixture.ScalarAsync("SELECT count(*) FROM identity.\"AspNetUsers\"");
        var status = await InstallAsync(TestVendor.Issue(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(90), maxUsers: (int)users + 1));
        Assert.Equal(users, status.GetProperty("usage").GetProperty("users").GetProperty("used").GetInt64());
        Assert.Equal(users + 1, status.GetProperty("usage").GetProperty("users").GetProperty("limit").GetInt64());

        // identity reloads the licence when told over Redis, like the api replicas.
        var usersAdmin = await OperatorTokenAsync("platform:admin users:write");
        async Task<(HttpStatusCode Status, JsonElement Body)> CreateUserAsync()
        {
            var (status, body, _) = await Identity.Oidc.ApiAsync(fixture.Stack, HttpMethod.Post, "/api/v1/users", usersAdmin,
                new { email = Identity.Oidc.NewEmail("licence"), password = Identity.Oidc.StrongPassword(), roles = new[] { "tenant-member" }, tenantId = tenant });
            return (status, body);
        }

        var (created, createdBody) = await CreateUserAsync();
        Assert.True(created == HttpStatusCode.Created, $"create user: {(int)created} {createdBody}");
        var (refused, refusedBody) = await CreateUserAsync();
        Assert.True(refused == HttpStatusCode.Forbidden, $"create user over the limit: {(int)refused} {refusedBody}");
        Assert.Equal("license_restricted", refusedBody.GetProperty("error").GetString());
        Assert.Contains($"at most {users + 1} users", refusedBody.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(users + 1, await fixture.ScalarAsync("SELECT count(*) FROM identity.\"AspNetUsers\""));

        await InstallAsync(ValidLicence());
    }

    /// <summary>An access token of the bootstrap operator client with only <paramref name="scope"/>.</summary>
    private async Task<string> OperatorTokenAsync(string scope)
    {
        using var client = fixture.Stack.Gateway.CreateClient();
        using var response = await client.PostAsync(U("/connect/token"), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = fixture.Stack.BootstrapClientId,
            ["client_secret"] = fixture.Stack.BootstrapClientSecret,
            ["scope"] = scope,
        }));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"token: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString()!;
    }

    private static JsonObject Envelope(string licence)
    {
        var body = string.Concat(licence.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal)));
        return JsonNode.Parse(Convert.FromBase64String(body))!.AsObject();
    }
}
