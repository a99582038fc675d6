using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Tenancy;

[Collection(TenancyCollection.Name)]
public sealed class TenantLifecycleTests(TenancyFixture fixture)
{
    private static Uri U(string path) => new(path, UriKind.Relative);

    [Fact]
    public async Task Operator_creates_a_tenant_and_its_first_key_which_works_only_within_its_scopes()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, [ "apikeys:read", "apikeys:write", "billing:read", "audit:read" ]);
        Assert.Matches("^qapi_[A-Za-z0-9_-]{43}$", key);

        using var client = fixture.WithKey(key);
        foreach (var path in new[] { "/api/v1/api-keys", "/api/v1/billing/subscription", "/api/v1/billing/usage", "/api/v1/audit", "/api/v1/audit/verify" })
        {
            using var ok = await client.GetAsync(U(path));
            Assert.True(ok.StatusCode == HttpStatusCode.OK, $"{path}: {(int)ok.StatusCode} {await ok.Content.ReadAsStringAsync()}");
            Assert.True(ok.Headers.Contains("RateLimit-Limit"), path);
        }

        using (var subscription = await client.GetAsync(U("/api/v1/billing/subscription")))
        {
            var plan = JsonDocument.Parse(await subscription.Content.ReadAsStringAsync()).RootElement.GetProperty("plan");
            Assert.Equal("community", plan.GetProperty("code").GetString());
        }

        // The key never comes back in a list.
        Assert.DoesNotContain(key, await client.GetStringAsync(U("/api/v1/api-keys")), StringComparison.Ordinal);

        // Outside its scopes: operator endpoints, and handing out a scope it lacks.
        using (var admin = await client.GetAsync(U("/api/v1/admin/tenants")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, admin.StatusCode);
            Assert.Equal("insufficient_scope", await TenancyFixture.ErrorCodeAsync(admin));
        }

        using (var wider = await client.PostAsJsonAsync(U("/api/v1/api-keys"), new { name = "wider", scopes = new[] { "keys:write" } }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, wider.StatusCode);
            Assert.Equal("insufficient_scope", await TenancyFixture.ErrorCodeAsync(wider));
        }

        using (var bad = await client.PostAsync(U("/api/v1/api-keys"), new StringContent("{\"name\": 12, \"scopes\": \"x\"", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        using (var invalid = await client.PostAsJsonAsync(U("/api/v1/api-keys"), new { name = new string('x', 500), scopes = new[] { "nope" }, ipAllowlist = new[] { "10.1.2.3/8" } }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
            Assert.Equal("validation_failed", await TenancyFixture.ErrorCodeAsync(invalid));
        }

        // Audit trail of the tenant shows the key's lifecycle.
        using var operatorClient = fixture.Operator();
        var platformTrail = await operatorClient.GetStringAsync(U("/api/v1/audit?action=tenant.create&limit=100"));
        Assert.Contains(tenant.ToString(), platformTrail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_history_lists_the_months_oldest_first_from_the_roll_up_and_the_month_in_progress_and_only_the_callers()
    {
        var tenant = await fixture.CreateTenantAsync();
        var other = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["billing:read", "apikeys:write"]);
        var now = DateTimeOffset.UtcNow;
        var month = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        await fixture.ExecuteAsync($"""
            INSERT INTO mislata.usage_periods (tenant_id, period_start, operations, rolled_up_at) VALUES
              ('{tenant}', '{month.AddMonths(-2):yyyy-MM-dd}', 1200, now()), ('{tenant}', '{month.AddMonths(-5):yyyy-MM-dd}', 9, now()),
              ('{other}', '{month.AddMonths(-1):yyyy-MM-dd}', 777, now())
            """);
        using var client = fixture.WithKey(key);
        using (var write = await client.PostAsJsonAsync(U("/api/v1/api-keys"), new { name = "counted", scopes = new[] { "billing:read" } }))
        {
            Assert.Equal(HttpStatusCode.Created, write.StatusCode); // a write: one operation of this month
        }

        var history = JsonDocument.Parse(await client.GetStringAsync(U("/api/v1/billing/usage/history?months=3"))).RootElement;
        Assert.Equal(tenant, history.GetProperty("tenantId").GetGuid());
        var data = history.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal([month.AddMonths(-2), month.AddMonths(-1), month], data.Select(d => d.GetProperty("periodStart").GetDateTimeOffset()));
        Assert.Equal([1200L, 0L], data.Take(2).Select(d => d.GetProperty("operations").GetInt64()));
        Assert.True(data[2].GetProperty("operations").GetInt64() >= 1);
        Assert.Equal([true, true, false], data.Select(d => d.GetProperty("final").GetBoolean()));

        Assert.Equal(12, JsonDocument.Parse(await client.GetStringAsync(U("/api/v1/billing/usage/history"))).RootElement.GetProperty("data").GetArrayLength());
        var six = JsonDocument.Parse(await client.GetStringAsync(U("/api/v1/billing/usage/history?months=6"))).RootElement.GetProperty("data");
        Assert.Equal(9, six[0].GetProperty("operations").GetInt64());
        foreach (var bad in new[] { "0", "37", "abc", "-1", "1.5" })
        {
            using var refused = await client.GetAsync(U("/api/v1/billing/usage/history?months=" + bad));
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("validation_failed", await TenancyFixture.ErrorCodeAsync(refused));
        }
    }

    [Fact]
    public async Task The_operator_finds_tenants_by_a_name_prefix_in_any_case_with_wildcards_taken_literally()
    {
        using var client = fixture.Operator();
        var stem = "Find_" + Guid.NewGuid().ToString("N")[..10];
        var ids = new List<Guid>();
        foreach (var name in new[] { stem + "-alpha", stem + "-beta", stem.Replace("_", "x", StringComparison.Ordinal) + "-decoy" })
        {
            using var created = await client.PostAsJsonAsync(U("/api/v1/admin/tenants"), new { name });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            ids.Add(JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid());
        }

        async Task<List<string>> NamesAsync(string query) =>
            JsonDocument.Parse(await client.GetStringAsync(U("/api/v1/admin/tenants?" + query))).RootElement.GetProperty("data")
                .EnumerateArray().Select(t => t.GetProperty("name").GetString()!).Order(StringComparer.Ordinal).ToList();

        Assert.Equal([stem + "-alpha", stem + "-beta"], await NamesAsync("name=" + Uri.EscapeDataString(stem.ToLowerInvariant())));
        Assert.Equal([stem + "-beta"], await NamesAsync("name=" + Uri.EscapeDataString(stem.ToUpperInvariant() + "-B")));
        Assert.Empty(await NamesAsync("name=" + Uri.EscapeDataString(stem + "%")));
        using (var empty = await client.GetAsync(U("/api/v1/admin/tenants?name=")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
            Assert.Equal("validation_failed", await TenancyFixture.ErrorCodeAsync(empty));
        }

        using (var tooLong = await client.GetAsync(U("/api/v1/admin/tenants?name=" + new string('x', 201))))
        {
            Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        }
    }

    [Fact]
    public async Task A_revoked_key_is_refused_at_once_by_both_replicas_and_the_gateway()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, adminKey) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write"]);
        var (victimId, victim) = await fixture.CreateKeyAsync(tenant, ["apikeys:read"]);
        Assert.Equal(2, fixture.ApiReplicas.Count);

        // Warm every replica's cache with the key.
        foreach (var replica in fixture.ApiReplicas)
        {
            using var warm = fixture.WithKey(victim, replica);
            Assert.Equal(HttpStatusCode.OK, (await warm.GetAsync(U("/api/v1/api-keys"))).StatusCode);
        }

        using var admin = fixture.WithKey(adminKey);
        using (var revoke = await admin.DeleteAsync(U($"/api/v1/api-keys/{victimId}")))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        // Every replica refuses it within one second of the revocation (pub/sub reaches the others in milliseconds).
        var watch = Stopwatch.StartNew();
        var targets = fixture.ApiReplicas.Append(fixture.Stack.Gateway.BaseAddress).ToList();
        foreach (var target in targets)
        {
            using var client = fixture.WithKey(victim, target == fixture.Stack.Gateway.BaseAddress ? null : target);
            var (status, _, _) = await TenancyFixture.EventuallyAsync(() => client.GetAsync(U("/api/v1/api-keys")), HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(1));
            Assert.Equal(HttpStatusCode.Unauthorized, status);
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"refusal took {watch.Elapsed}");

        // Listing shows it revoked, never the key.
        var listing = await admin.GetStringAsync(U($"/api/v1/api-keys/{victimId}"));
        Assert.Contains("\"revoked\"", listing, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rate_limit_holds_across_two_replicas()
    {
        const int limit = 20;
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read"], rateLimitPerMinute: limit);
        var replicas = fixture.ApiReplicas;
        var clients = replicas.Select(r => fixture.WithKey(key, r)).ToList();
        try
        {
            var tasks = Enumerable.Range(0, 60).Select(async i =>
            {
                using var response = await clients[i % clients.Count].GetAsync(U("/api/v1/api-keys"));
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    Assert.True(response.Headers.RetryAfter is not null, "429 without Retry-After");
                    Assert.Equal("rate_limited", await TenancyFixture.ErrorCodeAsync(response));
                }

                return response.StatusCode;
            });
            var statuses = await Task.WhenAll(tasks);
            Assert.Equal(limit, statuses.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(60 - limit, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task Suspension_refuses_every_operation_and_reactivation_restores_it()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "billing:read"]);
        using var op = fixture.Operator();
        using var client = fixture.WithKey(key);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(U("/api/v1/billing/usage"))).StatusCode);

        // Both changes reach every replica within one second (the gateway may route to either).
        Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/suspend"), null)).StatusCode);
        var (suspended, _, body) = await TenancyFixture.EventuallyAsync(() => client.GetAsync(U("/api/v1/billing/usage")), HttpStatusCode.Forbidden, TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.Forbidden, suspended);
        Assert.Contains("\"error\":\"forbidden\"", body, StringComparison.Ordinal);
        foreach (var replica in fixture.ApiReplicas)
        {
            using var direct = fixture.WithKey(key, replica);
            var (status, _, _) = await TenancyFixture.EventuallyAsync(() => direct.GetAsync(U("/api/v1/billing/usage")), HttpStatusCode.Forbidden, TimeSpan.FromSeconds(1));
            Assert.Equal(HttpStatusCode.Forbidden, status);
        }

        Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/reactivate"), null)).StatusCode);
        var (reactivated, _, _) = await TenancyFixture.EventuallyAsync(() => client.GetAsync(U("/api/v1/billing/usage")), HttpStatusCode.OK, TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, reactivated);
    }

    [Fact]
    public async Task Deleting_a_tenant_shreds_its_wrapped_data_key_and_its_keys()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read"]);
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.tenant_data_keys WHERE tenant_id = '{tenant}'"));

        using var op = fixture.Operator();
        Assert.Equal(HttpStatusCode.NoContent, (await op.DeleteAsync(U($"/api/v1/admin/tenants/{tenant}"))).StatusCode);

        Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.tenant_data_keys WHERE tenant_id = '{tenant}'"));
        Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.api_keys WHERE tenant_id = '{tenant}'"));
        Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.tenants WHERE id = '{tenant}'"));
        using var client = fixture.WithKey(key);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(U("/api/v1/api-keys"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await op.GetAsync(U($"/api/v1/admin/tenants/{tenant}"))).StatusCode);
    }

    [Fact]
    public async Task An_idempotent_create_replays_the_first_response_and_refuses_a_different_body()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write"]);
        using var client = fixture.WithKey(key);
        client.DefaultRequestHeaders.Add("Idempotency-Key", "create-once-" + Guid.NewGuid().ToString("N"));
        var request = new { name = "idem", scopes = new[] { "apikeys:read" } };

        using var first = await client.PostAsJsonAsync(U("/api/v1/api-keys"), request);
        using var second = await client.PostAsJsonAsync(U("/api/v1/api-keys"), request);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync());

        using var different = await client.PostAsJsonAsync(U("/api/v1/api-keys"), new { name = "other", scopes = new[] { "apikeys:read" } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, different.StatusCode);
        var list = JsonDocument.Parse(await client.GetStringAsync(U("/api/v1/api-keys"))).RootElement.GetProperty("data");
        Assert.Equal(1, list.EnumerateArray().Count(k => k.GetProperty("name").GetString() == "idem"));
    }

    [Fact]
    public async Task With_the_audit_store_unavailable_a_write_is_503_and_changes_nothing()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write"]);
        using var client = fixture.WithKey(key);
        using var op = fixture.Operator();
        var keysBefore = await fixture.ScalarAsync($"SELECT count(*) FROM mislata.api_keys WHERE tenant_id = '{tenant}'");
        var tenantsBefore = await fixture.ScalarAsync("SELECT count(*) FROM mislata.tenants");

        await fixture.ExecuteAsync("ALTER TABLE mislata.audit_events RENAME TO audit_events_away");
        try
        {
            using var createKey = await client.PostAsJsonAsync(U("/api/v1/api-keys"), new { name = "during-outage", scopes = new[] { "apikeys:read" } });
            Assert.Equal(HttpStatusCode.ServiceUnavailable, createKey.StatusCode);
            Assert.Equal("unavailable", await TenancyFixture.ErrorCodeAsync(createKey));

            using var createTenant = await op.PostAsJsonAsync(U("/api/v1/admin/tenants"), new { name = "outage-" + Guid.NewGuid().ToString("N")[..8] });
            Assert.Equal(HttpStatusCode.ServiceUnavailable, createTenant.StatusCode);

            using var suspend = await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/suspend"), null);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, suspend.StatusCode);
        }
        finally
        {
            await fixture.ExecuteAsync("ALTER TABLE mislata.audit_events_away RENAME TO audit_events");
        }

        Assert.Equal(keysBefore, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.api_keys WHERE tenant_id = '{tenant}'"));
        Assert.Equal(tenantsBefore, await fixture.ScalarAsync("SELECT count(*) FROM mislata.tenants"));
        Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.tenants WHERE id = '{tenant}' AND status <> 'Active'"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(U("/api/v1/api-keys"))).StatusCode);
    }
}
