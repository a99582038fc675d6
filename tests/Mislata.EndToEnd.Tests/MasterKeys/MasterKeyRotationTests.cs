using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Identity;
using Mislata.EndToEnd.Tests.Tenancy;
using Xunit.Abstractions;

namespace Mislata.EndToEnd.Tests.MasterKeys;

/// <summary>
/// A platform of its own for the master-key rotation: its own PostgreSQL (one test stops it), two api replicas, and a
/// worker that rewraps in small batches with a pause between them, so that "halfway" lasts long enough to kill it.
/// </summary>
public sealed class MasterKeyRotationFixture : TenancyFixture
{
    protected override StackOptions Options() => base.Options() with
    {
        OwnPostgres = true,
        Environment = new Dictionary<string, string?>(base.Options().Environment)
        {
            ["MasterKeyRotation__BatchSize"] = "25",
            ["MasterKeyRotation__BatchPause"] = "00:00:00.200",
            ["MasterKeyRotation__PollInterval"] = "00:00:01",
        },
    };
}

/// <summary>
/// <c>POST /api/v1/admin/master-key/rotate</c> and <c>GET /api/v1/admin/jobs/{id}</c> through the gateway, and the
/// issue's Done-when line: a rotation over 1,000 tenants under a load of encrypt/decrypt calls with zero failures, the
/// worker killed (SIGKILL) halfway and started again, then every service restarted with only the new master key — and
/// an API key, a browser session, a token signed before, a secret and an earlier payload all still work.
/// </summary>
[ExpectedSeconds(145)]
public sealed class MasterKeyRotationTests(MasterKeyRotationFixture fixture, ITestOutputHelper output) : IClassFixture<MasterKeyRotationFixture>
{
    private const int Tenants = 1_000;
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

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
        var problem = await JsonAsync(response, status);
        Assert.Equal(error, problem.GetProperty("error").GetString());
        return problem;
    }

    private async Task<JsonElement> JobAsync(Guid id)
    {
        using var client = fixture.Operator();
        return await JsonAsync(await client.GetAsync(U($"/api/v1/admin/jobs/{id}")), HttpStatusCode.OK);
    }

    private async Task<JsonElement> JobWhenAsync(Guid id, Func<JsonElement, bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        JsonElement job;
        while (!condition(job = await JobAsync(id)))
        {
            Assert.True(deadline.Elapsed < Patience, $"job {id} did not reach \"{what}\": {job}");
            await Task.Delay(50);
        }

        return job;
    }

    [Fact]
    public async Task Only_a_platform_admin_may_rotate_or_read_jobs()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, tenantAdmin) = await fixture.CreateKeyAsync(tenant, ["keys:read", "keys:write", "encryption:write", "secrets:read", "secrets:write", "audit:read"]);
        using var client = fixture.WithKey(tenantAdmin);
        await ProblemAsync(await client.PostAsync(U("/api/v1/admin/master-key/rotate"), null), HttpStatusCode.Forbidden, "insufficient_scope");
        await ProblemAsync(await client.GetAsync(U($"/api/v1/admin/jobs/{Guid.NewGuid()}")), HttpStatusCode.Forbidden, "insufficient_scope");
        await ProblemAsync(await client.GetAsync(U("/api/v1/admin/jobs")), HttpStatusCode.Forbidden, "insufficient_scope");

        using var anonymous = fixture.WithKey(null);
        await ProblemAsync(await anonymous.PostAsync(U("/api/v1/admin/master-key/rotate"), null), HttpStatusCode.Unauthorized, "unauthorized");
        await ProblemAsync(await anonymous.GetAsync(U("/api/v1/admin/jobs")), HttpStatusCode.Unauthorized, "unauthorized");

        // A revoked key: 401 once the revocation reached the replicas.
        var (revokedId, revoked) = await fixture.CreateKeyAsync(tenant, ["keys:read"]);
        var (_, keysAdmin) = await fixture.CreateKeyAsync(tenant, ["apikeys:write"]);
        using (var admin = fixture.WithKey(keysAdmin))
        {
            using var deleted = await admin.DeleteAsync(U($"/api/v1/api-keys/{revokedId}"));
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        using var withRevoked = fixture.WithKey(revoked);
        var (status, _, _) = await TenancyFixture.EventuallyAsync(() => withRevoked.GetAsync(U($"/api/v1/admin/jobs/{Guid.NewGuid()}")), HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task Without_a_previous_master_key_a_rotation_conflicts_an_unknown_job_is_not_found_and_postgres_down_is_503()
    {
        Assert.Null(fixture.Stack.PreviousMasterKey);
        using var client = fixture.Operator();
        var conflict = await ProblemAsync(await client.PostAsync(U("/api/v1/admin/master-key/rotate"), null), HttpStatusCode.Conflict, "conflict");
        Assert.Contains("QAPI_MASTER_KEY_PREVIOUS", conflict.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Stack.MasterKey, conflict.ToString(), StringComparison.Ordinal);
        Assert.Equal(0L, await fixture.ScalarAsync("SELECT count(*) FROM mislata.admin_jobs WHERE state IN ('queued', 'running')"));

        await ProblemAsync(await client.GetAsync(U($"/api/v1/admin/jobs/{Guid.NewGuid()}")), HttpStatusCode.NotFound, "not_found");
        await ProblemAsync(await client.GetAsync(U("/api/v1/admin/jobs/not-a-job")), HttpStatusCode.NotFound, "not_found");
        Assert.Equal(JsonValueKind.Array, (await JsonAsync(await client.GetAsync(U("/api/v1/admin/jobs?kind=master-key-rotation&limit=5")), HttpStatusCode.OK)).GetProperty("data").ValueKind);
        foreach (var bad in new[] { "limit=0", "limit=101", "limit=x", "kind=" })
        {
            await ProblemAsync(await client.GetAsync(U("/api/v1/admin/jobs?" + bad)), HttpStatusCode.BadRequest, "validation_failed");
        }

        await fixture.Stack.Postgres.StopAsync();
        try
        {
            using var response = await client.GetAsync(U($"/api/v1/admin/jobs/{Guid.NewGuid()}"));
            var problem = await ProblemAsync(response, HttpStatusCode.ServiceUnavailable, "unavailable");
            Assert.NotNull(problem.GetProperty("traceId").GetString());
        }
        finally
        {
            await fixture.Stack.Postgres.StartAsync();

            // This process's pooled connections died with the server: the next test starts with fresh ones.
            Npgsql.NpgsqlConnection.ClearAllPools();
        }

        await fixture.Stack.WaitHealthyAsync(TimeSpan.FromSeconds(60));

        // This test caused the outage, so it also waits for its end: /health/ready answers 200 as soon as PostgreSQL
        // answers reads, but a replica that saw the outage can answer writes 503 (with Retry-After) a little longer.
        // The next test's set-up must not meet that (seen once in a full run: "create tenant: 503").
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            using var write = await client.PostAsJsonAsync(U("/api/v1/admin/tenants"),
                new { name = "t-" + Guid.NewGuid().ToString("N")[..12], adminEmail = "admin@example.com" });
            if (write.StatusCode == HttpStatusCode.Created)
            {
                break;
            }

            Assert.True(write.StatusCode == HttpStatusCode.ServiceUnavailable && deadline.Elapsed < TimeSpan.FromSeconds(30),
                $"a write after PostgreSQL came back: {(int)write.StatusCode} {await write.Content.ReadAsStringAsync()}");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task A_rotation_over_1000_tenants_survives_load_and_a_killed_worker_and_everything_works_with_only_the_new_key()
    {
        var stack = fixture.Stack;
        var total = Stopwatch.StartNew();

        // What must survive: an API key, a key and a payload encrypted with it, a secret, a browser session, a token.
        var tenant = await fixture.CreateTenantAsync();
        var (_, apiKey) = await fixture.CreateKeyAsync(tenant, ["keys:read", "keys:write", "encryption:write", "secrets:read", "secrets:write"]);
        using var tenantClient = fixture.WithKey(apiKey);
        var keyId = (await JsonAsync(await tenantClient.PostAsJsonAsync(U("/api/v1/keys"), new { name = "before", algorithm = "AES-256-GCM" }), HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var payload = (await JsonAsync(await tenantClient.PostAsJsonAsync(U("/api/v1/encrypt"), new { plaintext = "written before the rotation", keyId }), HttpStatusCode.OK))
            .GetProperty("encryptedPayload").GetString();
        var secretId = (await JsonAsync(await tenantClient.PostAsJsonAsync(U("/api/v1/secrets"), new { name = "db-password", value = "s3cr3t-before" }), HttpStatusCode.Created))
            .GetProperty("id").GetGuid();
        var operatorTokenBefore = await Oidc.OperatorTokenAsync(stack);
        var email = Oidc.NewEmail("rotation");
        var password = Oidc.StrongPassword();
        await Oidc.CreateUserAsync(stack, operatorTokenBefore, email, password, ["tenant-admin"], tenant);
        var clientId = await Oidc.CreatePublicAppAsync(stack, operatorTokenBefore, tenant, "openid keys:read");
        using var browser = new Browser(stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);

        // 1,000 tenants through the admin API, 16 at a time.
        var creating = Stopwatch.StartNew();
        using (var gate = new SemaphoreSlim(16))
        {
            await Task.WhenAll(Enumerable.Range(0, Tenants).Select(async _ =>
            {
                await gate.WaitAsync();
                try
                {
                    await fixture.CreateTenantAsync();
                }
                finally
                {
                    gate.Release();
                }
            }));
        }

        creating.Stop();
        output.WriteLine($"created {Tenants} tenants in {creating.Elapsed.TotalSeconds:F1} s");
        var wrapped = await fixture.ScalarAsync("SELECT count(*) FROM mislata.tenant_data_keys");
        Assert.True(wrapped >= Tenants + 1, $"{wrapped} data keys");

        // Both keys on every service, restarted one at a time.
        var oldKey = stack.MasterKey;
        var newKey = TestEnvironment.NewMasterKey();
        stack.UseMasterKeys(newKey, oldKey);
        foreach (var service in stack.Services.ToList())
        {
            await stack.RestartAsync(service);
        }

        await stack.WaitHealthyAsync(TimeSpan.FromSeconds(90));

        // A load of encrypt/decrypt calls through the gateway for the whole rotation, by several tenants.
        var load = new List<(HttpClient Client, Guid Key)>();
        for (var i = 0; i < 4; i++)
        {
            // Enterprise: no plan rate limit below what four loops send (a 429 would be counted as a failure).
            var t = await fixture.CreateTenantAsync(Mislata.Core.Tenants.Plan.EnterpriseId.ToString());
            var (_, k) = await fixture.CreateKeyAsync(t, ["keys:write", "encryption:write"]);
            var c = fixture.WithKey(k);
            load.Add((c, (await JsonAsync(await c.PostAsJsonAsync(U("/api/v1/keys"), new { name = "load", algorithm = "AES-256-GCM" }), HttpStatusCode.Created)).GetProperty("id").GetGuid()));
        }

        var failures = new ConcurrentQueue<string>();
        var calls = 0;
        using var stopLoad = new CancellationTokenSource();
        var loaders = load.Select(l => Task.Run(async () =>
        {
            while (!stopLoad.IsCancellationRequested)
            {
                var text = "load-" + Guid.NewGuid().ToString("N");
                using var encrypted = await l.Client.PostAsJsonAsync(U("/api/v1/encrypt"), new { plaintext = text, keyId = l.Key });
                var body = await encrypted.Content.ReadAsStringAsync();
                if (encrypted.StatusCode != HttpStatusCode.OK)
                {
                    failures.Enqueue($"encrypt {(int)encrypted.StatusCode} {body}");
                    continue;
                }

                var cipher = JsonDocument.Parse(body).RootElement.GetProperty("encryptedPayload").GetString();
                using var decrypted = await l.Client.PostAsJsonAsync(U("/api/v1/decrypt"), new { encryptedPayload = cipher });
                var plain = await decrypted.Content.ReadAsStringAsync();
                if (decrypted.StatusCode != HttpStatusCode.OK || !plain.Contains(text, StringComparison.Ordinal))
                {
                    failures.Enqueue($"decrypt {(int)decrypted.StatusCode} {plain}");
                }

                Interlocked.Add(ref calls, 2);
            }
        })).ToList();

        // Rotate; a second request while it runs conflicts.
        var rotating = Stopwatch.StartNew();
        Guid jobId;
        using (var op = fixture.Operator())
        {
            using var accepted = await op.PostAsync(U("/api/v1/admin/master-key/rotate"), null);
            var location = accepted.Headers.Location?.OriginalString;
            var job = await JsonAsync(accepted, HttpStatusCode.Accepted);
            jobId = job.GetProperty("jobId").GetGuid();
            Assert.Equal($"/api/v1/admin/jobs/{jobId}", location);
            await ProblemAsync(await op.PostAsync(U("/api/v1/admin/master-key/rotate"), null), HttpStatusCode.Conflict, "conflict");
        }

        // Kill the worker (SIGKILL) while the job is strictly between 0 and total, then start it again.
        // (done > 1: the platform key and at least one batch of data keys are moved.)
        var halfway = await JobWhenAsync(jobId, j => j.GetProperty("done").GetInt32() > 1, "done > 1");
        var worker = stack.Of("worker").Single();
        var killedPid = worker.ProcessId;
        var restarted = await stack.RestartAsync(worker);
        var afterKill = await JobAsync(jobId);
        output.WriteLine($"worker killed at {halfway.GetProperty("done").GetInt32()}/{halfway.GetProperty("total").GetInt32()}; job then {afterKill}");
        Assert.Equal("running", afterKill.GetProperty("state").GetString());
        Assert.InRange(afterKill.GetProperty("done").GetInt32(), 1, afterKill.GetProperty("total").GetInt32() - 1);
        Assert.NotEqual(killedPid, restarted.ProcessId);

        var finished = await JobWhenAsync(jobId, j => j.GetProperty("state").GetString() is "succeeded" or "failed", "finished");
        rotating.Stop();
        await stopLoad.CancelAsync();
        await Task.WhenAll(loaders);
        output.WriteLine($"rotation: {finished}; {rotating.Elapsed.TotalSeconds:F1} s; {calls} encrypt/decrypt calls, {failures.Count} failures");
        Assert.Equal("succeeded", finished.GetProperty("state").GetString());
        Assert.Equal(finished.GetProperty("total").GetInt32(), finished.GetProperty("done").GetInt32());
        Assert.True(finished.GetProperty("total").GetInt32() >= Tenants + 2, finished.ToString());
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(5)));
        Assert.True(calls > 0);
        using (var ring = Mislata.Crypto.Envelope.MasterKeyRing.FromBase64(oldKey, null))
        {
            Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.tenant_data_keys WHERE master_key_id = '{ring.Current.Id}'"));
            Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.platform_keys WHERE master_key_id = '{ring.Current.Id}'"));
        }

        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE action = 'master_key.rotation.start' AND resource_id = '{jobId}'"));
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE action = 'master_key.rotation.finish' AND outcome = 'success' AND resource_id = '{jobId}'"));
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE action = 'master_key.rotate' AND resource_id = '{jobId}' AND actor_type = 'client'"));

        // Only the new key from now on: every service restarted.
        stack.UseMasterKeys(newKey, null);
        foreach (var service in stack.Services.ToList())
        {
            await stack.RestartAsync(service);
        }

        await stack.WaitHealthyAsync(TimeSpan.FromSeconds(90));

        // The API key, the earlier payload and the secret.
        Assert.Equal("written before the rotation",
            (await JsonAsync(await tenantClient.PostAsJsonAsync(U("/api/v1/decrypt"), new { encryptedPayload = payload }), HttpStatusCode.OK)).GetProperty("plaintext").GetString());
        Assert.Equal("s3cr3t-before", (await JsonAsync(await tenantClient.GetAsync(U($"/api/v1/secrets/{secretId}")), HttpStatusCode.OK)).GetProperty("value").GetString());

        // The token signed before the rotation: still verifies against the JWKS and still admits its holder.
        var validated = await Jwks.ValidateAsync(stack, operatorTokenBefore);
        Assert.True(validated.IsValid, validated.Exception?.ToString());
        using (var old = stack.Gateway.CreateClient())
        {
            old.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", operatorTokenBefore);
            Assert.Equal("succeeded", (await JsonAsync(await old.GetAsync(U($"/api/v1/admin/jobs/{jobId}")), HttpStatusCode.OK)).GetProperty("state").GetString());
            var newest = (await JsonAsync(await old.GetAsync(U("/api/v1/admin/jobs?kind=master-key-rotation&limit=1")), HttpStatusCode.OK)).GetProperty("data")[0];
            Assert.Equal((jobId, "succeeded"), (newest.GetProperty("id").GetGuid(), newest.GetProperty("state").GetString()));
        }

        // The browser session from before: signed in, a code without a login page.
        var (verifier, challenge) = Oidc.Pkce();
        var (redeemed, tokens) = await Oidc.RedeemAsync(stack, clientId, await Oidc.AuthorizeAsync(browser, clientId, "openid keys:read", challenge), verifier);
        Assert.True(redeemed == HttpStatusCode.OK, tokens.ToString());

        total.Stop();
        output.WriteLine($"whole test: {total.Elapsed.TotalSeconds:F1} s");
    }
}
