using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Keys;

/// <summary>
/// A platform of its own for the rewrap-all job: its own PostgreSQL (one test stops it), and a worker that rewraps in
/// batches of two with a pause between them, so that "halfway" lasts long enough to kill it.
/// </summary>
public sealed class KeyRewrapFixture : TenancyFixture
{
    protected override StackOptions Options() => base.Options() with
    {
        OwnPostgres = true,
        Environment = new Dictionary<string, string?>(base.Options().Environment)
        {
            ["KeyRewrap__BatchSize"] = "2",
            ["KeyRewrap__BatchPause"] = "00:00:00.250",
            ["KeyRewrap__PollInterval"] = "00:00:01",
            ["OperationKeys__UsageFlushInterval"] = "00:00:00.500",
        },
    };
}

/// <summary>
/// Payload references, <c>POST /keys/{id}/rewrap-all</c>, the key's job view and coverage, and the guard on raising
/// <c>minDecryptionVersion</c>, through the gateway with the real worker: register → rotate → rewrap-all → every payload
/// at the current version decrypting to the same plaintext; the worker killed halfway resumes; the boundaries (another
/// tenant, narrower scope, suspended tenant, revoked credential, malformed, oversized and foreign payloads, PostgreSQL down).
/// </summary>
[ExpectedSeconds(55)]
public sealed class KeyRewrapAllTests(KeyRewrapFixture fixture) : IClassFixture<KeyRewrapFixture>
{
    private static readonly string[] AllScopes = ["keys:read", "keys:write", "encryption:write"];
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    private static Uri U(string path) => new(path, UriKind.Relative);

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == expected, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} → {(int)response.StatusCode} {body}");
            return body.Length == 0 ? default : JsonDocument.Parse(body).RootElement.Clone();
        }
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string error)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await JsonAsync(response, status);
        Assert.Equal(error, problem.GetProperty("error").GetString());
        return problem;
    }

    private async Task<(Guid Tenant, HttpClient Client)> TenantAsync(string[]? scopes = null)
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, scopes ?? AllScopes);
        return (tenant, fixture.WithKey(key));
    }

    private static async Task<Guid> CreateKeyAsync(HttpClient client, string algorithm = "ML-KEM-768") =>
        (await JsonAsync(await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "rw-" + Guid.NewGuid().ToString("N")[..10], algorithm }), HttpStatusCode.Created))
            .GetProperty("id").GetGuid();

    private static async Task<string> EncryptAsync(HttpClient client, Guid keyId, string plaintext, string? context = null) =>
        (await JsonAsync(await client.PostAsJsonAsync(U("/api/v1/encrypt"), new { plaintext, keyId, context }), HttpStatusCode.OK))
            .GetProperty("encryptedPayload").GetString()!;

    private static async Task<JsonElement> RegisterAsync(HttpClient client, Guid keyId, string reference, string payload, string? context = null) =>
        await JsonAsync(await client.PostAsJsonAsync(U($"/api/v1/keys/{keyId}/payloads"), new { reference, encryptedPayload = payload, context }), HttpStatusCode.Created);

    private static async Task<JsonElement> JobWhenAsync(HttpClient client, Guid keyId, Guid jobId, Func<JsonElement, bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        JsonElement job;
        while (!condition(job = await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/jobs/{jobId}")), HttpStatusCode.OK)))
        {
            Assert.True(deadline.Elapsed < Patience, $"job {jobId} did not reach \"{what}\": {job}");
            await Task.Delay(50);
        }

        return job;
    }

    /// <summary>The same envelope with another (well-formed) GCM tag.</summary>
    private static string Tamper(string payload)
    {
        var envelope = System.Text.Json.Nodes.JsonNode.Parse(Convert.FromBase64String(payload))!.AsObject();
        var tag = Convert.FromBase64String(envelope["t"]!.GetValue<string>());
        tag[0] ^= 0x01;
        envelope["t"] = Convert.ToBase64String(tag);
        return Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(envelope.ToJsonString()));
    }

    private static bool Finished(JsonElement job) => job.GetProperty("state").GetString() is "succeeded" or "failed";

    [Fact]
    public async Task Registered_payloads_are_rewrapped_to_the_current_version_and_only_then_may_the_minimum_be_raised()
    {
        var (tenant, client) = await TenantAsync();
        using var _ = client;
        var keyId = await CreateKeyAsync(client);
        var plaintexts = new Dictionary<string, (string Plaintext, string? Context)>();
        for (var i = 0; i < 6; i++)
        {
            var reference = $"orders/{i:D2}";
            var context = i % 2 == 0 ? $"ctx-secret-{i}" : null;
            var plaintext = $"plaintext-marker-{i}-{Guid.NewGuid():N}";
            plaintexts[reference] = (plaintext, context);
            var registered = await RegisterAsync(client, keyId, reference, await EncryptAsync(client, keyId, plaintext, context), context);
            Assert.Equal(1, registered.GetProperty("keyVersion").GetInt32());
            Assert.Equal(context is not null, registered.GetProperty("hasContext").GetBoolean());
            Assert.False(registered.TryGetProperty("context", out var _));
        }

        // Registered with the wrong context: it parses, names the key, but does not decrypt.
        await RegisterAsync(client, keyId, "orders/bad", await EncryptAsync(client, keyId, "plaintext-marker-bad", "right"), "wrong");

        // Tampered (another tag): still a well-formed envelope of this key, so it registers; it cannot rewrap.
        await RegisterAsync(client, keyId, "orders/tampered", Tamper(await EncryptAsync(client, keyId, "plaintext-marker-tampered")));
        await ProblemAsync(await client.PostAsJsonAsync(U($"/api/v1/keys/{keyId}/payloads"), new { reference = "orders/00", encryptedPayload = await EncryptAsync(client, keyId, "x") }),
            HttpStatusCode.Conflict, "conflict");

        // Coverage: 8 registered under v1, and at least their 8 encryptions once the usage is flushed.
        var deadline = Stopwatch.StartNew();
        JsonElement coverage;
        while ((coverage = await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/coverage")), HttpStatusCode.OK))
            .GetProperty("versions")[0].GetProperty("encryptions").GetInt64() < 8)
        {
            Assert.True(deadline.Elapsed < Patience, coverage.ToString());
            await Task.Delay(200);
        }

        Assert.Equal(8, coverage.GetProperty("versions")[0].GetProperty("registeredPayloads").GetInt64());
        Assert.Equal(0, coverage.GetProperty("registeredBelowCurrent").GetInt64());

        Assert.Equal(2, (await JsonAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rotate"), null), HttpStatusCode.OK)).GetProperty("currentVersion").GetInt32());
        var held = await ProblemAsync(await client.PatchAsJsonAsync(U($"/api/v1/keys/{keyId}"), new { minDecryptionVersion = 2 }), HttpStatusCode.Conflict, "conflict");
        Assert.Contains("8 registered payload", held.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("rewrap-all", held.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(8, (await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/coverage")), HttpStatusCode.OK)).GetProperty("registeredBelowCurrent").GetInt64());

        using var accepted = await client.PostAsync(U($"/api/v1/keys/{keyId}/rewrap-all"), null);
        var location = accepted.Headers.Location?.OriginalString;
        var queued = await JsonAsync(accepted, HttpStatusCode.Accepted);
        var jobId = queued.GetProperty("jobId").GetGuid();
        Assert.Equal($"/api/v1/keys/{keyId}/jobs/{jobId}", location);
        Assert.Equal("key-rewrap-all", queued.GetProperty("kind").GetString());
        var second = await client.PostAsync(U($"/api/v1/keys/{keyId}/rewrap-all"), null);
        if (second.StatusCode == HttpStatusCode.Conflict)
        {
            await ProblemAsync(second, HttpStatusCode.Conflict, "conflict");
        }
        else
        {
            // The first job was already done (a fast worker): a new one is allowed then.
            await JsonAsync(second, HttpStatusCode.Accepted);
        }

        var finished = await JobWhenAsync(client, keyId, jobId, Finished, "finished");
        Assert.Equal("succeeded", finished.GetProperty("state").GetString());
        Assert.Equal(6, finished.GetProperty("done").GetInt32());
        Assert.Equal(2, finished.GetProperty("failed").GetInt32());
        Assert.Equal(["orders/bad", "orders/tampered"], finished.GetProperty("failedReferences").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(8, finished.GetProperty("total").GetInt32());

        // Every payload is under v2 now and decrypts to what it was.
        var listed = await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads?limit=4")), HttpStatusCode.OK);
        var all = listed.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(4, all.Count);
        var next = listed.GetProperty("nextCursor").GetString();
        Assert.NotNull(next);
        var page2 = await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads?limit=4&cursor={next}")), HttpStatusCode.OK);
        Assert.Equal(JsonValueKind.Null, page2.GetProperty("nextCursor").ValueKind);
        all.AddRange(page2.GetProperty("data").EnumerateArray());
        Assert.Equal(8, all.Select(p => p.GetProperty("reference").GetString()).Distinct().Count());
        foreach (var payload in all.Where(p => p.GetProperty("reference").GetString() is not ("orders/bad" or "orders/tampered")))
        {
            var (plaintext, context) = plaintexts[payload.GetProperty("reference").GetString()!];
            Assert.Equal(2, payload.GetProperty("keyVersion").GetInt32());
            var decrypted = await JsonAsync(await client.PostAsJsonAsync(U("/api/v1/decrypt"),
                new { encryptedPayload = payload.GetProperty("encryptedPayload").GetString(), context }), HttpStatusCode.OK);
            Assert.Equal(plaintext, decrypted.GetProperty("plaintext").GetString());
            Assert.Equal(2, decrypted.GetProperty("keyVersion").GetInt32());
        }

        var onlyOld = await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads?maxVersion=1")), HttpStatusCode.OK);
        Assert.Equal(["orders/bad", "orders/tampered"], onlyOld.GetProperty("data").EnumerateArray().Select(p => p.GetProperty("reference").GetString()));

        // The one that failed still holds the minimum back; forcing it (or deleting the reference) lets it rise.
        await ProblemAsync(await client.PatchAsJsonAsync(U($"/api/v1/keys/{keyId}"), new { minDecryptionVersion = 2 }), HttpStatusCode.Conflict, "conflict");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(U($"/api/v1/keys/{keyId}/payloads/orders%2Fbad"))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(U($"/api/v1/keys/{keyId}/payloads/orders%2Ftampered"))).StatusCode);
        await ProblemAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads/orders%2Fbad")), HttpStatusCode.NotFound, "not_found");
        Assert.Equal("orders/00", (await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads/orders/00")), HttpStatusCode.OK)).GetProperty("reference").GetString());
        Assert.Equal("orders/00", (await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads/orders%2F00")), HttpStatusCode.OK)).GetProperty("reference").GetString());
        Assert.Equal(2, (await JsonAsync(await client.PatchAsJsonAsync(U($"/api/v1/keys/{keyId}"), new { minDecryptionVersion = 2 }), HttpStatusCode.OK))
            .GetProperty("minDecryptionVersion").GetInt32());

        // Force: a second key, rotated with a payload left under v1.
        var forced = await CreateKeyAsync(client);
        await RegisterAsync(client, forced, "left-behind", await EncryptAsync(client, forced, "plaintext-marker-left"));
        await JsonAsync(await client.PostAsync(U($"/api/v1/keys/{forced}/rotate"), null), HttpStatusCode.OK);
        await ProblemAsync(await client.PatchAsJsonAsync(U($"/api/v1/keys/{forced}"), new { minDecryptionVersion = 2 }), HttpStatusCode.Conflict, "conflict");
        Assert.Equal(2, (await JsonAsync(await client.PatchAsJsonAsync(U($"/api/v1/keys/{forced}"), new { minDecryptionVersion = 2, force = true }), HttpStatusCode.OK))
            .GetProperty("minDecryptionVersion").GetInt32());

        // Audit: the request, start and finish; never a plaintext, a context or a reference.
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{tenant}' AND action = 'key.rewrap_all'"));
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{tenant}' AND action = 'key.rewrap_all.start'"));
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{tenant}' AND action = 'key.rewrap_all.finish'"));
        Assert.True(await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{tenant}' AND action = 'crypto.rewrap.batch'") >= 1);
        Assert.Equal(0L, await fixture.ScalarAsync(
            $"SELECT count(*) FROM mislata.audit_events WHERE tenant_id = '{tenant}' AND (CAST(audit_events AS text) LIKE '%plaintext-marker%' OR CAST(audit_events AS text) LIKE '%ctx-secret%' OR CAST(audit_events AS text) LIKE '%orders/%')"));

        // No service logged a plaintext or a context (the worker included, which decrypted them all).
        foreach (var service in fixture.Stack.Services)
        {
            Assert.False(service.Output.Contains("plaintext-marker", StringComparison.Ordinal), $"{service.Name} logged a plaintext");
            Assert.False(service.Output.Contains("ctx-secret", StringComparison.Ordinal), $"{service.Name} logged a context");
        }

        // The contexts are stored sealed, never in clear.
        Assert.Equal(3L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.key_payloads WHERE tenant_id = '{tenant}' AND sealed_context IS NOT NULL"));
        Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.key_payloads WHERE tenant_id = '{tenant}' AND position('ctx-secret'::bytea in sealed_context) > 0"));
    }

    [Fact]
    public async Task A_worker_killed_halfway_is_replaced_and_the_job_finishes_every_payload()
    {
        var (_, client) = await TenantAsync();
        using var _ = client;
        var keyId = await CreateKeyAsync(client, "AES-256-GCM");
        const int Payloads = 24;
        for (var i = 0; i < Payloads; i++)
        {
            await RegisterAsync(client, keyId, $"p{i:D3}", await EncryptAsync(client, keyId, $"value {i}"));
        }

        await JsonAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rotate"), null), HttpStatusCode.OK);
        var jobId = (await JsonAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rewrap-all"), null), HttpStatusCode.Accepted)).GetProperty("jobId").GetGuid();

        var halfway = await JobWhenAsync(client, keyId, jobId, j => j.GetProperty("done").GetInt32() > 0, "done > 0");
        Assert.True(halfway.GetProperty("done").GetInt32() < Payloads, $"the job finished before the worker could be killed: {halfway}");
        var worker = fixture.Stack.Of("worker").Single();
        await fixture.Stack.RestartAsync(worker);

        var finished = await JobWhenAsync(client, keyId, jobId, Finished, "finished");
        Assert.Equal("succeeded", finished.GetProperty("state").GetString());
        Assert.Equal(Payloads, finished.GetProperty("done").GetInt32());
        Assert.Equal(0, finished.GetProperty("failed").GetInt32());
        var listed = await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads?limit=100")), HttpStatusCode.OK);
        Assert.All(listed.GetProperty("data").EnumerateArray(), p => Assert.Equal(2, p.GetProperty("keyVersion").GetInt32()));
        var first = listed.GetProperty("data")[0];
        Assert.Equal("value 0", (await JsonAsync(await client.PostAsJsonAsync(U("/api/v1/decrypt"),
            new { encryptedPayload = first.GetProperty("encryptedPayload").GetString() }), HttpStatusCode.OK)).GetProperty("plaintext").GetString());
    }

    [Fact]
    public async Task A_sealed_context_that_no_longer_opens_fails_only_its_own_payload()
    {
        var (tenant, client) = await TenantAsync();
        using var _ = client;
        var keyId = await CreateKeyAsync(client, "AES-256-GCM");
        await RegisterAsync(client, keyId, "a", await EncryptAsync(client, keyId, "one", "ctx-a"), "ctx-a");
        await RegisterAsync(client, keyId, "b", await EncryptAsync(client, keyId, "two", "ctx-b"), "ctx-b");
        await fixture.ExecuteAsync(
            $"UPDATE mislata.key_payloads SET sealed_context = set_byte(sealed_context, 20, get_byte(sealed_context, 20) # 1) WHERE tenant_id = '{tenant}' AND reference = 'a'");
        await JsonAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rotate"), null), HttpStatusCode.OK);

        var jobId = (await JsonAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rewrap-all"), null), HttpStatusCode.Accepted)).GetProperty("jobId").GetGuid();
        var finished = await JobWhenAsync(client, keyId, jobId, Finished, "finished");

        Assert.Equal("succeeded", finished.GetProperty("state").GetString());
        Assert.Equal((1, 1), (finished.GetProperty("done").GetInt32(), finished.GetProperty("failed").GetInt32()));
        Assert.Equal(["a"], finished.GetProperty("failedReferences").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(1, (await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads/a")), HttpStatusCode.OK)).GetProperty("keyVersion").GetInt32());
        var b = await JsonAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads/b")), HttpStatusCode.OK);
        Assert.Equal(2, b.GetProperty("keyVersion").GetInt32());
        Assert.Equal("two", (await JsonAsync(await client.PostAsJsonAsync(U("/api/v1/decrypt"),
            new { encryptedPayload = b.GetProperty("encryptedPayload").GetString(), context = "ctx-b" }), HttpStatusCode.OK)).GetProperty("plaintext").GetString());
    }

    [Fact]
    public async Task Other_tenants_narrower_scopes_bad_input_suspension_revocation_and_postgres_down_answer_problems()
    {
        var (tenant, client) = await TenantAsync();
        using var _ = client;
        var keyId = await CreateKeyAsync(client);
        var payload = await EncryptAsync(client, keyId, "mine");
        await RegisterAsync(client, keyId, "mine", payload);

        // Another tenant: every path of this key is 404 (and a job id of this tenant too).
        var (_, other) = await TenantAsync();
        using (other)
        {
            var jobId = (await JsonAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rewrap-all"), null), HttpStatusCode.Accepted)).GetProperty("jobId").GetGuid();
            await ProblemAsync(await other.PostAsJsonAsync(U($"/api/v1/keys/{keyId}/payloads"), new { reference = "x", encryptedPayload = payload }), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(await other.GetAsync(U($"/api/v1/keys/{keyId}/payloads")), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(await other.GetAsync(U($"/api/v1/keys/{keyId}/payloads/mine")), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(await other.DeleteAsync(U($"/api/v1/keys/{keyId}/payloads/mine")), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(await other.PostAsync(U($"/api/v1/keys/{keyId}/rewrap-all"), null), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(await other.GetAsync(U($"/api/v1/keys/{keyId}/jobs/{jobId}")), HttpStatusCode.NotFound, "not_found");
            await ProblemAsync(await other.GetAsync(U($"/api/v1/keys/{keyId}/coverage")), HttpStatusCode.NotFound, "not_found");

            // Its own key cannot register this key's payload.
            var theirs = await CreateKeyAsync(other);
            await ProblemAsync(await other.PostAsJsonAsync(U($"/api/v1/keys/{theirs}/payloads"), new { reference = "x", encryptedPayload = payload }), HttpStatusCode.BadRequest, "invalid_payload");
            await JobWhenAsync(client, keyId, jobId, Finished, "finished");
        }

        // keys:read only: reads work, changes are 403.
        var (_, readOnlyKey) = await fixture.CreateKeyAsync(tenant, ["keys:read"]);
        using (var reader = fixture.WithKey(readOnlyKey))
        {
            await JsonAsync(await reader.GetAsync(U($"/api/v1/keys/{keyId}/payloads/mine")), HttpStatusCode.OK);
            await JsonAsync(await reader.GetAsync(U($"/api/v1/keys/{keyId}/coverage")), HttpStatusCode.OK);
            await ProblemAsync(await reader.PostAsJsonAsync(U($"/api/v1/keys/{keyId}/payloads"), new { reference = "y", encryptedPayload = payload }), HttpStatusCode.Forbidden, "insufficient_scope");
            await ProblemAsync(await reader.DeleteAsync(U($"/api/v1/keys/{keyId}/payloads/mine")), HttpStatusCode.Forbidden, "insufficient_scope");
            await ProblemAsync(await reader.PostAsync(U($"/api/v1/keys/{keyId}/rewrap-all"), null), HttpStatusCode.Forbidden, "insufficient_scope");
        }

        // encryption:write only: not even reads.
        var (_, encryptOnly) = await fixture.CreateKeyAsync(tenant, ["encryption:write"]);
        using (var encryptor = fixture.WithKey(encryptOnly))
        {
            await ProblemAsync(await encryptor.GetAsync(U($"/api/v1/keys/{keyId}/payloads")), HttpStatusCode.Forbidden, "insufficient_scope");
        }

        // Malformed, oversized, wrong-type and tampered input.
        var url = U($"/api/v1/keys/{keyId}/payloads");
        await ProblemAsync(await client.PostAsJsonAsync(url, new { reference = "m", encryptedPayload = "not an envelope" }), HttpStatusCode.BadRequest, "invalid_payload");
        var truncated = Convert.ToBase64String(Convert.FromBase64String(payload)[..^20]);
        await ProblemAsync(await client.PostAsJsonAsync(url, new { reference = "m", encryptedPayload = truncated }), HttpStatusCode.BadRequest, "invalid_payload");
        await ProblemAsync(await client.PostAsJsonAsync(url, new { reference = "", encryptedPayload = payload }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await client.PostAsJsonAsync(url, new { reference = new string('r', 201), encryptedPayload = payload }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await client.PostAsJsonAsync(url, new { reference = "big", encryptedPayload = new string('A', 70_000) }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await client.PostAsJsonAsync(url, new { reference = "ctx", encryptedPayload = payload, context = new string('c', 5000) }), HttpStatusCode.BadRequest, "validation_failed");
        using (var wrongType = new StringContent("{\"reference\": 5, \"encryptedPayload\": true}", System.Text.Encoding.UTF8, "application/json"))
        {
            using var response = await client.PostAsync(url, wrongType);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        using (var unknown = new StringContent("{\"reference\": \"u\", \"encryptedPayload\": \"x\", \"plaintext\": \"no\"}", System.Text.Encoding.UTF8, "application/json"))
        {
            using var response = await client.PostAsync(url, unknown);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using (var huge = new StringContent("{\"reference\": \"h\", \"encryptedPayload\": \"" + new string('A', 300_000) + "\"}", System.Text.Encoding.UTF8, "application/json"))
        {
            using var response = await client.PostAsync(url, huge);
            Assert.True(response.StatusCode is HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.BadRequest, response.StatusCode.ToString());
        }

        await ProblemAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads?limit=0")), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads?minVersion=x")), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads?cursor=%%%")), HttpStatusCode.BadRequest, "invalid_request");
        await ProblemAsync(await client.GetAsync(U($"/api/v1/keys/{Guid.NewGuid()}/jobs/{Guid.NewGuid()}")), HttpStatusCode.NotFound, "not_found");
        Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.key_payloads WHERE tenant_id = '{tenant}' AND reference IN ('m', 'big', 'ctx', 'u', 'h')"));

        // A disabled key does not start a rewrap.
        await JsonAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/disable"), null), HttpStatusCode.OK);
        await ProblemAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rewrap-all"), null), HttpStatusCode.Conflict, "key_state_invalid");
        await JsonAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/enable"), null), HttpStatusCode.OK);

        // A revoked credential: 401 once the revocation reached the replicas.
        var (revokedId, revoked) = await fixture.CreateKeyAsync(tenant, AllScopes);
        var (_, keysAdmin) = await fixture.CreateKeyAsync(tenant, ["apikeys:write"]);
        using (var admin = fixture.WithKey(keysAdmin))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync(U($"/api/v1/api-keys/{revokedId}"))).StatusCode);
        }

        using (var withRevoked = fixture.WithKey(revoked))
        {
            var (status, _, _) = await TenancyFixture.EventuallyAsync(() => withRevoked.GetAsync(U($"/api/v1/keys/{keyId}/coverage")), HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(10));
            Assert.Equal(HttpStatusCode.Unauthorized, status);
        }

        // A suspended tenant: 403 forbidden until reactivated.
        using (var op = fixture.Operator())
        {
            Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/suspend"), null)).StatusCode);
            var (status, _, _) = await TenancyFixture.EventuallyAsync(() => client.PostAsync(U($"/api/v1/keys/{keyId}/rewrap-all"), null), HttpStatusCode.Forbidden, TimeSpan.FromSeconds(5));
            Assert.Equal(HttpStatusCode.Forbidden, status);
            await ProblemAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads")), HttpStatusCode.Forbidden, "forbidden");
            Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/reactivate"), null)).StatusCode);
            var (back, _, _) = await TenancyFixture.EventuallyAsync(() => client.GetAsync(U($"/api/v1/keys/{keyId}/payloads")), HttpStatusCode.OK, TimeSpan.FromSeconds(5));
            Assert.Equal(HttpStatusCode.OK, back);
        }

        // PostgreSQL down: 503 unavailable, never 500.
        await fixture.Stack.Postgres.StopAsync();
        try
        {
            await ProblemAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/payloads")), HttpStatusCode.ServiceUnavailable, "unavailable");
            await ProblemAsync(await client.PostAsJsonAsync(url, new { reference = "down", encryptedPayload = payload }), HttpStatusCode.ServiceUnavailable, "unavailable");
            await ProblemAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rewrap-all"), null), HttpStatusCode.ServiceUnavailable, "unavailable");
            await ProblemAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/coverage")), HttpStatusCode.ServiceUnavailable, "unavailable");
        }
        finally
        {
            await fixture.Stack.Postgres.StartAsync();
            Npgsql.NpgsqlConnection.ClearAllPools();
        }

        await fixture.Stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));

        // Every api replica ends its PostgreSQL outage on its own probe (reads about a second after the database's
        // return, writes after a quiet period): the tests after this one in the shared stack start only once writes
        // succeed on all of them, i.e. several times in a row through the gateway's round robin.
        var inARow = 0;
        var attempt = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (inARow < 8 && watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            using var response = await client.PostAsJsonAsync(url, new { reference = $"back-{attempt++}", encryptedPayload = payload });
            inARow = response.StatusCode == HttpStatusCode.Created ? inARow + 1 : 0;
            await Task.Delay(inARow == 0 ? 200 : 20);
        }

        Assert.True(inARow >= 8, "the api did not accept writes again on every replica within 60 s of PostgreSQL's return");
    }
}
