using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Ssh;

/// <summary>
/// <c>/api/v1/ssh</c> through the gateway (two api replicas), checked by OpenSSH itself: keys made by
/// <c>ssh-keygen</c>, certificates read by <c>ssh-keygen -L</c>, and a signature made with the certificate
/// (<c>ssh-keygen -Y sign</c>) accepted by <c>ssh-keygen -Y verify</c> against an allowed_signers line
/// <c>&lt;principal&gt; cert-authority &lt;CA key&gt;</c> — the check sshd makes for TrustedUserCAKeys — and refused for another
/// CA, a wrong principal and an expired certificate. Then the boundaries: another tenant, a narrower credential, a revoked
/// key, a suspended tenant, bad requests, audit without key material.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class SshCaTests(TenancyFixture fixture)
{
    private static readonly string[] ReadWrite = ["ssh:read", "ssh:write", "keys:read", "keys:write", "audit:read", "apikeys:write"];

    private static Uri U(string path) => new(path, UriKind.Relative);

    private async Task<(Guid Tenant, HttpClient Client)> TenantAsync(string[]? scopes = null)
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, scopes ?? ReadWrite);
        return (tenant, fixture.WithKey(key));
    }

    private static async Task<JsonElement> OkJsonAsync(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
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
            return root;
        }
    }

    private static async Task<JsonElement> CreateCaAsync(HttpClient client, string algorithm, object? policy = null)
    {
        var name = "ca-" + Guid.NewGuid().ToString("N")[..10];
        var body = policy is null
            ? (object)new { name, algorithm }
            : new { name, algorithm, maxUserValiditySeconds = 600, allowedPrincipals = new[] { "deploy-*" } };
        return await OkJsonAsync(await client.PostAsJsonAsync(U("/api/v1/ssh/ca"), body), HttpStatusCode.Created);
    }

    private static Task<HttpResponseMessage> IssueAsync(HttpClient client, Guid caId, string publicKey, string[] principals, string type = "user", long validitySeconds = 3600,
        object? criticalOptions = null, string[]? extensions = null, string keyId = "alice@laptop") =>
        client.PostAsJsonAsync(U("/api/v1/ssh/certificates"), new { caId, publicKey, type, keyId, principals, validitySeconds, criticalOptions, extensions });

    [Theory]
    [InlineData("Ed25519", "ssh-ed25519", "ED25519", "ed25519")]
    [InlineData("ECDSA-P256", "ecdsa-sha2-nistp256", "ECDSA", "ecdsa-256")]
    [InlineData("ECDSA-P384", "ecdsa-sha2-nistp384", "ECDSA", "rsa-2048")]
    public async Task A_user_certificate_is_read_by_ssh_keygen_and_a_signature_made_with_it_verifies_against_the_ca_only(
        string algorithm, string caType, string keygenName, string userKey)
    {
        var (tenant, client) = await TenantAsync();
        using var _ = client;
        var ca = await CreateCaAsync(client, algorithm);
        var caId = ca.GetProperty("id").GetGuid();
        var caName = ca.GetProperty("name").GetString();
        var caLine = ca.GetProperty("publicKey").GetString()!;
        Assert.StartsWith(caType + " AAAA", caLine, StringComparison.Ordinal);
        Assert.EndsWith(" mislata-ssh-ca:" + caName, caLine, StringComparison.Ordinal);
        Assert.Equal("@cert-authority * " + caLine, ca.GetProperty("knownHostsLine").GetString());
        Assert.Equal("cert-authority " + caLine, ca.GetProperty("authorizedKeysLine").GetString());

        // The CA key is an ordinary Mislata signing key of the tenant (public part only).
        var key = await OkJsonAsync(await client.GetAsync(U($"/api/v1/keys/{ca.GetProperty("keyId").GetGuid()}")));
        Assert.Equal((algorithm, "signing", "ssh-ca-" + caName), (key.GetProperty("algorithm").GetString(), key.GetProperty("type").GetString(), key.GetProperty("name").GetString()));
        Assert.Equal(caLine, (await OkJsonAsync(await client.GetAsync(U($"/api/v1/ssh/ca/{caId}")))).GetProperty("publicKey").GetString());

        using var dir = new SshDirectory();
        var parts = userKey.Split('-');
        var publicKey = dir.NewKey("user", parts[0], parts.Length > 1 ? parts[1] : null);
        var issuedAt = DateTimeOffset.UtcNow;
        var issued = await OkJsonAsync(await IssueAsync(client, caId, publicKey, ["alice", "deploy"],
            criticalOptions: new Dictionary<string, string> { ["source-address"] = "127.0.0.1/32,10.0.0.0/8" }), HttpStatusCode.Created);
        var serial = issued.GetProperty("serial").GetUInt64();
        var certificate = issued.GetProperty("certificate").GetString()!;
        dir.Write("user-cert.pub", certificate + "\n");

        var listing = dir.Run("ssh-keygen", "-L", "-f", "user-cert.pub");
        Assert.Contains($"Type: {publicKey.Split(' ')[0]}-cert-v01@openssh.com user certificate", listing, StringComparison.Ordinal);
        Assert.Contains($"Signing CA: {keygenName} {ca.GetProperty("fingerprint").GetString()} (using {caType})", listing, StringComparison.Ordinal);
        Assert.Contains("Key ID: \"alice@laptop\"", listing, StringComparison.Ordinal);
        Assert.Contains($"Serial: {serial}", listing, StringComparison.Ordinal);
        Assert.Matches(@"Principals: \n\s+alice\n\s+deploy\n", listing);
        Assert.Matches(@"Critical Options: \n\s+source-address 127.0.0.1/32,10.0.0.0/8\n", listing);
        Assert.Matches(@"Extensions: \n\s+permit-X11-forwarding\n\s+permit-agent-forwarding\n\s+permit-port-forwarding\n\s+permit-pty\n\s+permit-user-rc\n", listing);
        var validity = System.Text.RegularExpressions.Regex.Match(listing, @"Valid: from (\S+) to (\S+)");
        var from = DateTime.ParseExact(validity.Groups[1].Value, "yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        var to = DateTime.ParseExact(validity.Groups[2].Value, "yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        Assert.Equal(TimeSpan.FromSeconds(3600 + 300), to - from);
        Assert.Equal(issued.GetProperty("validBefore").GetDateTimeOffset().UtcDateTime, to);
        Assert.InRange(to, issuedAt.UtcDateTime.AddSeconds(3600 - 120), issuedAt.UtcDateTime.AddSeconds(3600 + 120));

        // A signature made with the certificate (ssh-keygen picks the certificate when -f names it).
        dir.Write("msg", "deploy release 42\n");
        dir.Run("ssh-keygen", "-Y", "sign", "-f", "user-cert.pub", "-n", "file", "msg");
        var signedWith = dir.Run("ssh-keygen", ["-Y", "check-novalidate", "-n", "file", "-s", "msg.sig"], stdin: "msg");
        Assert.Contains("-CERT key", signedWith, StringComparison.Ordinal);

        dir.Write("allowed_signers", $"alice,deploy cert-authority {caLine}\n");
        var accepted = dir.Verify("alice");
        Assert.True(accepted.ExitCode == 0, accepted.Output);
        Assert.Contains("Good \"file\" signature for alice", accepted.Output, StringComparison.Ordinal);
        Assert.Equal(0, dir.Verify("deploy").ExitCode);

        // Refused: a principal the certificate does not name (even though the CA is trusted for it) …
        dir.Write("allowed_signers", $"alice,deploy,root cert-authority {caLine}\n");
        var wrongPrincipal = dir.Verify("root");
        Assert.True(wrongPrincipal.ExitCode != 0, wrongPrincipal.Output);

        // … after the certificate's validBefore, and before its validAfter …
        var expired = dir.Verify("alice", verifyTime: issued.GetProperty("validBefore").GetDateTimeOffset().AddSeconds(1));
        Assert.True(expired.ExitCode != 0, expired.Output);
        Assert.Contains("expired", expired.Output, StringComparison.Ordinal);
        Assert.True(dir.Verify("alice", verifyTime: issued.GetProperty("validAfter").GetDateTimeOffset().AddSeconds(-60)).ExitCode != 0);
        Assert.Equal(0, dir.Verify("alice", verifyTime: issued.GetProperty("validBefore").GetDateTimeOffset().AddSeconds(-60)).ExitCode);

        // … and when only another CA of the tenant is trusted.
        var other = await CreateCaAsync(client, algorithm);
        dir.Write("allowed_signers", $"alice cert-authority {other.GetProperty("publicKey").GetString()}\n");
        var otherCa = dir.Verify("alice");
        Assert.True(otherCa.ExitCode != 0, otherCa.Output);

        // The record and the audit trail: serial, key id, principals, fingerprints — never key material.
        var record = await OkJsonAsync(await client.GetAsync(U($"/api/v1/ssh/certificates/{issued.GetProperty("id").GetGuid()}")));
        Assert.Equal((serial, "user", "alice@laptop"), (record.GetProperty("serial").GetUInt64(), record.GetProperty("type").GetString(), record.GetProperty("keyId").GetString()));
        Assert.Equal(JsonValueKind.Null, record.GetProperty("certificate").ValueKind);
        Assert.Equal(dir.Run("ssh-keygen", "-l", "-f", "user.pub").Split(' ')[1], record.GetProperty("subjectFingerprint").GetString());
        var list = await OkJsonAsync(await client.GetAsync(U($"/api/v1/ssh/certificates?caId={caId}")));
        Assert.Single(list.GetProperty("data").EnumerateArray());
        Assert.Equal(1L, await fixture.ScalarAsync(
            $"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{tenant}' AND action = 'ssh.certificate.issue' AND details->>'serial' = '{serial}' AND details->>'principals' = 'alice,deploy'"));
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{tenant}' AND action = 'ssh.ca.create' AND resource_id = '{caId}'"));
        var publicBlob = publicKey.Split(' ')[1];
        Assert.Equal(0L, await fixture.ScalarAsync(
            $"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{tenant}' AND (details::text LIKE '%{publicBlob[..40]}%' OR details::text LIKE '%{certificate.Split(' ')[1][..40]}%')"));
    }

    [Fact]
    public async Task A_host_certificate_for_known_hosts_has_no_extensions_and_needs_principals()
    {
        var (_, client) = await TenantAsync();
        using var _ = client;
        var ca = await CreateCaAsync(client, "Ed25519");
        var caId = ca.GetProperty("id").GetGuid();
        using var dir = new SshDirectory();
        var hostKey = dir.NewKey("host", "ecdsa", "384");
        var issued = await OkJsonAsync(await IssueAsync(client, caId, hostKey, ["web1.example.com", "10.0.0.5"], type: "host", validitySeconds: 30 * 86_400, keyId: "web1"), HttpStatusCode.Created);
        dir.Write("host-cert.pub", issued.GetProperty("certificate").GetString() + "\n");
        var listing = dir.Run("ssh-keygen", "-L", "-f", "host-cert.pub");
        Assert.Contains("Type: ecdsa-sha2-nistp384-cert-v01@openssh.com host certificate", listing, StringComparison.Ordinal);
        Assert.Matches(@"Principals: \n\s+web1.example.com\n\s+10.0.0.5\n", listing);
        Assert.Contains("Extensions: (none)", listing, StringComparison.Ordinal);

        await ProblemAsync(await IssueAsync(client, caId, hostKey, [], type: "host"), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await IssueAsync(client, caId, hostKey, ["web1"], type: "host", validitySeconds: (30 * 86_400) + 1), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await IssueAsync(client, caId, hostKey, ["web1"], type: "host", extensions: ["permit-pty"]), HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Bad_public_keys_long_validity_unknown_options_and_principals_outside_the_policy_are_clear_400s_and_nothing_is_recorded()
    {
        var (tenant, client) = await TenantAsync();
        using var _ = client;
        var ca = await CreateCaAsync(client, "ECDSA-P256", policy: true);
        var caId = ca.GetProperty("id").GetGuid();
        Assert.Equal(600, ca.GetProperty("maxUserValiditySeconds").GetInt64());
        using var dir = new SshDirectory();
        var good = dir.NewKey("user", "ed25519", null);

        async Task FieldAsync(HttpResponseMessage response, string field, string? words = null)
        {
            var problem = await ProblemAsync(response, HttpStatusCode.BadRequest, "validation_failed");
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), $"no error for {field}: {problem}");
            if (words is not null)
            {
                Assert.Contains(words, messages.ToString(), StringComparison.Ordinal);
            }
        }

        await FieldAsync(await IssueAsync(client, caId, "ssh-ed25519 AAAAnotakey", ["deploy-a"]), "publicKey");
        await FieldAsync(await IssueAsync(client, caId, "ssh-dss AAAAB3NzaC1kc3MAAACBAP", ["deploy-a"]), "publicKey", "unsupported key type");
        var shortRsa = dir.NewKey("rsa1024", "rsa", "1024");
        await FieldAsync(await IssueAsync(client, caId, shortRsa, ["deploy-a"]), "publicKey", "1024 bits");
        await FieldAsync(await IssueAsync(client, caId, good, ["deploy-a"], validitySeconds: 601), "validitySeconds", "at most 600");
        await FieldAsync(await IssueAsync(client, caId, good, ["deploy-a"], validitySeconds: 0), "validitySeconds");
        await FieldAsync(await IssueAsync(client, caId, good, ["deploy-a"], criticalOptions: new Dictionary<string, string> { ["permit-root-login"] = "yes" }), "criticalOptions", "not a critical option");
        await FieldAsync(await IssueAsync(client, caId, good, ["deploy-a"], criticalOptions: new Dictionary<string, string> { ["source-address"] = "10.0.0.0/40" }), "criticalOptions", "source-address");
        await FieldAsync(await IssueAsync(client, caId, good, ["root"]), "principals", "allowedPrincipals");
        await FieldAsync(await IssueAsync(client, caId, good, [.. Enumerable.Range(0, 257).Select(i => "deploy-" + i)]), "principals", "at most 256");
        await FieldAsync(await IssueAsync(client, caId, good, ["deploy a"]), "principals");
        await FieldAsync(await client.PostAsJsonAsync(U("/api/v1/ssh/ca"), new { name = "bad name", algorithm = "Ed25519" }), "name");
        await FieldAsync(await client.PostAsJsonAsync(U("/api/v1/ssh/ca"), new { name = "rsa", algorithm = "RSA-2048" }), "algorithm");
        await FieldAsync(await client.PostAsJsonAsync(U("/api/v1/ssh/ca"), new { name = "ok", algorithm = "Ed25519", maxUserValiditySeconds = 0 }), "maxUserValiditySeconds");
        await ProblemAsync(await client.PostAsJsonAsync(U("/api/v1/ssh/ca"), new { name = ca.GetProperty("name").GetString(), algorithm = "Ed25519" }), HttpStatusCode.Conflict, "conflict");

        var ok = await OkJsonAsync(await IssueAsync(client, caId, good, ["deploy-a"], validitySeconds: 600, extensions: ["permit-pty"],
            criticalOptions: new Dictionary<string, string> { ["force-command"] = "/usr/bin/true" }), HttpStatusCode.Created);
        dir.Write("ok-cert.pub", ok.GetProperty("certificate").GetString() + "\n");
        var listing = dir.Run("ssh-keygen", "-L", "-f", "ok-cert.pub");
        Assert.Matches(@"Extensions: \n\s+permit-pty\n", listing);
        Assert.Contains("force-command /usr/bin/true", listing, StringComparison.Ordinal);
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.ssh_certificates WHERE tenant_id = '{tenant}'"));
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.ssh_cas WHERE tenant_id = '{tenant}'"));
    }

    [Fact]
    public async Task Another_tenants_ca_is_not_found_a_narrower_credential_is_403_a_revoked_key_401_and_a_suspended_tenant_403()
    {
        var (owner, ownerClient) = await TenantAsync();
        using var _ = ownerClient;
        var ca = await CreateCaAsync(ownerClient, "Ed25519");
        var caId = ca.GetProperty("id").GetGuid();
        using var dir = new SshDirectory();
        var publicKey = dir.NewKey("user", "ed25519", null);
        var issued = await OkJsonAsync(await IssueAsync(ownerClient, caId, publicKey, ["alice"]), HttpStatusCode.Created);
        var certificateId = issued.GetProperty("id").GetGuid();

        // Another tenant with every SSH scope: the CA and its certificates do not exist for it.
        var (_, strangerClient) = await TenantAsync();
        using (strangerClient)
        {
            await ProblemAsync(await strangerClient.GetAsync(U($"/api/v1/ssh/ca/{caId}")), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(await IssueAsync(strangerClient, caId, publicKey, ["alice"]), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(await strangerClient.GetAsync(U($"/api/v1/ssh/certificates/{certificateId}")), HttpStatusCode.NotFound, "not_found");
            Assert.Empty((await OkJsonAsync(await strangerClient.GetAsync(U("/api/v1/ssh/ca")))).GetProperty("data").EnumerateArray());
            Assert.Empty((await OkJsonAsync(await strangerClient.GetAsync(U($"/api/v1/ssh/certificates?caId={caId}")))).GetProperty("data").EnumerateArray());
        }

        // Narrower credentials of the owner: ssh:read reads but never writes; keys:* alone reaches nothing here.
        var (_, readerKey) = await fixture.CreateKeyAsync(owner, ["ssh:read"]);
        var (_, keysKey) = await fixture.CreateKeyAsync(owner, ["keys:read", "keys:write", "encryption:write"]);
        using (var reader = fixture.WithKey(readerKey))
        using (var keysOnly = fixture.WithKey(keysKey))
        {
            foreach (var client in new[] { reader, keysOnly })
            {
                await ProblemAsync(await client.PostAsJsonAsync(U("/api/v1/ssh/ca"), new { name = "nope", algorithm = "Ed25519" }), HttpStatusCode.Forbidden, "insufficient_scope");
                await ProblemAsync(await IssueAsync(client, caId, publicKey, ["alice"]), HttpStatusCode.Forbidden, "insufficient_scope");
            }

            foreach (var path in new[] { "/api/v1/ssh/ca", $"/api/v1/ssh/ca/{caId}", "/api/v1/ssh/certificates", $"/api/v1/ssh/certificates/{certificateId}" })
            {
                await OkJsonAsync(await reader.GetAsync(U(path)));
                await ProblemAsync(await keysOnly.GetAsync(U(path)), HttpStatusCode.Forbidden, "insufficient_scope");
            }
        }

        // A revoked key: 401 on every route.
        var made = await OkJsonAsync(await ownerClient.PostAsJsonAsync(U("/api/v1/api-keys"), new { name = "short-lived", scopes = new[] { "ssh:read", "ssh:write" } }), HttpStatusCode.Created);
        using (var revokedClient = fixture.WithKey(made.GetProperty("key").GetString()))
        {
            await OkJsonAsync(await revokedClient.GetAsync(U($"/api/v1/ssh/ca/{caId}")));
            using (var revoke = await ownerClient.DeleteAsync(U($"/api/v1/api-keys/{made.GetProperty("id").GetGuid()}")))
            {
                Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
            }

            var (status, _, _) = await TenancyFixture.EventuallyAsync(() => revokedClient.GetAsync(U($"/api/v1/ssh/ca/{caId}")), HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(2));
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            await ProblemAsync(await IssueAsync(revokedClient, caId, publicKey, ["alice"]), HttpStatusCode.Unauthorized, "unauthorized");
            await ProblemAsync(await revokedClient.PostAsJsonAsync(U("/api/v1/ssh/ca"), new { name = "nope", algorithm = "Ed25519" }), HttpStatusCode.Unauthorized, "unauthorized");
        }

        // A suspended tenant: 403 until reactivated.
        using (var op = fixture.Operator())
        {
            Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{owner}/suspend"), null)).StatusCode);
            var (status, _, _) = await TenancyFixture.EventuallyAsync(() => ownerClient.GetAsync(U($"/api/v1/ssh/ca/{caId}")), HttpStatusCode.Forbidden, TimeSpan.FromSeconds(2));
            Assert.Equal(HttpStatusCode.Forbidden, status);
            await ProblemAsync(await IssueAsync(ownerClient, caId, publicKey, ["alice"]), HttpStatusCode.Forbidden, "forbidden");
            Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{owner}/reactivate"), null)).StatusCode);
            var (back, _, _) = await TenancyFixture.EventuallyAsync(() => ownerClient.GetAsync(U($"/api/v1/ssh/ca/{caId}")), HttpStatusCode.OK, TimeSpan.FromSeconds(2));
            Assert.Equal(HttpStatusCode.OK, back);
        }

        // A disabled CA key cannot sign: 409 key_state_invalid, and nothing is recorded.
        await OkJsonAsync(await ownerClient.PostAsync(U($"/api/v1/keys/{ca.GetProperty("keyId").GetGuid()}/disable"), null));
        await ProblemAsync(await IssueAsync(ownerClient, caId, publicKey, ["alice"]), HttpStatusCode.Conflict, "key_state_invalid");
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.ssh_certificates WHERE tenant_id = '{owner}'"));
    }

    [Fact]
    public async Task Rotating_the_cas_key_rotates_the_ca_and_later_certificates_name_the_new_key()
    {
        var (_, client) = await TenantAsync();
        using var _ = client;
        var ca = await CreateCaAsync(client, "Ed25519");
        var caId = ca.GetProperty("id").GetGuid();
        await OkJsonAsync(await client.PostAsync(U($"/api/v1/keys/{ca.GetProperty("keyId").GetGuid()}/rotate"), null));
        var rotated = await OkJsonAsync(await client.GetAsync(U($"/api/v1/ssh/ca/{caId}")));
        Assert.Equal(2, rotated.GetProperty("keyVersion").GetInt32());
        Assert.NotEqual(ca.GetProperty("fingerprint").GetString(), rotated.GetProperty("fingerprint").GetString());

        // Each api replica drops its cached key on the change notice (pub/sub, within a second): issue until one is signed by version 2.
        using var dir = new SshDirectory();
        var publicKey = dir.NewKey("user", "ed25519", null);
        JsonElement issued;
        var watch = Stopwatch.StartNew();
        do
        {
            issued = await OkJsonAsync(await IssueAsync(client, caId, publicKey, ["alice"]), HttpStatusCode.Created);
        }
        while (issued.GetProperty("keyVersion").GetInt32() != 2 && watch.Elapsed < TimeSpan.FromSeconds(10));

        Assert.Equal(2, issued.GetProperty("keyVersion").GetInt32());
        Assert.Equal(rotated.GetProperty("fingerprint").GetString(), issued.GetProperty("caFingerprint").GetString());
        dir.Write("user-cert.pub", issued.GetProperty("certificate").GetString() + "\n");
        Assert.Contains($"Signing CA: ED25519 {rotated.GetProperty("fingerprint").GetString()} ", dir.Run("ssh-keygen", "-L", "-f", "user-cert.pub"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_repeated_idempotency_key_issues_one_certificate()
    {
        var (tenant, client) = await TenantAsync();
        using var _ = client;
        var caId = (await CreateCaAsync(client, "Ed25519")).GetProperty("id").GetGuid();
        using var dir = new SshDirectory();
        var publicKey = dir.NewKey("user", "ed25519", null);
        var idempotencyKey = "issue-" + Guid.NewGuid().ToString("N");
        var serials = new List<ulong>();
        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/ssh/certificates")
            {
                Content = JsonContent.Create(new { caId, publicKey, type = "user", keyId = "once", principals = new[] { "alice" }, validitySeconds = 60 }),
            };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            serials.Add((await OkJsonAsync(await client.SendAsync(request), HttpStatusCode.Created)).GetProperty("serial").GetUInt64());
        }

        Assert.Equal(serials[0], serials[1]);
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.ssh_certificates WHERE tenant_id = '{tenant}'"));
    }

    [Fact]
    public async Task The_client_library_creates_a_ca_issues_a_certificate_and_reads_both_back()
    {
        var (_, key) = await fixture.CreateKeyAsync(await fixture.CreateTenantAsync(), ["ssh:read", "ssh:write"]);
        var (client, services) = Client.ClientKit.WithKey(fixture, key);
        await using var _ = services;
        var ca = await client.Ssh.CreateCaAsync(new Mislata.Client.Contracts.CreateSshCaRequest("client-" + Guid.NewGuid().ToString("N")[..8], "ECDSA-P384"));
        Assert.StartsWith("ecdsa-sha2-nistp384 ", ca.PublicKey, StringComparison.Ordinal);
        Assert.Equal(ca.PublicKey, (await client.Ssh.GetCaAsync(ca.Id)).PublicKey);
        Assert.Contains((await client.Ssh.ListCasAsync()).Data, c => c.Id == ca.Id);

        using var dir = new SshDirectory();
        var publicKey = dir.NewKey("user", "ed25519", null);
        var issued = await client.Ssh.IssueAsync(new Mislata.Client.Contracts.IssueSshCertificateRequest(ca.Id, publicKey, "user", "client@test", ["carol"], 300, Extensions: []));
        dir.Write("user-cert.pub", issued.Certificate + "\n");
        var listing = dir.Run("ssh-keygen", "-L", "-f", "user-cert.pub");
        Assert.Contains("Extensions: (none)", listing, StringComparison.Ordinal);
        Assert.Contains($"Serial: {issued.Serial}", listing, StringComparison.Ordinal);
        Assert.Equal(issued.Serial, (await client.Ssh.GetCertificateAsync(issued.Id)).Serial);
        Assert.Equal([issued.Id], (await client.Ssh.ListCertificatesAsync(ca.Id)).Data.Select(c => c.Id));
        var refused = await Client.ClientKit.FailsAsync(() => client.Ssh.IssueAsync(new Mislata.Client.Contracts.IssueSshCertificateRequest(ca.Id, "ssh-rsa AAAA", "user", "k", ["carol"], 300)));
        Assert.Equal(400, (int)refused.StatusCode);
    }
}
