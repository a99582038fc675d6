using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mislata.Client;
using Mislata.Client.Contracts;
using Mislata.Client.Envelope;
using Mislata.Client.Offline;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Client;

/// <summary>
/// The client library against the running platform (gateway, two api replicas, identity): every endpoint group it
/// covers, problems as <see cref="MislataApiException"/>, tenant isolation, scopes, revocation, client credentials,
/// a rate-limited plain POST not retried, envelope encryption with /datakey and offline ML-KEM encryption.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class ClientApiTests(TenancyFixture fixture)
{
    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>A fresh tenant (through the library, as the operator) and a client with its first key (every tenant scope).</summary>
    private async Task<(MislataClient Client, IAsyncDisposable Services, Guid TenantId)> TenantAsync(IReadOnlyList<string>? scopes = null, int? rateLimit = null,
        Action<MislataClientOptions>? more = null)
    {
        var (admin, adminServices) = ClientKit.Operator(fixture);
        await using (adminServices)
        {
            var tenant = await admin.Admin.CreateTenantAsync(new CreateTenantRequest(Unique("t"), "business", AdminEmail: "admin@example.com"));
            var key = await admin.Admin.CreateTenantApiKeyAsync(tenant.Id, new CreateApiKeyRequest("first", scopes, RateLimitPerMinute: rateLimit));
            var (client, services) = ClientKit.WithKey(fixture, key.Key, more);
            return (client, services, tenant.Id);
        }
    }

    [Fact]
    public async Task The_operator_with_client_credentials_administers_plans_partners_and_tenants_and_a_partner_uses_its_portal()
    {
        var (admin, services) = ClientKit.Operator(fixture);
        await using var _ = services;
        await admin.PingAsync();

        var code = Unique("plan").ToLowerInvariant();
        var plan = await admin.Admin.CreatePlanAsync(new PlanRequest(code, "Client test plan", MaxKeys: 50, Features: [], AvailableToPartners: true));
        Assert.Equal((code, 50, true), (plan.Code, plan.MaxKeys, plan.AvailableToPartners));
        Assert.Equal(plan.Id, (await admin.Admin.GetPlanAsync(plan.Id)).Id);
        Assert.Equal(60, (await admin.Admin.UpdatePlanAsync(plan.Id, new PlanRequest(MaxKeys: 60))).MaxKeys);
        Assert.Contains(await MislataClient.AllAsync((c, ct) => admin.Admin.ListPlansAsync(100, c, ct)).ToListAsync(), p => p.Id == plan.Id);

        var partner = await admin.Admin.CreatePartnerAsync(new PartnerRequest(Unique("partner"), "p@example.com", 3));
        Assert.Equal(partner.Id, (await admin.Admin.GetPartnerAsync(partner.Id)).Id);
        Assert.Equal(4, (await admin.Admin.UpdatePartnerAsync(partner.Id, new PartnerRequest(MaxTenants: 4))).MaxTenants);
        Assert.Contains(await MislataClient.AllAsync((c, ct) => admin.Admin.ListPartnersAsync(100, c, ct)).ToListAsync(), p => p.Id == partner.Id);
        var partnerKey = await admin.Admin.CreatePartnerApiKeyAsync(partner.Id, new CreateApiKeyRequest("portal", ["partner:admin"]));
        Assert.StartsWith("qapi_", partnerKey.Key, StringComparison.Ordinal);
        Assert.Contains((await admin.Admin.ListPartnerApiKeysAsync(partner.Id)).Data, k => k.Id == partnerKey.Id);
        Assert.Equal(partnerKey.Prefix, (await admin.Admin.GetPartnerApiKeyAsync(partner.Id, partnerKey.Id)).Prefix);

        var (portal, portalServices) = ClientKit.WithKey(fixture, partnerKey.Key);
        await using (portalServices)
        {
            var own = await portal.Partner.CreateTenantAsync(new CreatePartnerTenantRequest(Unique("pt"), code, "a@example.com"));
            Assert.Equal(partner.Id, own.PartnerId);
            Assert.Equal(own.Id, (await portal.Partner.GetTenantAsync(own.Id)).Id);
            Assert.Contains((await portal.Partner.ListTenantsAsync()).Data, t => t.Id == own.Id);
            Assert.Equal(partner.Id, (await portal.Partner.UsageAsync()).PartnerId);
            Assert.Equal("insufficient_scope", (await ClientKit.FailsAsync(() => portal.Admin.ListTenantsAsync())).Error);
        }

        await admin.Admin.RevokePartnerApiKeyAsync(partner.Id, partnerKey.Id);

        var tenant = await admin.Admin.CreateTenantAsync(new CreateTenantRequest(Unique("t"), code, AdminEmail: "admin@example.com"));
        Assert.Equal(("active", plan.Id), (tenant.Status, tenant.PlanId));
        Assert.Equal(tenant.Name, (await admin.Admin.GetTenantAsync(tenant.Id)).Name);
        Assert.Equal(5, (await admin.Admin.UpdateTenantAsync(tenant.Id, new UpdateTenantRequest(SecretVersionsKept: 5))).SecretVersionsKept);
        Assert.Equal("suspended", (await admin.Admin.SuspendTenantAsync(tenant.Id)).Status);
        Assert.Equal("active", (await admin.Admin.ReactivateTenantAsync(tenant.Id)).Status);
        var first = await admin.Admin.CreateTenantApiKeyAsync(tenant.Id, new CreateApiKeyRequest("first", ["keys:read"]));
        Assert.Equal(["keys:read"], first.Scopes);
        Assert.Equal("conflict", (await ClientKit.FailsAsync(() => admin.Admin.CreateTenantAsync(new CreateTenantRequest(tenant.Name)))).Error);
        Assert.True((await admin.Admin.ListTenantsAsync(limit: 1)).Data.Count == 1);

        var doomed = await admin.Admin.CreateTenantAsync(new CreateTenantRequest(Unique("t")));
        await admin.Admin.DeleteTenantAsync(doomed.Id);
        Assert.Equal((404, "not_found"), await StatusOf(() => admin.Admin.GetTenantAsync(doomed.Id)));
        var lonely = await admin.Admin.CreatePartnerAsync(new PartnerRequest(Unique("partner")));
        await admin.Admin.DeletePartnerAsync(lonely.Id);
        Assert.Equal((404, "not_found"), await StatusOf(() => admin.Admin.GetPartnerAsync(lonely.Id)));

        var events = await admin.Audit.ListAsync(new AuditQuery(TenantId: tenant.Id, Limit: 100));
        Assert.Contains(events.Data, e => e.Action == "apikey.create" && e.ResourceId == first.Id.ToString() && e.ActorId == fixture.Stack.BootstrapClientId);
    }

    private static async Task<(int, string)> StatusOf(Func<Task> call)
    {
        var e = await ClientKit.FailsAsync(call);
        Assert.False(string.IsNullOrEmpty(e.TraceId));
        return (e.Status, e.Error);
    }

    [Fact]
    public async Task A_key_goes_through_its_whole_lifecycle()
    {
        var (client, services, _) = await TenantAsync();
        await using var _ = services;

        var key = await client.Keys.CreateAsync(new CreateKeyRequest(Unique("k"), "ML-KEM-768", Description: "d", Tags: ["env:test"]));
        Assert.Equal(("ML-KEM-768", "encryption", "enabled", 1), (key.Algorithm, key.Type, key.State, key.CurrentVersion));
        Assert.Equal(key.Id, (await client.Keys.GetAsync(key.Id)).Id);
        Assert.Equal([key.Id], (await client.Keys.ListAsync(new KeyListQuery(Name: key.Name))).Data.Select(k => k.Id));
        Assert.Contains((await client.Keys.ListAsync(new KeyListQuery(Tag: "env:test"))).Data, k => k.Id == key.Id);
        Assert.Equal(["a", "b"], (await client.Keys.UpdateAsync(key.Id, new UpdateKeyRequest(Tags: ["a", "b"]))).Tags);

        var rotated = await client.Keys.RotateAsync(key.Id);
        Assert.Equal(2, rotated.CurrentVersion);
        Assert.Equal(["deprecated", "active"], rotated.Versions.Select(v => v.State));

        var raw = await client.Keys.GetPublicKeyAsync(key.Id);
        Assert.Equal((2, "raw", 1184), (raw.Version, raw.Format, raw.RawBytes().Length));
        var jwk = await client.Keys.GetPublicKeyAsync(key.Id, "jwk", version: 1);
        Assert.Equal(($"{key.Id:D}.1", "AKP"), (jwk.Jwk!.Value.GetProperty("kid").GetString(), jwk.Jwk.Value.GetProperty("kty").GetString()));
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", (await client.Keys.GetPublicKeyAsync(key.Id, "pem")).PublicKeyText, StringComparison.Ordinal);
        Assert.Contains((await client.Keys.GetJwksAsync()).Keys, k => k.GetProperty("kid").GetString()!.StartsWith(key.Id.ToString("D"), StringComparison.Ordinal));

        Assert.Equal("disabled", (await client.Keys.DisableAsync(key.Id)).State);
        var refused = await ClientKit.FailsAsync(() => client.Crypto.EncryptAsync(new EncryptRequest("x", KeyId: key.Id)));
        Assert.Equal((409, "key_state_invalid"), (refused.Status, refused.Error));
        Assert.Equal("enabled", (await client.Keys.EnableAsync(key.Id)).State);
        var deleted = await client.Keys.DeleteAsync(key.Id, pendingDays: 7);
        Assert.Equal("pendingDeletion", deleted.State);
        Assert.NotNull(deleted.DeletionDate);
        Assert.Equal("disabled", (await client.Keys.RestoreAsync(key.Id)).State);
        var invalid = await ClientKit.FailsAsync(() => client.Keys.DeleteAsync(key.Id, pendingDays: 3));
        Assert.Equal((400, "validation_failed"), (invalid.Status, invalid.Error));
        Assert.True(invalid.Errors.ContainsKey("pendingDays"));

        var material = RandomNumberGenerator.GetBytes(32);
        var imported = await client.Keys.ImportAsync(new ImportKeyRequest(Unique("byok"), "AES-256-GCM", JsonSerializer.SerializeToElement(Convert.ToBase64String(material)), "raw"));
        Assert.Equal(("AES-256-GCM", "imported"), (imported.Algorithm, imported.Origin));
        var sealedText = await client.Crypto.EncryptAsync(new EncryptRequest("byok", KeyId: imported.Id));
        Assert.Equal("A256GCM", JsonDocument.Parse(Convert.FromBase64String(sealedText.EncryptedPayload)).RootElement.GetProperty("a").GetString());
    }

    [Fact]
    public async Task Every_cryptographic_operation_works_and_a_failed_decryption_says_only_decryption_failed()
    {
        var (client, services, _) = await TenantAsync();
        await using var _ = services;
        var key = await client.Keys.CreateAsync(new CreateKeyRequest(Unique("enc")));
        var signing = await client.Keys.CreateAsync(new CreateKeyRequest(Unique("sig"), "ML-DSA-65"));
        var hmacKey = await client.Keys.CreateAsync(new CreateKeyRequest(Unique("mac"), "HMAC-SHA256"));

        var text = await client.Crypto.EncryptAsync(new EncryptRequest("héllo", KeyId: key.Id, Context: "c1"));
        var opened = await client.Crypto.DecryptAsync(new DecryptRequest(text.EncryptedPayload, "c1"));
        Assert.Equal(("héllo", "utf8", key.Id), (opened.Plaintext, opened.Encoding, opened.KeyId));
        var bytes = RandomNumberGenerator.GetBytes(1024);
        var binary = await client.Crypto.EncryptAsync(bytes, key.Id);
        Assert.Equal(bytes, (await client.Crypto.DecryptAsync(new DecryptRequest(binary.EncryptedPayload))).PlaintextBytes());
        var failed = await ClientKit.FailsAsync(() => client.Crypto.DecryptAsync(new DecryptRequest(text.EncryptedPayload, "c2")));
        Assert.Equal((400, "decryption_failed"), (failed.Status, failed.Error));

        var batch = await client.Crypto.EncryptBatchAsync(new EncryptBatchRequest([new EncryptRequest("a"), new EncryptRequest("b", KeyId: signing.Id)], key.Id));
        Assert.NotNull(batch.Results[0].EncryptedPayload);
        Assert.Equal("algorithm_mismatch", batch.Results[1].Error?.Code);
        var openedBatch = await client.Crypto.DecryptBatchAsync(new DecryptBatchRequest([new DecryptRequest(batch.Results[0].EncryptedPayload!), new DecryptRequest("garbage")]));
        Assert.Equal("a", openedBatch.Results[0].Plaintext);
        Assert.NotNull(openedBatch.Results[1].Error);

        await client.Keys.RotateAsync(key.Id);
        var rewrapped = await client.Crypto.RewrapAsync(new RewrapRequest(text.EncryptedPayload, "c1"));
        Assert.Equal(2, rewrapped.KeyVersion);
        Assert.Equal("héllo", (await client.Crypto.DecryptAsync(new DecryptRequest(rewrapped.EncryptedPayload, "c1"))).Plaintext);

        var dataKey = await client.Crypto.DataKeyAsync(new DataKeyRequest(key.Id, 32));
        Assert.Equal(Convert.FromBase64String(dataKey.Plaintext!), (await client.Crypto.DecryptAsync(new DecryptRequest(dataKey.EncryptedPayload))).PlaintextBytes());
        Assert.Null((await client.Crypto.DataKeyAsync(new DataKeyRequest(key.Id, IncludePlaintext: false))).Plaintext);

        var signature = await client.Crypto.SignAsync(new SignRequest("message", KeyId: signing.Id, Context: "ctx"));
        Assert.True((await client.Crypto.VerifyAsync(new VerifyRequest("message", signature.Signature, KeyId: signing.Id, Context: "ctx"))).Valid);
        Assert.False((await client.Crypto.VerifyAsync(new VerifyRequest("massage", signature.Signature, KeyId: signing.Id, Context: "ctx"))).Valid);

        var mac = await client.Crypto.HmacAsync(new HmacRequest("m", hmacKey.Id));
        Assert.Equal(32, Convert.FromBase64String(mac.Mac).Length);
        Assert.True((await client.Crypto.HmacVerifyAsync(new HmacVerifyRequest("m", mac.Mac, hmacKey.Id))).Valid);
        Assert.False((await client.Crypto.HmacVerifyAsync(new HmacVerifyRequest("n", mac.Mac, hmacKey.Id))).Valid);

        var random = await client.Crypto.RandomAsync(new RandomRequest(64));
        Assert.Equal(64, Convert.FromBase64String(random.Random).Length);
        Assert.Contains(random.Source, new[] { "os", "qrng" });
        var tooMany = await ClientKit.FailsAsync(() => client.Crypto.RandomAsync(new RandomRequest(5000)));
        Assert.Equal("validation_failed", tooMany.Error);
    }

    [Fact]
    public async Task A_CA_issues_lists_and_revokes_and_its_CRL_lists_the_revoked_serial()
    {
        var (client, services, _) = await TenantAsync();
        await using var _ = services;
        var root = await client.Certificates.CreateCaAsync(new CreateCaRequest(Unique("root"), "CN=Client Root,O=Example", 365, "ECDSA-P256", PathLength: 1));
        var issuing = await client.Certificates.CreateCaAsync(new CreateCaRequest(Unique("issuing"), "CN=Client Issuing", 100, "ML-DSA-44", ParentId: root.Id));
        Assert.Equal((0, root.Id), (issuing.PathLength, issuing.ParentId));
        Assert.Equal(issuing.Id, (await client.Certificates.GetCaAsync(issuing.Id)).Id);
        Assert.Equal(2, (await client.Certificates.ListCasAsync()).Data.Count);

        var issued = await client.Certificates.IssueAsync(new IssueCertificateRequest(issuing.Id, "server", 30, Subject: "CN=svc.example.com", Algorithm: "Ed25519", Sans: ["dns:svc.example.com"]));
        Assert.Contains("PRIVATE KEY", issued.PrivateKeyPem, StringComparison.Ordinal);
        Assert.Null((await client.Certificates.GetAsync(issued.Id)).PrivateKeyPem);
        Assert.Equal([issued.Id], (await client.Certificates.ListAsync(issuing.Id)).Data.Select(c => c.Id));

        var revoked = await client.Certificates.RevokeAsync(issued.Id, "superseded");
        Assert.Equal((true, "superseded"), (revoked.Revoked, revoked.RevocationReason));
        Assert.Equal("conflict", (await ClientKit.FailsAsync(() => client.Certificates.RevokeAsync(issued.Id))).Error);
        Assert.Equal("validation_failed", (await ClientKit.FailsAsync(() => client.Certificates.IssueAsync(new IssueCertificateRequest(issuing.Id, "server", 3650, Subject: "CN=x", Sans: ["dns:x.example.com"])))).Error);

        var crl = await client.Certificates.GetCrlAsync(issuing.Id);
        Assert.True(crl.AsSpan().IndexOf(Convert.FromHexString(issued.SerialNumber)) > 0, "the CRL does not list the revoked serial");
    }

    [Fact]
    public async Task A_secret_round_trips_with_check_and_set_history_deletion_restore_and_purge()
    {
        var (client, services, _) = await TenantAsync();
        await using var _ = services;
        var name = "app/" + Unique("db");

        var created = await client.Secrets.CreateAsync(new CreateSecretRequest(name, "one", Labels: ["env:prod"], ContentType: "text/plain"));
        Assert.Equal((name, 1), (created.Name, created.Version));
        Assert.Equal("one", (await client.Secrets.GetAsync(created.Id)).Value);
        Assert.Equal(2, (await client.Secrets.WriteAsync(created.Id, new WriteSecretRequest("two", ExpectedVersion: 1))).Version);
        var stale = await ClientKit.FailsAsync(() => client.Secrets.WriteAsync(created.Id, new WriteSecretRequest("three", ExpectedVersion: 1)));
        Assert.Equal((409, "conflict"), (stale.Status, stale.Error));
        var binary = RandomNumberGenerator.GetBytes(100);
        await client.Secrets.WriteAsync(created.Id, new WriteSecretRequest(Convert.ToBase64String(binary), ValueEncoding.Base64));
        Assert.Equal(binary, (await client.Secrets.GetAsync(created.Id)).ValueBytes());
        Assert.Equal("one", (await client.Secrets.GetAsync(created.Id, version: 1)).Value);
        Assert.Equal([3, 2, 1], (await client.Secrets.VersionsAsync(created.Id)).Data.Select(v => v.Version).OrderDescending());
        Assert.Equal("desc", (await client.Secrets.UpdateAsync(created.Id, new UpdateSecretRequest(Description: "desc"))).Description);
        var listed = (await client.Secrets.ListAsync(new SecretListQuery(Name: name))).Data.Single();
        Assert.Equal((created.Id, 3), (listed.Id, listed.CurrentVersion));

        Assert.Equal("deleted", (await client.Secrets.DeleteAsync(created.Id)).State);
        Assert.Equal((404, "not_found"), await StatusOf(() => client.Secrets.GetAsync(created.Id)));
        Assert.Contains((await client.Secrets.ListAsync(new SecretListQuery(State: "deleted"))).Data, s => s.Id == created.Id);
        Assert.Equal("live", (await client.Secrets.RestoreAsync(created.Id)).State);
        await client.Secrets.PurgeAsync(created.Id);
        Assert.Equal((404, "not_found"), await StatusOf(() => client.Secrets.RestoreAsync(created.Id)));
    }

    [Fact]
    public async Task API_keys_scopes_revocation_tenant_isolation_audit_and_billing()
    {
        var (client, services, tenantId) = await TenantAsync();
        await using var _ = services;
        var key = await client.Keys.CreateAsync(new CreateKeyRequest(Unique("k")));

        var narrow = await client.ApiKeys.CreateAsync(new CreateApiKeyRequest(Unique("reader"), ["keys:read"]));
        Assert.Equal(["keys:read"], narrow.Scopes);
        Assert.Contains((await client.ApiKeys.ListAsync()).Data, k => k.Id == narrow.Id && k.Prefix == narrow.Prefix);
        Assert.Equal("active", (await client.ApiKeys.GetAsync(narrow.Id)).Status);
        var (reader, readerServices) = ClientKit.WithKey(fixture, narrow.Key);
        await using (readerServices)
        {
            Assert.Equal(key.Id, (await reader.Keys.GetAsync(key.Id)).Id);
            var scope = await ClientKit.FailsAsync(() => reader.Crypto.EncryptAsync(new EncryptRequest("x", KeyId: key.Id)));
            Assert.Equal((403, "insufficient_scope"), (scope.Status, scope.Error));
            await client.ApiKeys.RevokeAsync(narrow.Id);
            MislataApiException? revoked = null;
            for (var i = 0; i < 50 && revoked is null; i++)
            {
                revoked = await Record.ExceptionAsync(() => reader.Keys.GetAsync(key.Id)) as MislataApiException;
                await Task.Delay(100);
            }

            Assert.Equal((401, "unauthorized"), (revoked?.Status, revoked?.Error));
        }

        var (other, otherServices, _) = await TenantAsync();
        await using (otherServices)
        {
            Assert.Equal((404, "not_found"), await StatusOf(() => other.Keys.GetAsync(key.Id)));
            Assert.Equal((404, "not_found"), await StatusOf(() => other.ApiKeys.RevokeAsync(narrow.Id)));
        }

        var events = await client.Audit.ListAsync(new AuditQuery(ResourceId: key.Id.ToString(), Limit: 10));
        Assert.Contains(events.Data, e => e.TenantId == tenantId && e.ResourceId == key.Id.ToString());
        Assert.True((await client.Audit.VerifyAsync()).Valid);
        Assert.Equal(tenantId, (await client.Billing.SubscriptionAsync()).TenantId);
        Assert.True((await client.Billing.UsageAsync()).Keys.Used >= 1);
    }

    [Fact]
    public async Task A_rate_limited_encrypt_is_not_retried_and_reports_Retry_After()
    {
        var retries = 0;
        var (client, services, _) = await TenantAsync(rateLimit: 1, more: o => o.OnRetry = (_, _, _) => Interlocked.Increment(ref retries));
        await using var _ = services;

        MislataApiException? limited = null;
        for (var i = 0; i < 5 && limited is null; i++)
        {
            limited = await Record.ExceptionAsync(() => client.Crypto.RandomAsync(new RandomRequest(8))) as MislataApiException;
        }

        Assert.Equal((429, "rate_limited"), (limited?.Status, limited?.Error));
        Assert.NotNull(limited!.RetryAfter);
        Assert.Equal(0, retries);
    }

    [Fact]
    public async Task A_rate_limited_read_is_retried_with_backoff_and_reports_the_429_when_the_limit_stays()
    {
        var statuses = new System.Collections.Concurrent.ConcurrentQueue<int?>();
        var (client, services, _) = await TenantAsync(rateLimit: 1, more: o =>
        {
            o.OnRetry = (_, _, status) => statuses.Enqueue(status);
            o.MaxRetries = 2;
            o.MaxRetryDelay = TimeSpan.FromMilliseconds(200);
        });
        await using var _ = services;

        // The window holds one request a minute: the first read passes, the next is answered 429 with Retry-After,
        // retried twice (a GET is idempotent; the delay is capped at 200 ms here) and then reported.
        await client.Keys.ListAsync();
        var limited = await Record.ExceptionAsync(() => client.Keys.ListAsync()) as MislataApiException;
        Assert.Equal((429, "rate_limited"), (limited?.Status, limited?.Error));
        Assert.NotNull(limited!.RetryAfter);
        Assert.Equal([429, 429], statuses.ToArray());
    }

    [Theory]
    [InlineData("ML-KEM-512")]
    [InlineData("ML-KEM-768")]
    [InlineData("ML-KEM-1024")]
    public async Task A_payload_encrypted_offline_to_the_exported_key_decrypts_through_the_API(string algorithm)
    {
        var (client, services, _) = await TenantAsync();
        await using var _ = services;
        var key = await client.Keys.CreateAsync(new CreateKeyRequest(Unique("kem"), algorithm));
        var exported = OfflinePublicKey.FromPublicKey(await client.Keys.GetPublicKeyAsync(key.Id));
        var plaintext = RandomNumberGenerator.GetBytes(4096);

        var payload = OfflineEncryptor.Encrypt(exported, plaintext, context: "batch-7");
        var opened = await client.Crypto.DecryptAsync(new DecryptRequest(payload, "batch-7"));
        Assert.Equal((key.Id, 1), (opened.KeyId, opened.KeyVersion));
        Assert.Equal(plaintext, opened.PlaintextBytes());
        Assert.Equal("offline ✓", (await client.Crypto.DecryptAsync(new DecryptRequest(OfflineEncryptor.EncryptText(exported, "offline ✓")))).Plaintext);
        Assert.Equal("decryption_failed", (await ClientKit.FailsAsync(() => client.Crypto.DecryptAsync(new DecryptRequest(payload, "batch-8")))).Error);
    }

    [Fact]
    public async Task Envelope_encryption_with_a_data_key_round_trips_and_needs_the_context()
    {
        var (client, services, _) = await TenantAsync();
        await using var _ = services;
        var key = await client.Keys.CreateAsync(new CreateKeyRequest(Unique("kek")));
        var plaintext = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 5);
        var envelope = new DataKeyEnvelope(client);

        using var sealedStream = new MemoryStream();
        var result = await envelope.EncryptAsync(new MemoryStream(plaintext), sealedStream, new EnvelopeOptions(key.Id, "file:a.bin", 64 * 1024));
        Assert.Equal((plaintext.Length, key.Id), ((int)result.PlaintextBytes, result.KeyId));
        var sealedBytes = sealedStream.ToArray();
        Assert.Equal(-1, sealedBytes.AsSpan().IndexOf(plaintext.AsSpan(0, 64)));

        using var opened = new MemoryStream();
        await envelope.DecryptAsync(new MemoryStream(sealedBytes), opened, "file:a.bin");
        Assert.Equal(plaintext, opened.ToArray());

        Assert.Equal("decryption_failed", (await ClientKit.FailsAsync(() => envelope.DecryptAsync(new MemoryStream(sealedBytes), Stream.Null, "file:b.bin"))).Error);
        sealedBytes[^100] ^= 1;
        await Assert.ThrowsAsync<CryptographicException>(() => envelope.DecryptAsync(new MemoryStream(sealedBytes), Stream.Null, "file:a.bin"));
    }

    [Fact]
    public async Task Users_applications_and_roles_of_the_identity_service_and_an_application_logs_in_with_client_credentials()
    {
        var (client, services, tenantId) = await TenantAsync();
        await using var _ = services;

        var email = Unique("user") + "@example.com";
        var user = await client.Users.CreateAsync(new CreateUserRequest(email, ["auditor"]));
        Assert.Equal((email, tenantId, "invited"), (user.Email, user.TenantId, user.Status));
        Assert.Equal(email, (await client.Users.GetAsync(user.Id)).Email);
        Assert.Contains(await MislataClient.AllAsync((c, ct) => client.Users.ListAsync(100, c, ct)).ToListAsync(), u => u.Id == user.Id);
        Assert.Equal(["tenant-member"], (await client.Users.UpdateAsync(user.Id, new UpdateUserRequest(["tenant-member"]))).Roles);
        Assert.Equal("blocked", (await client.Users.BlockAsync(user.Id)).Status);
        Assert.NotEqual("blocked", (await client.Users.UnblockAsync(user.Id)).Status);
        Assert.False((await client.Users.ResetMfaAsync(user.Id)).MfaEnabled);

        Assert.Contains((await client.Roles.ListAsync()).Data, r => r.Name == "tenant-admin");
        Assert.Contains("audit:read", (await client.Roles.GetAsync("auditor")).Scopes);
        await client.Roles.AssignAsync("auditor", user.Id);
        Assert.Contains((await client.Roles.MembersAsync("auditor")).Data, u => u.Id == user.Id);
        await client.Roles.UnassignAsync("auditor", user.Id);
        Assert.DoesNotContain((await client.Roles.MembersAsync("auditor")).Data, u => u.Id == user.Id);
        await client.Users.DeleteAsync(user.Id);
        Assert.Equal((404, "not_found"), await StatusOf(() => client.Users.GetAsync(user.Id)));

        var app = await client.Applications.CreateAsync(new CreateApplicationRequest(Unique("svc"), "confidential", ["keys:read"]));
        Assert.False(string.IsNullOrEmpty(app.ClientSecret));
        Assert.Equal(app.ClientId, (await client.Applications.GetAsync(app.Id)).ClientId);
        Assert.Contains((await client.Applications.ListAsync()).Data, a => a.Id == app.Id);
        Assert.Equal("renamed", (await client.Applications.UpdateAsync(app.Id, new UpdateApplicationRequest(Name: "renamed"))).Name);
        var rotated = await client.Applications.RotateSecretAsync(app.Id);
        Assert.NotEqual(app.ClientSecret, rotated.ClientSecret);

        var key = await client.Keys.CreateAsync(new CreateKeyRequest(Unique("k")));
        var (service, serviceServices) = ClientKit.Create(fixture, o => o.ClientCredentials = new ClientCredentialsOptions { ClientId = app.ClientId, ClientSecret = rotated.ClientSecret!, Scope = "keys:read" });
        await using (serviceServices)
        {
            // A token issued within the same second as the rotation is refused (iat has a resolution of one second and
            // the revocation fails safe, docs/security.md): the client's next token, a second later, is accepted.
            var watch = System.Diagnostics.Stopwatch.StartNew();
            Key? fetched = null;
            while (fetched is null)
            {
                try
                {
                    fetched = await service.Keys.GetAsync(key.Id);
                }
                catch (MislataApiException e) when (e.Status == 401 && watch.Elapsed < TimeSpan.FromSeconds(5))
                {
                    await Task.Delay(200);
                }
            }

            Assert.Equal(key.Id, fetched.Id);
            Assert.Equal((403, "insufficient_scope"), await StatusOf(() => service.Crypto.RandomAsync(new RandomRequest(8))));
        }

        var (stale, staleServices) = ClientKit.Create(fixture, o => o.ClientCredentials = new ClientCredentialsOptions { ClientId = app.ClientId, ClientSecret = app.ClientSecret!, Scope = "keys:read" });
        await using (staleServices)
        {
            Assert.Equal("unauthorized", (await ClientKit.FailsAsync(() => stale.Keys.GetAsync(key.Id))).Error);
        }

        await client.Applications.DeleteAsync(app.Id);
        Assert.Equal((404, "not_found"), await StatusOf(() => client.Applications.GetAsync(app.Id)));
    }
}
