using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;
using Npgsql;
using StackExchange.Redis;
using static Mislata.EndToEnd.Tests.ApiResponses;

namespace Mislata.EndToEnd.Tests.Secrets;

/// <summary>
/// <c>/api/v1/secrets</c> through the gateway (two api replicas): the lifecycle with check-and-set, old versions, soft
/// and permanent deletion, concurrent writers, binary values, expiry, tenant isolation, scopes, revoked keys,
/// suspension, quota, idempotency, validation of names, values and encodings, and a marker value that appears in no
/// database dump, Redis entry, service or gateway log, or audit row.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class SecretsApiTests(TenancyFixture fixture)
{
    private static readonly string[] ReadWrite = ["secrets:read", "secrets:write"];

    private static Uri U(string path) => new(path, UriKind.Relative);

    private async Task<HttpClient> TenantClientAsync(string? plan = null, string[]? scopes = null)
    {
        var tenant = await fixture.CreateTenantAsync(plan);
        var (_, key) = await fixture.CreateKeyAsync(tenant, scopes ?? ReadWrite);
        return fixture.WithKey(key);
    }

    private static async Task<JsonElement> CreateAsync(HttpClient client, object body) =>
        await OkJsonAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), body), HttpStatusCode.Created);

    private static Task<HttpResponseMessage> PutAsync(HttpClient client, Guid id, object body) => client.PutAsJsonAsync(U($"/api/v1/secrets/{id}"), body);

    private static async Task<string> ValueAsync(HttpClient client, string path) => (await OkJsonAsync(await client.GetAsync(U(path)))).GetProperty("value").GetString()!;

    private static string Name() => "app/s-" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Create_read_update_with_check_and_set_read_an_old_version_delete_restore_and_delete_permanently()
    {
        using var client = await TenantClientAsync();
        var name = Name();
        using var createResponse = await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name, value = "s3cr3t-one", description = "db", labels = new[] { "env:prod" }, contentType = "text/plain" });
        var created = await OkJsonAsync(createResponse, HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        Assert.Equal($"/api/v1/secrets/{id}", createResponse.Headers.Location?.OriginalString);
        Assert.Equal((name, 1), (created.GetProperty("name").GetString(), created.GetProperty("version").GetInt32()));
        Assert.False(created.TryGetProperty("value", out _));

        var read = await OkJsonAsync(await client.GetAsync(U($"/api/v1/secrets/{id}")));
        Assert.Equal(("s3cr3t-one", "utf8", 1, 1), (read.GetProperty("value").GetString(), read.GetProperty("encoding").GetString(), read.GetProperty("version").GetInt32(), read.GetProperty("currentVersion").GetInt32()));
        Assert.Equal(("db", "text/plain"), (read.GetProperty("description").GetString(), read.GetProperty("contentType").GetString()));

        var updated = await OkJsonAsync(await PutAsync(client, id, new { value = "s3cr3t-two", expectedVersion = 1 }));
        Assert.Equal(2, updated.GetProperty("version").GetInt32());
        var stale = await AssertProblemAsync(await PutAsync(client, id, new { value = "lost-update", expectedVersion = 1 }), HttpStatusCode.Conflict, "conflict");
        Assert.DoesNotContain("lost-update", stale.ToString(), StringComparison.Ordinal);
        Assert.Equal(3, (await OkJsonAsync(await PutAsync(client, id, new { value = "s3cr3t-three" }))).GetProperty("version").GetInt32());

        Assert.Equal("s3cr3t-three", await ValueAsync(client, $"/api/v1/secrets/{id}"));
        Assert.Equal("s3cr3t-one", await ValueAsync(client, $"/api/v1/secrets/{id}?version=1"));
        Assert.Equal("s3cr3t-two", await ValueAsync(client, $"/api/v1/secrets/{id}?version=2"));
        await AssertProblemAsync(await client.GetAsync(U($"/api/v1/secrets/{id}?version=4")), HttpStatusCode.NotFound, "not_found");

        var versions = await OkJsonAsync(await client.GetAsync(U($"/api/v1/secrets/{id}/versions")));
        Assert.Equal([3, 2, 1], versions.GetProperty("data").EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));
        Assert.Equal([true, false, false], versions.GetProperty("data").EnumerateArray().Select(v => v.GetProperty("current").GetBoolean()));
        Assert.DoesNotContain("s3cr3t", versions.ToString(), StringComparison.Ordinal);
        var firstPage = await OkJsonAsync(await client.GetAsync(U($"/api/v1/secrets/{id}/versions?limit=2")));
        Assert.Equal("1", (await OkJsonAsync(await client.GetAsync(U($"/api/v1/secrets/{id}/versions?limit=2&cursor={firstPage.GetProperty("nextCursor").GetString()}"))))
            .GetProperty("data")[0].GetProperty("version").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture));

        var patched = await OkJsonAsync(await client.PatchAsJsonAsync(U($"/api/v1/secrets/{id}"), new { description = "", labels = new[] { "env:dev", "team" }, contentType = "application/json" }));
        Assert.Equal(JsonValueKind.Null, patched.GetProperty("description").ValueKind);
        Assert.Equal(["env:dev", "team"], patched.GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal(3, patched.GetProperty("currentVersion").GetInt32());
        Assert.False(patched.TryGetProperty("value", out _));

        var deleted = await OkJsonAsync(await client.DeleteAsync(U($"/api/v1/secrets/{id}")));
        Assert.Equal("deleted", deleted.GetProperty("state").GetString());
        Assert.Equal(deleted.GetProperty("deletedAt").GetDateTimeOffset().AddDays(30), deleted.GetProperty("purgeAt").GetDateTimeOffset());
        await AssertProblemAsync(await client.GetAsync(U($"/api/v1/secrets/{id}")), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await PutAsync(client, id, new { value = "x" }), HttpStatusCode.Conflict, "conflict");
        await AssertProblemAsync(await client.DeleteAsync(U($"/api/v1/secrets/{id}")), HttpStatusCode.Conflict, "conflict");
        Assert.Contains(id, (await OkJsonAsync(await client.GetAsync(U("/api/v1/secrets?state=deleted")))).GetProperty("data").EnumerateArray().Select(s => s.GetProperty("id").GetGuid()));
        Assert.DoesNotContain(id, (await OkJsonAsync(await client.GetAsync(U("/api/v1/secrets")))).GetProperty("data").EnumerateArray().Select(s => s.GetProperty("id").GetGuid()));

        Assert.Equal("live", (await OkJsonAsync(await client.PostAsync(U($"/api/v1/secrets/{id}/restore"), null))).GetProperty("state").GetString());
        await AssertProblemAsync(await client.PostAsync(U($"/api/v1/secrets/{id}/restore"), null), HttpStatusCode.Conflict, "conflict");
        Assert.Equal("s3cr3t-three", await ValueAsync(client, $"/api/v1/secrets/{id}"));

        using var purged = await client.DeleteAsync(U($"/api/v1/secrets/{id}?permanent=true"));
        Assert.Equal(HttpStatusCode.NoContent, purged.StatusCode);
        await AssertProblemAsync(await client.GetAsync(U($"/api/v1/secrets/{id}")), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await client.PostAsync(U($"/api/v1/secrets/{id}/restore"), null), HttpStatusCode.NotFound, "not_found");
        Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.secret_versions WHERE secret_id = '{id}'"));

        // Every step is in the audit trail with the secret's id and version, never the value.
        var actions = new List<string>();
        await using (var connection = new NpgsqlConnection(fixture.Stack.PostgresConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"SELECT action, details::text FROM mislata.audit_events WHERE resource_id = '{id}' ORDER BY occurred_at, sequence", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                actions.Add(reader.GetString(0));
                Assert.Contains("\"version\"", reader.GetString(1), StringComparison.Ordinal);
                Assert.DoesNotContain("s3cr3t", reader.GetString(1), StringComparison.Ordinal);
            }
        }

        foreach (var action in new[] { "secret.create", "secret.read", "secret.update", "secret.patch", "secret.delete", "secret.restore", "secret.purge" })
        {
            Assert.Contains(action, actions);
        }
    }

    [Fact]
    public async Task Many_concurrent_check_and_set_writers_over_http_lose_no_update_and_create_no_duplicate_version()
    {
        using var setup = await TenantClientAsync();
        var tenantKey = setup.DefaultRequestHeaders.GetValues("X-Api-Key").Single();
        var id = (await CreateAsync(setup, new { name = Name(), value = "start" })).GetProperty("id").GetGuid();
        const int writers = 8;
        var conflicts = 0;
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            using var client = fixture.WithKey(tenantKey);
            while (true)
            {
                var current = (await OkJsonAsync(await client.GetAsync(U($"/api/v1/secrets/{id}")))).GetProperty("currentVersion").GetInt32();
                using var response = await PutAsync(client, id, new { value = "writer-" + w, expectedVersion = current });
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Assert.Equal(current + 1, (await OkJsonAsync(response)).GetProperty("version").GetInt32());
                    return;
                }

                await AssertProblemAsync(response, HttpStatusCode.Conflict, "conflict");
                Interlocked.Increment(ref conflicts);
            }
        })));

        var versions = (await OkJsonAsync(await setup.GetAsync(U($"/api/v1/secrets/{id}/versions?limit=100")))).GetProperty("data").EnumerateArray()
            .Select(v => v.GetProperty("version").GetInt32()).ToList();
        Assert.Equal(Enumerable.Range(1, writers + 1).Reverse(), versions);
        var values = new List<string>();
        for (var v = 2; v <= writers + 1; v++)
        {
            values.Add(await ValueAsync(setup, $"/api/v1/secrets/{id}?version={v}"));
        }

        Assert.Equal(Enumerable.Range(0, writers).Select(w => "writer-" + w).Order(StringComparer.Ordinal), values.Order(StringComparer.Ordinal));
        Assert.Equal(writers + 1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.secret_versions WHERE secret_id = '{id}'"));
    }

    [Fact]
    public async Task Binary_values_travel_in_base64_and_text_in_utf8_with_the_encoding_named()
    {
        using var client = await TenantClientAsync();
        var binary = new byte[] { 0x00, 0xFF, 0xC3, 0x28, 0x80, 0x01 };
        var id = (await CreateAsync(client, new { name = Name(), value = Convert.ToBase64String(binary), encoding = "base64" })).GetProperty("id").GetGuid();

        var auto = await OkJsonAsync(await client.GetAsync(U($"/api/v1/secrets/{id}")));
        Assert.Equal(("base64", Convert.ToBase64String(binary)), (auto.GetProperty("encoding").GetString(), auto.GetProperty("value").GetString()));
        await AssertFieldErrorAsync(await client.GetAsync(U($"/api/v1/secrets/{id}?encoding=utf8")), "encoding");

        await OkJsonAsync(await PutAsync(client, id, new { value = "héllo ✓ 🔑" }));
        Assert.Equal("héllo ✓ 🔑", await ValueAsync(client, $"/api/v1/secrets/{id}"));
        Assert.Equal(Convert.ToBase64String(Encoding.UTF8.GetBytes("héllo ✓ 🔑")), await ValueAsync(client, $"/api/v1/secrets/{id}?encoding=base64"));

        // An empty value is a value.
        var empty = (await CreateAsync(client, new { name = Name(), value = "" })).GetProperty("id").GetGuid();
        Assert.Equal(string.Empty, await ValueAsync(client, $"/api/v1/secrets/{empty}"));

        // 64 KiB exactly is accepted in both encodings.
        var max = new byte[64 * 1024];
        Random.Shared.NextBytes(max);
        var large = (await CreateAsync(client, new { name = Name(), value = Convert.ToBase64String(max), encoding = "base64" })).GetProperty("id").GetGuid();
        Assert.Equal(Convert.ToBase64String(max), await ValueAsync(client, $"/api/v1/secrets/{large}?encoding=base64"));
        await CreateAsync(client, new { name = Name(), value = new string('a', 64 * 1024) });
    }

    [Fact]
    public async Task Odd_names_bad_values_bad_encodings_and_bad_queries_are_clear_validation_errors()
    {
        using var client = await TenantClientAsync();
        foreach (var name in new[] { "", "has space", "../etc/passwd", "a//b", "/lead", "trail/", "ünïcode", "semi;colon", "nul\u0000", new string('n', 201), "a/./b" })
        {
            await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name, value = "v" }), "name");
        }

        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { value = "v" }), "name");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name() }), "value");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = new string('a', (64 * 1024) + 1) }), "value");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = new string('é', (32 * 1024) + 1) }), "value");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = Convert.ToBase64String(new byte[(64 * 1024) + 1]), encoding = "base64" }), "value");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = "not base64!", encoding = "base64" }), "value");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = "abc", encoding = "hex" }), "encoding");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = "v", labels = Enumerable.Range(0, 21).Select(i => "l" + i) }), "labels");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = "v", contentType = "not a type" }), "contentType");
        await AssertFieldErrorAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = "v", expiresAt = DateTimeOffset.UtcNow.AddDays(-1) }), "expiresAt");
        // A lone surrogate is not text: the JSON reader refuses it before the api sees a value.
        using (var lone = new StringContent("{\"name\":\"lone-surrogate\",\"value\":\"\\ud800\"}", Encoding.UTF8, "application/json"))
        {
            await AssertProblemAsync(await client.PostAsync(U("/api/v1/secrets"), lone), HttpStatusCode.BadRequest, "invalid_request");
        }

        // Over the 1 MiB request limit: 413 before the api reads it.
        var huge = await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = new string('x', (1024 * 1024) + 10) });
        await AssertProblemAsync(huge, HttpStatusCode.RequestEntityTooLarge, "payload_too_large");

        var id = (await CreateAsync(client, new { name = Name(), value = "v" })).GetProperty("id").GetGuid();
        await AssertFieldErrorAsync(await PutAsync(client, id, new { value = new string('a', (64 * 1024) + 1) }), "value");
        await AssertFieldErrorAsync(await PutAsync(client, id, new { value = "v", expectedVersion = 0 }), "expectedVersion");
        await AssertFieldErrorAsync(await PutAsync(client, id, new { value = "%%%", encoding = "base64" }), "value");
        await AssertFieldErrorAsync(await client.PatchAsJsonAsync(U($"/api/v1/secrets/{id}"), new { expiresAt = "tomorrow" }), "expiresAt");
        await AssertFieldErrorAsync(await client.PatchAsJsonAsync(U($"/api/v1/secrets/{id}"), new { expiresAt = 5 }), "expiresAt");
        await AssertProblemAsync(await client.PatchAsJsonAsync(U($"/api/v1/secrets/{id}"), new { name = "renamed" }), HttpStatusCode.BadRequest, "invalid_request");
        foreach (var (path, field) in new[]
        {
            ($"/api/v1/secrets/{id}?version=abc", "version"), ($"/api/v1/secrets/{id}?version=0", "version"), ($"/api/v1/secrets/{id}?encoding=hex", "encoding"),
            ($"/api/v1/secrets/{id}?includeExpired=maybe", "includeExpired"), ("/api/v1/secrets?limit=0", "limit"), ("/api/v1/secrets?limit=x", "limit"),
            ("/api/v1/secrets?state=gone", "state"), ($"/api/v1/secrets/{id}/versions?limit=101", "limit"),
        })
        {
            await AssertFieldErrorAsync(await client.GetAsync(U(path)), field);
        }

        await AssertFieldErrorAsync(await client.DeleteAsync(U($"/api/v1/secrets/{id}?permanent=yes")), "permanent");
        await AssertProblemAsync(await client.GetAsync(U("/api/v1/secrets?cursor=%FF")), HttpStatusCode.BadRequest, "invalid_request");
        await AssertProblemAsync(await client.GetAsync(U($"/api/v1/secrets/{id}/versions?cursor=x")), HttpStatusCode.BadRequest, "invalid_request");
        Assert.Equal("v", await ValueAsync(client, $"/api/v1/secrets/{id}"));
        Assert.Equal(1, (await OkJsonAsync(await client.GetAsync(U($"/api/v1/secrets/{id}")))).GetProperty("currentVersion").GetInt32());
    }

    [Fact]
    public async Task Names_are_unique_among_live_secrets_lists_filter_by_name_and_label_and_page()
    {
        using var client = await TenantClientAsync();
        var prefix = "svc-" + Guid.NewGuid().ToString("N")[..6] + "/";
        await CreateAsync(client, new { name = prefix + "a", value = "1", labels = new[] { "blue" } });
        await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = prefix + "a", value = "2" }), HttpStatusCode.Conflict, "conflict");
        await CreateAsync(client, new { name = prefix + "b", value = "3", labels = new[] { "red" } });
        await CreateAsync(client, new { name = prefix + "c", value = "4", labels = new[] { "blue", "red" } });
        await CreateAsync(client, new { name = "other", value = "5", labels = new[] { "blue" } });

        var byName = await OkJsonAsync(await client.GetAsync(U($"/api/v1/secrets?name={Uri.EscapeDataString(prefix)}")));
        Assert.Equal([prefix + "a", prefix + "b", prefix + "c"], byName.GetProperty("data").EnumerateArray().Select(s => s.GetProperty("name").GetString()).Order(StringComparer.Ordinal));
        Assert.All(byName.GetProperty("data").EnumerateArray(), s => Assert.False(s.TryGetProperty("value", out _)));
        var blue = await OkJsonAsync(await client.GetAsync(U("/api/v1/secrets?label=blue")));
        Assert.Equal(new[] { prefix + "a", prefix + "c", "other" }.Order(StringComparer.Ordinal), blue.GetProperty("data").EnumerateArray().Select(s => s.GetProperty("name").GetString()).Order(StringComparer.Ordinal));

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await OkJsonAsync(await client.GetAsync(U("/api/v1/secrets?limit=2" + (cursor is null ? string.Empty : "&cursor=" + cursor))));
            Assert.True(page.GetProperty("data").GetArrayLength() <= 2);
            seen.AddRange(page.GetProperty("data").EnumerateArray().Select(s => s.GetProperty("name").GetString()!));
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);
        Assert.Equal(4, seen.Distinct().Count());
        Assert.Equal(4, seen.Count);
    }

    [Fact]
    public async Task An_expired_secret_reads_as_not_found_unless_asked_for()
    {
        using var client = await TenantClientAsync();
        var id = (await CreateAsync(client, new { name = Name(), value = "old", expiresAt = DateTimeOffset.UtcNow.AddDays(1) })).GetProperty("id").GetGuid();
        Assert.Equal("old", await ValueAsync(client, $"/api/v1/secrets/{id}"));

        // The expiry passes (moved in the database rather than waited for).
        await fixture.ExecuteAsync($"UPDATE mislata.secrets SET expires_at = now() - interval '1 second' WHERE id = '{id}'");
        await AssertProblemAsync(await client.GetAsync(U($"/api/v1/secrets/{id}")), HttpStatusCode.NotFound, "not_found");
        Assert.Equal("old", await ValueAsync(client, $"/api/v1/secrets/{id}?includeExpired=true"));
        Assert.DoesNotContain(id, (await OkJsonAsync(await client.GetAsync(U("/api/v1/secrets")))).GetProperty("data").EnumerateArray().Select(s => s.GetProperty("id").GetGuid()));
        Assert.Contains(id, (await OkJsonAsync(await client.GetAsync(U("/api/v1/secrets?includeExpired=true")))).GetProperty("data").EnumerateArray().Select(s => s.GetProperty("id").GetGuid()));

        using var cleared = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/secrets/{id}") { Content = new StringContent("{\"expiresAt\":null}", Encoding.UTF8, "application/json") };
        Assert.Equal(JsonValueKind.Null, (await OkJsonAsync(await client.SendAsync(cleared))).GetProperty("expiresAt").ValueKind);
        Assert.Equal("old", await ValueAsync(client, $"/api/v1/secrets/{id}"));
    }

    [Fact]
    public async Task Metadata_of_a_live_or_deleted_secret_carries_no_value_and_records_no_value_read()
    {
        using var owner = await TenantClientAsync();
        var id = (await CreateAsync(owner, new { name = Name(), value = "metadata-only-marker", description = "the db password" })).GetProperty("id").GetGuid();
        var reads = await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE resource_id = '{id}'");

        var live = await OkJsonAsync(await owner.GetAsync(U($"/api/v1/secrets/{id}/metadata")));
        Assert.Equal(("live", 1, "the db password"), (live.GetProperty("state").GetString(), live.GetProperty("currentVersion").GetInt32(), live.GetProperty("description").GetString()));
        Assert.False(live.TryGetProperty("value", out _));
        Assert.DoesNotContain("metadata-only-marker", live.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(reads, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE resource_id = '{id}'"));

        using (var deleted = await owner.DeleteAsync(U($"/api/v1/secrets/{id}")))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        Assert.Equal("deleted", (await OkJsonAsync(await owner.GetAsync(U($"/api/v1/secrets/{id}/metadata")))).GetProperty("state").GetString());
        await AssertProblemAsync(await owner.GetAsync(U($"/api/v1/secrets/{Guid.NewGuid()}/metadata")), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await owner.GetAsync(U("/api/v1/secrets/not-a-guid/metadata")), HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Another_tenants_secret_is_not_found_on_every_route_and_nothing_changes()
    {
        using var owner = await TenantClientAsync();
        using var intruder = await TenantClientAsync();
        var id = (await CreateAsync(owner, new { name = Name(), value = "owned" })).GetProperty("id").GetGuid();

        var routes = new (HttpMethod Method, string Path, object? Body)[]
        {
            (HttpMethod.Get, $"/api/v1/secrets/{id}", null),
            (HttpMethod.Get, $"/api/v1/secrets/{id}?version=1&includeExpired=true", null),
            (HttpMethod.Get, $"/api/v1/secrets/{id}/versions", null),
            (HttpMethod.Get, $"/api/v1/secrets/{id}/metadata", null),
            (HttpMethod.Put, $"/api/v1/secrets/{id}", new { value = "stolen", expectedVersion = 1 }),
            (HttpMethod.Patch, $"/api/v1/secrets/{id}", new { description = "mine now" }),
            (HttpMethod.Delete, $"/api/v1/secrets/{id}", null),
            (HttpMethod.Delete, $"/api/v1/secrets/{id}?permanent=true", null),
            (HttpMethod.Post, $"/api/v1/secrets/{id}/restore", null),
        };
        foreach (var (method, path, body) in routes)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
            await AssertProblemAsync(await intruder.SendAsync(request), HttpStatusCode.NotFound, "not_found");
        }

        Assert.DoesNotContain(id, (await OkJsonAsync(await intruder.GetAsync(U("/api/v1/secrets?state=deleted")))).GetProperty("data").EnumerateArray().Select(s => s.GetProperty("id").GetGuid()));
        Assert.Empty((await OkJsonAsync(await intruder.GetAsync(U("/api/v1/secrets")))).GetProperty("data").EnumerateArray());
        var secret = await OkJsonAsync(await owner.GetAsync(U($"/api/v1/secrets/{id}")));
        Assert.Equal(("owned", 1), (secret.GetProperty("value").GetString(), secret.GetProperty("currentVersion").GetInt32()));
        Assert.Equal(JsonValueKind.Null, secret.GetProperty("description").ValueKind);
    }

    [Fact]
    public async Task A_narrower_credential_is_refused_with_insufficient_scope_and_a_revoked_one_with_401()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, adminKey) = await fixture.CreateKeyAsync(tenant, ["secrets:read", "secrets:write", "apikeys:write"]);
        var (_, readerKey) = await fixture.CreateKeyAsync(tenant, ["secrets:read"]);
        var (_, strangerKey) = await fixture.CreateKeyAsync(tenant, ["keys:read", "keys:write"]);
        using var admin = fixture.WithKey(adminKey);
        using var reader = fixture.WithKey(readerKey);
        using var stranger = fixture.WithKey(strangerKey);
        var id = (await CreateAsync(admin, new { name = Name(), value = "scoped" })).GetProperty("id").GetGuid();

        var writes = new (HttpMethod Method, string Path, object? Body)[]
        {
            (HttpMethod.Post, "/api/v1/secrets", new { name = Name(), value = "x" }),
            (HttpMethod.Put, $"/api/v1/secrets/{id}", new { value = "x" }),
            (HttpMethod.Patch, $"/api/v1/secrets/{id}", new { description = "x" }),
            (HttpMethod.Delete, $"/api/v1/secrets/{id}", null),
            (HttpMethod.Delete, $"/api/v1/secrets/{id}?permanent=true", null),
            (HttpMethod.Post, $"/api/v1/secrets/{id}/restore", null),
        };
        var reads = new[] { "/api/v1/secrets", $"/api/v1/secrets/{id}", $"/api/v1/secrets/{id}/versions", $"/api/v1/secrets/{id}/metadata" };
        foreach (var (method, path, body) in writes)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
            await AssertProblemAsync(await reader.SendAsync(request), HttpStatusCode.Forbidden, "insufficient_scope");
            using var again = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
            await AssertProblemAsync(await stranger.SendAsync(again), HttpStatusCode.Forbidden, "insufficient_scope");
        }

        foreach (var path in reads)
        {
            await OkJsonAsync(await reader.GetAsync(U(path)));
            await AssertProblemAsync(await stranger.GetAsync(U(path)), HttpStatusCode.Forbidden, "insufficient_scope");
        }

        // A key revoked by the tenant is refused on every route (on both replicas, within the propagation time).
        var issued = await OkJsonAsync(await admin.PostAsJsonAsync(U("/api/v1/api-keys"), new { name = "short-lived", scopes = ReadWrite }), HttpStatusCode.Created);
        using var revokedClient = fixture.WithKey(issued.GetProperty("key").GetString());
        await OkJsonAsync(await revokedClient.GetAsync(U($"/api/v1/secrets/{id}")));
        using (var revoke = await admin.DeleteAsync(U($"/api/v1/api-keys/{issued.GetProperty("id").GetGuid()}")))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        var (status, _, _) = await TenancyFixture.EventuallyAsync(() => revokedClient.GetAsync(U($"/api/v1/secrets/{id}")), HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        foreach (var (method, path, body) in writes)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
            await AssertProblemAsync(await revokedClient.SendAsync(request), HttpStatusCode.Unauthorized, "unauthorized");
        }

        foreach (var path in reads)
        {
            await AssertProblemAsync(await revokedClient.GetAsync(U(path)), HttpStatusCode.Unauthorized, "unauthorized");
        }

        var secret = await OkJsonAsync(await admin.GetAsync(U($"/api/v1/secrets/{id}")));
        Assert.Equal(("scoped", 1), (secret.GetProperty("value").GetString(), secret.GetProperty("currentVersion").GetInt32()));
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.secrets WHERE tenant_id = '{tenant}'"));
    }

    [Fact]
    public async Task A_suspended_tenants_secrets_are_refused_until_it_is_reactivated()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ReadWrite);
        using var client = fixture.WithKey(key);
        using var op = fixture.Operator();
        var id = (await CreateAsync(client, new { name = Name(), value = "held" })).GetProperty("id").GetGuid();

        Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/suspend"), null)).StatusCode);
        var (status, _, _) = await TenancyFixture.EventuallyAsync(() => client.GetAsync(U($"/api/v1/secrets/{id}")), HttpStatusCode.Forbidden, TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        await AssertProblemAsync(await PutAsync(client, id, new { value = "during suspension" }), HttpStatusCode.Forbidden, "forbidden");

        Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/reactivate"), null)).StatusCode);
        var (back, _, _) = await TenancyFixture.EventuallyAsync(() => client.GetAsync(U($"/api/v1/secrets/{id}")), HttpStatusCode.OK, TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.OK, back);
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.secret_versions WHERE secret_id = '{id}'"));
    }

    [Fact]
    public async Task Creating_beyond_the_plans_max_secrets_is_quota_exceeded_and_idempotent_creates_store_one_secret()
    {
        using var op = fixture.Operator();
        var code = "s" + Guid.NewGuid().ToString("N")[..10];
        await OkJsonAsync(await op.PostAsJsonAsync(U("/api/v1/admin/plans"), new { code, name = "Two secrets", maxSecrets = 2 }), HttpStatusCode.Created);
        using var client = await TenantClientAsync(code);

        var idempotencyKey = "create-" + Guid.NewGuid().ToString("N");
        var name = Name();
        var ids = new List<Guid>();
        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/secrets") { Content = JsonContent.Create(new { name, value = "once" }) };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            ids.Add((await OkJsonAsync(await client.SendAsync(request), HttpStatusCode.Created)).GetProperty("id").GetGuid());
        }

        Assert.Equal(ids[0], ids[1]);
        var second = (await CreateAsync(client, new { name = Name(), value = "2" })).GetProperty("id").GetGuid();
        await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = "3" }), HttpStatusCode.TooManyRequests, "quota_exceeded");

        // A deleted secret still counts (it can be restored); a purged one does not.
        await OkJsonAsync(await client.DeleteAsync(U($"/api/v1/secrets/{second}")));
        await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = "3" }), HttpStatusCode.TooManyRequests, "quota_exceeded");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(U($"/api/v1/secrets/{second}?permanent=true"))).StatusCode);
        await CreateAsync(client, new { name = Name(), value = "3" });
    }

    [Fact]
    public async Task An_operator_bounds_the_versions_kept_per_secret_and_can_keep_all_again()
    {
        var tenant = await fixture.CreateTenantAsync();
        using var op = fixture.Operator();
        Assert.Equal(JsonValueKind.Null, (await OkJsonAsync(await op.GetAsync(U($"/api/v1/admin/tenants/{tenant}")))).GetProperty("secretVersionsKept").ValueKind);
        Assert.Equal(5, (await OkJsonAsync(await op.PatchAsJsonAsync(U($"/api/v1/admin/tenants/{tenant}"), new { secretVersionsKept = 5 }))).GetProperty("secretVersionsKept").GetInt32());
        Assert.Equal(5L, await fixture.ScalarAsync($"SELECT secret_versions_kept FROM mislata.tenants WHERE id = '{tenant}'"));
        await AssertFieldErrorAsync(await op.PatchAsJsonAsync(U($"/api/v1/admin/tenants/{tenant}"), new { secretVersionsKept = -1 }), "secretVersionsKept");
        await AssertFieldErrorAsync(await op.PatchAsJsonAsync(U($"/api/v1/admin/tenants/{tenant}"), new { secretVersionsKept = 10_001 }), "secretVersionsKept");
        Assert.Equal(JsonValueKind.Null, (await OkJsonAsync(await op.PatchAsJsonAsync(U($"/api/v1/admin/tenants/{tenant}"), new { secretVersionsKept = 0 }))).GetProperty("secretVersionsKept").ValueKind);
    }

    [Fact]
    public async Task A_marker_value_appears_in_no_database_dump_redis_entry_log_or_audit_row()
    {
        var marker = "MARKER" + Guid.NewGuid().ToString("N");
        var binaryMarker = "BINMARK" + Guid.NewGuid().ToString("N");
        using (var client = await TenantClientAsync())
        {
            using var create = new HttpRequestMessage(HttpMethod.Post, "/api/v1/secrets") { Content = JsonContent.Create(new { name = Name(), value = marker + "-v1", description = "marker test" }) };
            create.Headers.Add("Idempotency-Key", "marker-" + Guid.NewGuid().ToString("N"));
            var id = (await OkJsonAsync(await client.SendAsync(create), HttpStatusCode.Created)).GetProperty("id").GetGuid();
            await OkJsonAsync(await PutAsync(client, id, new { value = marker + "-v2", expectedVersion = 1 }));
            await AssertProblemAsync(await PutAsync(client, id, new { value = marker + "-stale", expectedVersion = 1 }), HttpStatusCode.Conflict, "conflict");
            var tooLong = await client.PostAsJsonAsync(U("/api/v1/secrets"), new { name = Name(), value = marker + new string('z', 64 * 1024) });
            Assert.DoesNotContain(marker, await tooLong.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal(marker + "-v2", await ValueAsync(client, $"/api/v1/secrets/{id}"));
            Assert.Equal(marker + "-v1", await ValueAsync(client, $"/api/v1/secrets/{id}?version=1"));
            var binary = (await CreateAsync(client, new { name = Name(), value = Convert.ToBase64String(Encoding.UTF8.GetBytes(binaryMarker)), encoding = "base64" })).GetProperty("id").GetGuid();
            Assert.Equal(binaryMarker, await ValueAsync(client, $"/api/v1/secrets/{binary}"));
            await OkJsonAsync(await client.GetAsync(U("/api/v1/secrets")));
        }

        string[] forms =
        [
            marker, Convert.ToHexString(Encoding.UTF8.GetBytes(marker)).ToLowerInvariant(), Convert.ToBase64String(Encoding.UTF8.GetBytes(marker + "-v1")),
            binaryMarker, Convert.ToHexString(Encoding.UTF8.GetBytes(binaryMarker)).ToLowerInvariant(), Convert.ToBase64String(Encoding.UTF8.GetBytes(binaryMarker)),
        ];

        // 1. A full dump of the database (every schema, every table, as the superuser).
        var dump = await PgDumpAsync();
        Assert.Contains("secret_versions", dump, StringComparison.Ordinal);
        foreach (var form in forms)
        {
            Assert.False(dump.Contains(form, StringComparison.OrdinalIgnoreCase), "the database dump holds a secret value");
        }

        // 2. The audit rows, read directly (details, ids and versions only).
        Assert.Equal(0L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events e WHERE position('{marker}' in e::text) > 0 OR position('{binaryMarker}' in e::text) > 0"));
        Assert.True(await fixture.ScalarAsync("SELECT count(*) FROM mislata.audit_events WHERE action = 'secret.read'") >= 3);

        // 3. The captured output of every service, and the gateway's logs.
        foreach (var service in fixture.Stack.Services)
        {
            foreach (var form in forms)
            {
                Assert.False(service.Output.Contains(form, StringComparison.OrdinalIgnoreCase), $"{service.Name} logged a secret value");
            }
        }

        var gatewayLogs = Directory.EnumerateFiles(fixture.Stack.Gateway.Folder, "*.log", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(gatewayLogs);
        foreach (var file in gatewayLogs)
        {
            var text = await ReadSharedAsync(file);
            foreach (var form in forms)
            {
                Assert.False(text.Contains(form, StringComparison.OrdinalIgnoreCase), $"{Path.GetFileName(file)} of the gateway holds a secret value");
            }
        }

        // 4. Every Redis key and value (values also searched inside any base64 they carry).
        await using var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Stack.Redis.Configuration + ",allowAdmin=true");
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var db = redis.GetDatabase();
        var keys = 0;
        await foreach (var redisKey in server.KeysAsync(pattern: "*"))
        {
            keys++;
            var type = await db.KeyTypeAsync(redisKey);
            string?[] values = type switch
            {
                RedisType.String => [(string?)await db.StringGetAsync(redisKey)],
                RedisType.Hash => [.. (await db.HashGetAllAsync(redisKey)).Select(e => $"{e.Name}={e.Value}")],
                RedisType.List => [.. (await db.ListRangeAsync(redisKey)).Select(v => (string?)v)],
                RedisType.Set => [.. (await db.SetMembersAsync(redisKey)).Select(v => (string?)v)],
                RedisType.SortedSet => [.. (await db.SortedSetRangeByRankAsync(redisKey)).Select(v => (string?)v)],
                RedisType.Stream => [.. (await db.StreamRangeAsync(redisKey)).SelectMany(e => e.Values.Select(v => $"{v.Name}={v.Value}"))],
                _ => [],
            };
            var readable = values.Where(v => v is not null).SelectMany(v => new[] { v! }.Concat(DecodedBase64(v!))).Append(redisKey.ToString()).ToList();
            foreach (var form in forms)
            {
                Assert.DoesNotContain(readable, v => v.Contains(form, StringComparison.OrdinalIgnoreCase));
            }
        }

        Assert.True(keys > 0, "Redis holds no key at all: the search proved nothing");
    }

    private async Task<string> PgDumpAsync()
    {
        var csb = new NpgsqlConnectionStringBuilder(fixture.Stack.PostgresConnectionString);
        var start = new ProcessStartInfo("pg_dump")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-h", csb.Host!, "-p", csb.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", csb.Username!, "-d", csb.Database!, "--no-owner" })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["PGPASSWORD"] = csb.Password;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, "pg_dump failed: " + await error);
        return await output;
    }

    private static async Task<string> ReadSharedAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    private static IEnumerable<string> DecodedBase64(string value)
    {
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(value, "[A-Za-z0-9+/]{24,}={0,2}"))
        {
            var padded = m.Value.TrimEnd('=');
            padded += new string('=', (4 - (padded.Length % 4)) % 4);
            var buffer = new byte[padded.Length];
            if (Convert.TryFromBase64String(padded, buffer, out var written))
            {
                yield return Encoding.UTF8.GetString(buffer, 0, written);
            }
        }
    }
}
