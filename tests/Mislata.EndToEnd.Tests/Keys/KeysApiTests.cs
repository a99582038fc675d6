using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Keys;

/// <summary>
/// <c>/api/v1/keys</c> through the gateway (two api replicas): every algorithm's lifecycle and public exports read by
/// an independent implementation, list filters and paging, the state machine, tenant isolation, scopes, suspension,
/// quota, BYOK import and idempotency.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class KeysApiTests(TenancyFixture fixture)
{
    private static readonly string[] ReadWrite = ["keys:read", "keys:write"];

    private static Uri U(string path) => new(path, UriKind.Relative);

    private async Task<HttpClient> TenantClientAsync(string? plan = null, string[]? scopes = null)
    {
        var tenant = await fixture.CreateTenantAsync(plan);
        var (_, key) = await fixture.CreateKeyAsync(tenant, scopes ?? ReadWrite);
        return fixture.WithKey(key);
    }

    private static async Task<JsonElement> OkJsonAsync(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} → {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string error)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} → {(int)response.StatusCode} {body} (expected {(int)status} {error})");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(error, JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
    }

    private static async Task<JsonElement> CreateAsync(HttpClient client, object body) =>
        await OkJsonAsync(await client.PostAsJsonAsync(U("/api/v1/keys"), body), HttpStatusCode.Created);

    private static string Name() => "k-" + Guid.NewGuid().ToString("N")[..10];

    public static TheoryData<string, string?> Algorithms() => new()
    {
        { "ML-KEM-512", null }, { "ML-KEM-768", null }, { "ML-KEM-1024", null }, { "AES-256-GCM", null },
        { "RSA-2048", null }, { "RSA-3072", "signing" }, { "RSA-4096", null }, { "ML-DSA-44", null }, { "ML-DSA-65", null },
        { "ML-DSA-87", null }, { "SLH-DSA-SHA2-128s", null }, { "SLH-DSA-SHA2-128f", null }, { "ECDSA-P256", null },
        { "ECDSA-P384", null }, { "Ed25519", null }, { "HMAC-SHA256", null }, { "HMAC-SHA512", null },
    };

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task Every_algorithm_is_created_read_exported_in_each_format_and_rotated(string algorithm, string? type)
    {
        using var client = await TenantClientAsync();

        // RSA-4096 key generation takes seconds, and far longer on a loaded test machine: the test waits for the answer
        // (the gateway's own 60 s limit still applies) rather than depending on the machine's speed.
        client.Timeout = TimeSpan.FromMinutes(3);
        using var createResponse = await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = Name(), algorithm, type, tags = new[] { "e2e" } });
        var created = await OkJsonAsync(createResponse, HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        Assert.Equal($"/api/v1/keys/{id}", createResponse.Headers.Location?.OriginalString);
        var expectedType = type ?? algorithm switch
        {
            "AES-256-GCM" => "symmetric",
            var a when a.StartsWith("HMAC", StringComparison.Ordinal) => "hmac",
            var a when a.StartsWith("ML-KEM", StringComparison.Ordinal) || a.StartsWith("RSA", StringComparison.Ordinal) => "encryption",
            _ => "signing",
        };
        Assert.Equal(algorithm, created.GetProperty("algorithm").GetString());
        Assert.Equal(expectedType, created.GetProperty("type").GetString());
        Assert.Equal("enabled", created.GetProperty("state").GetString());
        Assert.Equal(1, created.GetProperty("currentVersion").GetInt32());

        var fetched = await OkJsonAsync(await client.GetAsync(U($"/api/v1/keys/{id}")));
        Assert.Equal(id, fetched.GetProperty("id").GetGuid());
        var version1 = Assert.Single(fetched.GetProperty("versions").EnumerateArray());
        Assert.Equal("active", version1.GetProperty("state").GetString());
        AssertNoPrivateMaterial(fetched);

        var rotated = await OkJsonAsync(await client.PostAsync(U($"/api/v1/keys/{id}/rotate"), null));
        Assert.Equal(2, rotated.GetProperty("currentVersion").GetInt32());
        Assert.Equal(["deprecated", "active"], rotated.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("state").GetString()));

        var asymmetric = IndependentPublicKeys.Expected.ContainsKey(algorithm);
        foreach (var format in new[] { "jwk", "pem", "raw" })
        {
            using var response = await client.GetAsync(U($"/api/v1/keys/{id}/public?format={format}"));
            if (!asymmetric)
            {
                await AssertProblemAsync(response, HttpStatusCode.BadRequest, "algorithm_mismatch");
            }
            else
            {
                Assert.Equal(2, (await OkJsonAsync(response)).GetProperty("version").GetInt32());
            }
        }

        if (!asymmetric)
        {
            return;
        }

        // Each version exports on its own; the three formats agree on the same key, read without Mislata.Crypto.
        var rawByVersion = new List<byte[]>();
        foreach (var version in new[] { 1, 2 })
        {
            var raw = Convert.FromBase64String((await OkJsonAsync(await client.GetAsync(U($"/api/v1/keys/{id}/public?format=raw&version={version}")))).GetProperty("publicKey").GetString()!);
            if (IndependentPublicKeys.Expected[algorithm].RawLength > 0)
            {
                Assert.Equal(IndependentPublicKeys.Expected[algorithm].RawLength, raw.Length);
            }

            var pem = (await OkJsonAsync(await client.GetAsync(U($"/api/v1/keys/{id}/public?format=pem&version={version}")))).GetProperty("publicKey").GetString()!;
            Assert.Equal(raw, IndependentPublicKeys.RawFromPem(algorithm, pem));
            var jwk = (await OkJsonAsync(await client.GetAsync(U($"/api/v1/keys/{id}/public?format=jwk&version={version}")))).GetProperty("jwk");
            IndependentPublicKeys.AssertJwk(algorithm, jwk, raw, id, version, expectedType == "signing" ? "sig" : "enc");
            rawByVersion.Add(raw);
        }

        Assert.NotEqual(rawByVersion[0], rawByVersion[1]);
        await AssertProblemAsync(await client.GetAsync(U($"/api/v1/keys/{id}/public?version=3")), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await client.GetAsync(U($"/api/v1/keys/{id}/public?format=der")), HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Lists_filter_by_algorithm_state_tag_and_name_and_page_with_a_cursor()
    {
        using var client = await TenantClientAsync();
        var ids = new List<Guid>();
        foreach (var (name, algorithm, tag) in new[] { ("alpha-1", "Ed25519", "blue"), ("alpha-2", "ECDSA-P256", "blue"), ("beta-1", "Ed25519", "red"), ("beta-2", "HMAC-SHA256", "red"), ("gamma", "AES-256-GCM", "blue") })
        {
            ids.Add((await CreateAsync(client, new { name, algorithm, tags = new[] { tag, "all" } })).GetProperty("id").GetGuid());
        }

        await OkJsonAsync(await client.PostAsync(U($"/api/v1/keys/{ids[2]}/disable"), null));

        async Task<string[]> NamesAsync(string query) =>
            [.. (await OkJsonAsync(await client.GetAsync(U("/api/v1/keys" + query)))).GetProperty("data").EnumerateArray().Select(k => k.GetProperty("name").GetString()!)];

        Assert.Equal(["alpha-1", "alpha-2", "beta-1", "beta-2", "gamma"], await NamesAsync(""));
        Assert.Equal(["alpha-1", "beta-1"], await NamesAsync("?algorithm=Ed25519"));
        Assert.Equal(["beta-1"], await NamesAsync("?state=disabled"));
        Assert.Equal(["alpha-1", "alpha-2", "gamma"], await NamesAsync("?tag=blue"));
        Assert.Equal(["beta-1", "beta-2"], await NamesAsync("?name=beta"));
        Assert.Equal(["alpha-1"], await NamesAsync("?tag=blue&algorithm=Ed25519&state=enabled"));
        Assert.Empty(await NamesAsync("?name=%25"));

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await OkJsonAsync(await client.GetAsync(U("/api/v1/keys?tag=all&limit=2" + (cursor is null ? string.Empty : "&cursor=" + cursor))));
            var data = page.GetProperty("data").EnumerateArray().ToList();
            Assert.True(data.Count <= 2);
            seen.AddRange(data.Select(k => k.GetProperty("name").GetString()!));
            cursor = page.GetProperty("nextCursor").GetString();
            pages++;
        }
        while (cursor is not null && pages < 10);

        Assert.Equal(3, pages);
        Assert.Equal(["alpha-1", "alpha-2", "beta-1", "beta-2", "gamma"], seen);

        await AssertProblemAsync(await client.GetAsync(U("/api/v1/keys?limit=0")), HttpStatusCode.BadRequest, "validation_failed");
        await AssertProblemAsync(await client.GetAsync(U("/api/v1/keys?limit=101")), HttpStatusCode.BadRequest, "validation_failed");
        await AssertProblemAsync(await client.GetAsync(U("/api/v1/keys?state=gone")), HttpStatusCode.BadRequest, "validation_failed");
        await AssertProblemAsync(await client.GetAsync(U("/api/v1/keys?algorithm=DES")), HttpStatusCode.BadRequest, "validation_failed");
        await AssertProblemAsync(await client.GetAsync(U("/api/v1/keys?cursor=zzz")), HttpStatusCode.BadRequest, "invalid_request");
    }

    [Fact]
    public async Task Disable_enable_delete_and_restore_follow_the_state_machine_and_are_audited()
    {
        using var client = await TenantClientAsync();
        var id = (await CreateAsync(client, new { name = Name(), algorithm = "ML-DSA-44", isDefault = true })).GetProperty("id").GetGuid();
        string Path(string suffix = "") => $"/api/v1/keys/{id}{suffix}";

        var disabled = await OkJsonAsync(await client.PostAsync(U(Path("/disable")), null));
        Assert.Equal("disabled", disabled.GetProperty("state").GetString());
        Assert.False(disabled.GetProperty("isDefault").GetBoolean());
        Assert.Empty(disabled.GetProperty("operations").EnumerateArray());
        await AssertProblemAsync(await client.PostAsync(U(Path("/rotate")), null), HttpStatusCode.Conflict, "key_state_invalid");
        await AssertProblemAsync(await client.PatchAsJsonAsync(U(Path()), new { isDefault = true }), HttpStatusCode.Conflict, "key_state_invalid");
        await AssertProblemAsync(await client.PostAsync(U(Path("/restore")), null), HttpStatusCode.Conflict, "key_state_invalid");

        var enabled = await OkJsonAsync(await client.PostAsync(U(Path("/enable")), null));
        Assert.Equal("enabled", enabled.GetProperty("state").GetString());
        Assert.Equal(["sign", "verify"], enabled.GetProperty("operations").EnumerateArray().Select(o => o.GetString()));
        await OkJsonAsync(await client.PostAsync(U(Path("/rotate")), null));

        await AssertProblemAsync(await client.PatchAsJsonAsync(U(Path()), new { minDecryptionVersion = 3 }), HttpStatusCode.BadRequest, "validation_failed");
        var patched = await OkJsonAsync(await client.PatchAsJsonAsync(U(Path()), new { minDecryptionVersion = 2, description = "signs invoices", tags = new[] { "billing" }, rotationPeriodDays = 90 }));
        Assert.Equal(2, patched.GetProperty("minDecryptionVersion").GetInt32());
        Assert.Equal("signs invoices", patched.GetProperty("description").GetString());
        Assert.Equal(["billing"], patched.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(90, patched.GetProperty("rotationPeriodDays").GetInt32());
        Assert.NotEqual(JsonValueKind.Null, patched.GetProperty("nextRotationAt").ValueKind);
        await AssertProblemAsync(await client.PatchAsJsonAsync(U(Path()), new { rotationPeriodDays = 4000 }), HttpStatusCode.BadRequest, "validation_failed");
        await AssertProblemAsync(await client.PatchAsJsonAsync(U(Path()), new { name = "renamed" }), HttpStatusCode.BadRequest, "invalid_request");

        await AssertProblemAsync(await client.DeleteAsync(U(Path("?pendingDays=6"))), HttpStatusCode.BadRequest, "validation_failed");
        await AssertProblemAsync(await client.DeleteAsync(U(Path("?pendingDays=31"))), HttpStatusCode.BadRequest, "validation_failed");
        var before = DateTimeOffset.UtcNow;
        var pending = await OkJsonAsync(await client.DeleteAsync(U(Path("?pendingDays=7"))));
        Assert.Equal("pendingDeletion", pending.GetProperty("state").GetString());
        var deletionDate = pending.GetProperty("deletionDate").GetDateTimeOffset();
        Assert.InRange(deletionDate, before.AddDays(7).AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(7).AddMinutes(5));
        await AssertProblemAsync(await client.PostAsync(U(Path("/enable")), null), HttpStatusCode.Conflict, "key_state_invalid");
        await AssertProblemAsync(await client.DeleteAsync(U(Path())), HttpStatusCode.Conflict, "key_state_invalid");
        await AssertProblemAsync(await client.PatchAsJsonAsync(U(Path()), new { description = "x" }), HttpStatusCode.Conflict, "key_state_invalid");

        var restored = await OkJsonAsync(await client.PostAsync(U(Path("/restore")), null));
        Assert.Equal("disabled", restored.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, restored.GetProperty("deletionDate").ValueKind);
        Assert.Equal("enabled", (await OkJsonAsync(await client.PostAsync(U(Path("/enable")), null))).GetProperty("state").GetString());

        var defaultDeleted = await OkJsonAsync(await client.DeleteAsync(U(Path())));
        Assert.InRange(defaultDeleted.GetProperty("deletionDate").GetDateTimeOffset(), before.AddDays(30).AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30).AddMinutes(5));

        // Audited, by id and version, never with material.
        var actions = new[] { "key.create", "key.disable", "key.enable", "key.rotate", "key.update", "key.delete", "key.restore" };
        foreach (var action in actions)
        {
            Assert.True(await fixture.ScalarAsync($"SELECT count(*) FROM mislata.audit_events WHERE resource_id = '{id}' AND action = '{action}'") >= 1, action);
        }
    }

    [Fact]
    public async Task The_default_key_is_unique_per_tenant_and_type()
    {
        using var client = await TenantClientAsync();
        var first = (await CreateAsync(client, new { name = Name(), type = "signing", isDefault = true })).GetProperty("id").GetGuid();
        var encryption = (await CreateAsync(client, new { name = Name(), isDefault = true })).GetProperty("id").GetGuid();
        var second = (await CreateAsync(client, new { name = Name(), algorithm = "Ed25519" })).GetProperty("id").GetGuid();
        Assert.True((await OkJsonAsync(await client.PatchAsJsonAsync(U($"/api/v1/keys/{second}"), new { isDefault = true }))).GetProperty("isDefault").GetBoolean());

        Assert.False((await OkJsonAsync(await client.GetAsync(U($"/api/v1/keys/{first}")))).GetProperty("isDefault").GetBoolean());
        var encryptionKey = await OkJsonAsync(await client.GetAsync(U($"/api/v1/keys/{encryption}")));
        Assert.True(encryptionKey.GetProperty("isDefault").GetBoolean());
        Assert.Equal("ML-KEM-768", encryptionKey.GetProperty("algorithm").GetString());
        Assert.Equal("ML-DSA-65", (await OkJsonAsync(await client.GetAsync(U($"/api/v1/keys/{first}")))).GetProperty("algorithm").GetString());
    }

    [Fact]
    public async Task Names_are_unique_within_a_tenant()
    {
        using var client = await TenantClientAsync();
        using var other = await TenantClientAsync();
        var name = Name();
        await CreateAsync(client, new { name, algorithm = "Ed25519" });
        await CreateAsync(other, new { name, algorithm = "Ed25519" });
        await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/keys"), new { name, algorithm = "ECDSA-P256" }), HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task The_tenant_jwks_lists_every_live_version_of_its_enabled_asymmetric_keys_only()
    {
        using var client = await TenantClientAsync();
        var signer = (await CreateAsync(client, new { name = Name(), algorithm = "ML-DSA-65" })).GetProperty("id").GetGuid();
        await OkJsonAsync(await client.PostAsync(U($"/api/v1/keys/{signer}/rotate"), null));
        var encryption = (await CreateAsync(client, new { name = Name(), algorithm = "ECDSA-P384" })).GetProperty("id").GetGuid();
        var disabled = (await CreateAsync(client, new { name = Name(), algorithm = "Ed25519" })).GetProperty("id").GetGuid();
        await OkJsonAsync(await client.PostAsync(U($"/api/v1/keys/{disabled}/disable"), null));
        await CreateAsync(client, new { name = Name(), algorithm = "HMAC-SHA512" });
        await CreateAsync(client, new { name = Name(), algorithm = "AES-256-GCM" });

        var jwks = await OkJsonAsync(await client.GetAsync(U("/api/v1/keys/jwks")));
        var kids = jwks.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("kid").GetString()).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(new[] { $"{signer:D}.1", $"{signer:D}.2", $"{encryption:D}.1" }.Order(StringComparer.Ordinal), kids);
        Assert.All(jwks.GetProperty("keys").EnumerateArray(), k => Assert.False(k.TryGetProperty("d", out _)));
    }

    [Fact]
    public async Task Another_tenants_key_is_not_found_on_every_route()
    {
        using var owner = await TenantClientAsync();
        using var intruder = await TenantClientAsync();
        var id = (await CreateAsync(owner, new { name = Name(), algorithm = "Ed25519" })).GetProperty("id").GetGuid();

        var routes = new (HttpMethod Method, string Path, object? Body)[]
        {
            (HttpMethod.Get, $"/api/v1/keys/{id}", null),
            (HttpMethod.Patch, $"/api/v1/keys/{id}", new { description = "mine now" }),
            (HttpMethod.Post, $"/api/v1/keys/{id}/rotate", null),
            (HttpMethod.Post, $"/api/v1/keys/{id}/disable", null),
            (HttpMethod.Post, $"/api/v1/keys/{id}/enable", null),
            (HttpMethod.Delete, $"/api/v1/keys/{id}?pendingDays=7", null),
            (HttpMethod.Post, $"/api/v1/keys/{id}/restore", null),
            (HttpMethod.Get, $"/api/v1/keys/{id}/public?format=pem", null),
        };
        foreach (var (method, path, body) in routes)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
            await AssertProblemAsync(await intruder.SendAsync(request), HttpStatusCode.NotFound, "not_found");
        }

        Assert.Empty((await OkJsonAsync(await intruder.GetAsync(U("/api/v1/keys")))).GetProperty("data").EnumerateArray());
        Assert.Empty((await OkJsonAsync(await intruder.GetAsync(U("/api/v1/keys/jwks")))).GetProperty("keys").EnumerateArray());

        // Nothing changed on the owner's side.
        var key = await OkJsonAsync(await owner.GetAsync(U($"/api/v1/keys/{id}")));
        Assert.Equal("enabled", key.GetProperty("state").GetString());
        Assert.Equal(1, key.GetProperty("currentVersion").GetInt32());
        Assert.Equal(JsonValueKind.Null, key.GetProperty("description").ValueKind);
    }

    [Fact]
    public async Task A_read_only_credential_is_refused_every_write_and_a_credential_without_keys_scopes_every_read()
    {
        var tenant = await fixture.CreateTenantAsync("business");
        var (_, writerKey) = await fixture.CreateKeyAsync(tenant, ReadWrite);
        var (_, readerKey) = await fixture.CreateKeyAsync(tenant, ["keys:read"]);
        var (_, strangerKey) = await fixture.CreateKeyAsync(tenant, ["apikeys:read"]);
        using var writer = fixture.WithKey(writerKey);
        using var reader = fixture.WithKey(readerKey);
        using var stranger = fixture.WithKey(strangerKey);
        var id = (await CreateAsync(writer, new { name = Name(), algorithm = "Ed25519" })).GetProperty("id").GetGuid();

        var writes = new (HttpMethod Method, string Path, object? Body)[]
        {
            (HttpMethod.Post, "/api/v1/keys", new { name = Name() }),
            (HttpMethod.Post, "/api/v1/keys/import", new { name = Name(), algorithm = "AES-256-GCM", format = "raw", material = Convert.ToBase64String(new byte[32]) }),
            (HttpMethod.Patch, $"/api/v1/keys/{id}", new { description = "x" }),
            (HttpMethod.Post, $"/api/v1/keys/{id}/rotate", null),
            (HttpMethod.Post, $"/api/v1/keys/{id}/disable", null),
            (HttpMethod.Post, $"/api/v1/keys/{id}/enable", null),
            (HttpMethod.Delete, $"/api/v1/keys/{id}", null),
            (HttpMethod.Post, $"/api/v1/keys/{id}/restore", null),
        };
        foreach (var (method, path, body) in writes)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
            await AssertProblemAsync(await reader.SendAsync(request), HttpStatusCode.Forbidden, "insufficient_scope");
        }

        foreach (var path in new[] { "/api/v1/keys", $"/api/v1/keys/{id}", $"/api/v1/keys/{id}/public", "/api/v1/keys/jwks" })
        {
            await OkJsonAsync(await reader.GetAsync(U(path)));
            await AssertProblemAsync(await stranger.GetAsync(U(path)), HttpStatusCode.Forbidden, "insufficient_scope");
        }

        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.keys WHERE tenant_id = '{tenant}'"));
    }

    [Fact]
    public async Task A_suspended_tenants_keys_are_refused_until_it_is_reactivated()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ReadWrite);
        using var client = fixture.WithKey(key);
        using var op = fixture.Operator();
        var id = (await CreateAsync(client, new { name = Name(), algorithm = "Ed25519" })).GetProperty("id").GetGuid();

        Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/suspend"), null)).StatusCode);
        var (status, _, body) = await TenancyFixture.EventuallyAsync(() => client.GetAsync(U($"/api/v1/keys/{id}")), HttpStatusCode.Forbidden, TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("\"error\":\"forbidden\"", body, StringComparison.Ordinal);
        foreach (var replica in fixture.ApiReplicas)
        {
            using var direct = fixture.WithKey(key, replica);
            var (onReplica, _, _) = await TenancyFixture.EventuallyAsync(() => direct.PostAsJsonAsync(U("/api/v1/keys"), new { name = Name() }), HttpStatusCode.Forbidden, TimeSpan.FromSeconds(2));
            Assert.Equal(HttpStatusCode.Forbidden, onReplica);
        }

        await AssertProblemAsync(await client.PostAsync(U($"/api/v1/keys/{id}/rotate"), null), HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.keys WHERE tenant_id = '{tenant}'"));

        Assert.Equal(HttpStatusCode.OK, (await op.PostAsync(U($"/api/v1/admin/tenants/{tenant}/reactivate"), null)).StatusCode);
        var (back, _, _) = await TenancyFixture.EventuallyAsync(() => client.GetAsync(U($"/api/v1/keys/{id}")), HttpStatusCode.OK, TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.OK, back);
    }

    [Fact]
    public async Task Creating_beyond_the_plans_max_keys_is_quota_exceeded_and_keys_pending_deletion_still_count()
    {
        using var op = fixture.Operator();
        var code = "k" + Guid.NewGuid().ToString("N")[..10];
        await OkJsonAsync(await op.PostAsJsonAsync(U("/api/v1/admin/plans"), new { code, name = "Two keys", maxKeys = 2 }), HttpStatusCode.Created);
        using var client = await TenantClientAsync(code);
        await CreateAsync(client, new { name = Name(), algorithm = "Ed25519" });
        var second = (await CreateAsync(client, new { name = Name(), algorithm = "Ed25519" })).GetProperty("id").GetGuid();

        await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = Name(), algorithm = "Ed25519" }), HttpStatusCode.TooManyRequests, "quota_exceeded");

        // A key pending deletion still counts (it can be restored).
        await OkJsonAsync(await client.DeleteAsync(U($"/api/v1/keys/{second}?pendingDays=7")));
        await AssertProblemAsync(await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = Name(), algorithm = "Ed25519" }), HttpStatusCode.TooManyRequests, "quota_exceeded");
    }

    [Fact]
    public async Task Import_accepts_pkcs8_raw_and_jwk_and_refuses_bad_material_without_echoing_it()
    {
        using var client = await TenantClientAsync("business");

        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var pkcs8 = await OkJsonAsync(await client.PostAsJsonAsync(U("/api/v1/keys/import"),
            new { name = Name(), algorithm = "ECDSA-P256", format = "pkcs8", material = Convert.ToBase64String(ec.ExportPkcs8PrivateKey()) }), HttpStatusCode.Created);
        Assert.Equal("imported", pkcs8.GetProperty("origin").GetString());
        var exported = (await OkJsonAsync(await client.GetAsync(U($"/api/v1/keys/{pkcs8.GetProperty("id").GetGuid()}/public?format=pem")))).GetProperty("publicKey").GetString()!;
        Assert.Equal(ec.ExportSubjectPublicKeyInfo(), Convert.FromBase64String(exported[PemEncoding.Find(exported).Base64Data]));

        var p = ec.ExportParameters(true);
        var jwk = new Dictionary<string, string>
        {
            ["kty"] = "EC",
            ["crv"] = "P-256",
            ["x"] = System.Buffers.Text.Base64Url.EncodeToString(p.Q.X),
            ["y"] = System.Buffers.Text.Base64Url.EncodeToString(p.Q.Y),
            ["d"] = System.Buffers.Text.Base64Url.EncodeToString(p.D),
        };
        var fromJwk = await OkJsonAsync(await client.PostAsJsonAsync(U("/api/v1/keys/import"), new { name = Name(), algorithm = "ECDSA-P256", format = "jwk", material = jwk }), HttpStatusCode.Created);
        Assert.Equal(1, fromJwk.GetProperty("currentVersion").GetInt32());

        await OkJsonAsync(await client.PostAsJsonAsync(U("/api/v1/keys/import"),
            new { name = Name(), algorithm = "HMAC-SHA256", format = "raw", material = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) }), HttpStatusCode.Created);

        // A mismatched public part, garbage, the wrong curve: 400 naming the field, and the material is never echoed.
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var marker = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48));
        var bad = new object[]
        {
            new { name = Name(), algorithm = "ECDSA-P256", format = "jwk", material = new Dictionary<string, string>(jwk) { ["d"] = System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)) } },
            new { name = Name(), algorithm = "ECDSA-P256", format = "pkcs8", material = marker },
            new { name = Name(), algorithm = "ECDSA-P256", format = "pkcs8", material = Convert.ToBase64String(other.ExportPkcs8PrivateKey()) },
            new { name = Name(), algorithm = "AES-256-GCM", format = "raw", material = marker },
            new { name = Name(), algorithm = "ML-KEM-768", format = "raw", material = "%%%not base64%%%" },
            new { name = Name(), algorithm = "ML-DSA-65", format = "der", material = marker },
            new { name = Name(), algorithm = "ECDSA-P256", format = "pkcs8", material = new string('A', 70_000) },
        };
        foreach (var body in bad)
        {
            using var response = await client.PostAsJsonAsync(U("/api/v1/keys/import"), body);
            var text = await response.Content.ReadAsStringAsync();
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation_failed");
            Assert.DoesNotContain(marker, text, StringComparison.Ordinal);
            Assert.DoesNotContain(jwk["d"], text, StringComparison.Ordinal);
        }

        using var community = await TenantClientAsync();
        await AssertProblemAsync(await community.PostAsJsonAsync(U("/api/v1/keys/import"),
            new { name = Name(), algorithm = "HMAC-SHA256", format = "raw", material = Convert.ToBase64String(new byte[32]) }), HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task Create_with_the_same_idempotency_key_returns_the_first_key_and_creates_one()
    {
        using var client = await TenantClientAsync();
        var name = Name();
        var idempotencyKey = Guid.NewGuid().ToString();
        var ids = new List<Guid>();
        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/keys") { Content = JsonContent.Create(new { name, algorithm = "Ed25519" }) };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            ids.Add((await OkJsonAsync(await client.SendAsync(request), HttpStatusCode.Created)).GetProperty("id").GetGuid());
        }

        Assert.Equal(ids[0], ids[1]);
        Assert.Equal(1L, await fixture.ScalarAsync($"SELECT count(*) FROM mislata.keys WHERE name = '{name}'"));
    }

    [Fact]
    public async Task Bad_create_bodies_are_validation_problems_naming_the_field()
    {
        using var client = await TenantClientAsync();
        var cases = new (object Body, string Field)[]
        {
            (new { name = Name(), algorithm = "DES" }, "algorithm"),
            (new { name = Name(), algorithm = "ML-KEM-768", type = "signing" }, "type"),
            (new { name = Name(), type = "asymmetric" }, "type"),
            (new { name = "", algorithm = "Ed25519" }, "name"),
            (new { name = Name(), tags = Enumerable.Range(0, 21).Select(i => "t" + i).ToArray() }, "tags"),
            (new { name = Name(), tags = new[] { new string('t', 65) } }, "tags"),
            (new { name = Name(), rotationPeriodDays = 0 }, "rotationPeriodDays"),
            (new { name = Name(), description = new string('d', 1001) }, "description"),
        };
        foreach (var (body, field) in cases)
        {
            using var response = await client.PostAsJsonAsync(U("/api/v1/keys"), body);
            var text = await response.Content.ReadAsStringAsync();
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation_failed");
            Assert.True(JsonDocument.Parse(text).RootElement.GetProperty("errors").TryGetProperty(field, out _), $"{field}: {text}");
        }
    }

    private static void AssertNoPrivateMaterial(JsonElement key)
    {
        var text = key.GetRawText();
        foreach (var member in new[] { "material", "sealedMaterial", "privateKey", "secret", "\"d\"" })
        {
            Assert.DoesNotContain(member, text, StringComparison.OrdinalIgnoreCase);
        }
    }
}
