using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Operations;

/// <summary>
/// The cryptographic operations through the gateway (two api replicas): every algorithm runs what it allows and gets
/// <c>algorithm_mismatch</c> for the rest; rotation and the minimum decryption version; payloads and signatures checked
/// by an independent implementation (<see cref="Outside"/>); tenant isolation, scopes, revoked keys; disabled and
/// destroyed keys (the change reaches every replica's cache); malformed, oversized and tampered input.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class OperationsApiTests(TenancyFixture fixture)
{
    private static readonly string[] AllScopes = ["keys:read", "keys:write", "encryption:write"];

    private static readonly string[] Operations = ["encrypt", "decrypt", "rewrap", "datakey", "sign", "verify", "hmac", "hmac/verify"];

    private static Uri U(string path) => new(path, UriKind.Relative);

    private async Task<(HttpClient Client, Guid Tenant, Guid ApiKeyId, string ApiKey)> TenantAsync(string[]? scopes = null)
    {
        var tenant = await fixture.CreateTenantAsync();
        var (id, key) = await fixture.CreateKeyAsync(tenant, scopes ?? AllScopes);
        var client = fixture.WithKey(key);

        // RSA-4096 generation and SLH-DSA-128s signing take seconds on a loaded machine: wait for the answer.
        client.Timeout = TimeSpan.FromMinutes(3);
        return (client, tenant, id, key);
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

    /// <summary>
    /// The answer of <paramref name="call"/> once it reports <paramref name="version"/> four times in a row (so that every
    /// api replica behind the gateway does): the replica that rotated uses the new version at once, the other one when the
    /// rotation's cache invalidation reaches it (within a second on a healthy machine; the test allows 15 s for a loaded
    /// one, and fails if the version never comes).
    /// </summary>
    private static async Task<JsonElement> ProducedWithVersionAsync(int version, Func<Task<HttpResponseMessage>> call)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var inARow = 0;
        while (true)
        {
            var answer = await OkAsync(await call());
            inARow = answer.GetProperty("keyVersion").GetInt32() == version ? inARow + 1 : 0;
            if (inARow == 4 || watch.Elapsed > TimeSpan.FromSeconds(15))
            {
                Assert.Equal(version, answer.GetProperty("keyVersion").GetInt32());
                return answer;
            }

            await Task.Delay(inARow == 0 ? 50 : 0);
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

    private static Task<HttpResponseMessage> Post(HttpClient client, string operation, object body) => client.PostAsJsonAsync(U("/api/v1/" + operation), body);

    private static async Task<Guid> CreateKeyAsync(HttpClient client, string algorithm, string? type = null, bool isDefault = false) =>
        (await OkAsync(await client.PostAsJsonAsync(U("/api/v1/keys"), new { name = "k-" + Guid.NewGuid().ToString("N")[..10], algorithm, type, isDefault }), HttpStatusCode.Created))
        .GetProperty("id").GetGuid();

    private static async Task<string> PemAsync(HttpClient client, Guid keyId, int version) =>
        (await OkAsync(await client.GetAsync(U($"/api/v1/keys/{keyId}/public?format=pem&version={version}")))).GetProperty("publicKey").GetString()!;

    public static TheoryData<string, string?> Algorithms() => new()
    {
        { "ML-KEM-512", null }, { "ML-KEM-768", null }, { "ML-KEM-1024", null }, { "AES-256-GCM", null },
        { "RSA-2048", null }, { "RSA-2048", "signing" }, { "RSA-3072", null }, { "RSA-4096", "signing" }, { "ML-DSA-44", null }, { "ML-DSA-65", null },
        { "ML-DSA-87", null }, { "SLH-DSA-SHA2-128s", null }, { "SLH-DSA-SHA2-128f", null }, { "ECDSA-P256", null },
        { "ECDSA-P384", null }, { "Ed25519", null }, { "HMAC-SHA256", null }, { "HMAC-SHA512", null },
    };

    private static string[] Allowed(string algorithm, string? type) => algorithm switch
    {
        _ when type == "signing" => ["sign", "verify"],
        var a when a.StartsWith("ML-KEM", StringComparison.Ordinal) || a.StartsWith("RSA", StringComparison.Ordinal) || a == "AES-256-GCM" => ["encrypt", "decrypt", "rewrap", "datakey"],
        var a when a.StartsWith("HMAC", StringComparison.Ordinal) => ["hmac", "hmac/verify"],
        _ => ["sign", "verify"],
    };

    /// <summary>A body for each operation that names <paramref name="keyId"/> and is otherwise valid.</summary>
    private static object BodyFor(string operation, Guid keyId) => operation switch
    {
        "encrypt" => new { plaintext = "x", keyId },
        "decrypt" or "rewrap" => new { encryptedPayload = Outside.ForeignPayload(keyId) },
        "datakey" => new { keyId },
        "sign" => new { message = "x", keyId },
        "verify" => new { message = "x", signature = "AAAA", keyId },
        "hmac" => new { message = "x", keyId },
        _ => new { message = "x", mac = "AAAA", keyId },
    };

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task Every_algorithm_runs_what_it_allows_refuses_the_rest_and_keeps_older_versions_readable(string algorithm, string? type)
    {
        var (client, _, _, _) = await TenantAsync();
        using var _client = client;
        var keyId = await CreateKeyAsync(client, algorithm, type);
        var allowed = Allowed(algorithm, type);
        foreach (var operation in Operations.Except(allowed))
        {
            await ProblemAsync(await Post(client, operation, BodyFor(operation, keyId)), HttpStatusCode.BadRequest, "algorithm_mismatch");
        }

        var message = "message for " + algorithm;
        if (allowed.Contains("encrypt"))
        {
            var v1 = await OkAsync(await Post(client, "encrypt", new { plaintext = message, keyId, context = "ctx-1" }));
            Assert.Equal((keyId, 1, algorithm), (v1.GetProperty("keyId").GetGuid(), v1.GetProperty("keyVersion").GetInt32(), v1.GetProperty("algorithm").GetString()));
            var payload1 = v1.GetProperty("encryptedPayload").GetString()!;
            var binary = await OkAsync(await Post(client, "encrypt", new { plaintext = Convert.ToBase64String([0, 1, 2, 255]), encoding = "base64", keyId }));
            var decrypted = await OkAsync(await Post(client, "decrypt", new { encryptedPayload = payload1, context = "ctx-1" }));
            Assert.Equal((message, "utf8", keyId, 1), (decrypted.GetProperty("plaintext").GetString(), decrypted.GetProperty("encoding").GetString(), decrypted.GetProperty("keyId").GetGuid(), decrypted.GetProperty("keyVersion").GetInt32()));
            Assert.Equal("AAEC/w==", (await OkAsync(await Post(client, "decrypt", new { encryptedPayload = binary.GetProperty("encryptedPayload").GetString() }))).GetProperty("plaintext").GetString());
            await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = payload1, context = "ctx-2" }), HttpStatusCode.BadRequest, "decryption_failed");
            await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = payload1 }), HttpStatusCode.BadRequest, "decryption_failed");
            await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = Outside.Flip(payload1, "c") }), HttpStatusCode.BadRequest, "decryption_failed");
            await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = Outside.Flip(payload1, "t"), context = "ctx-1" }), HttpStatusCode.BadRequest, "decryption_failed");
            await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = Outside.Flip(payload1, "n"), context = "ctx-1" }), HttpStatusCode.BadRequest, "decryption_failed");
            if (algorithm != "AES-256-GCM")
            {
                await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = Outside.Flip(payload1, "ek"), context = "ctx-1" }), HttpStatusCode.BadRequest, "decryption_failed");
            }

            await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = payload1[..(payload1.Length / 2)] }), HttpStatusCode.BadRequest, "invalid_payload");

            var dataKey = await OkAsync(await Post(client, "datakey", new { keyId, bytes = 24, context = "dk" }));
            var dataKeyBytes = Convert.FromBase64String(dataKey.GetProperty("plaintext").GetString()!);
            Assert.Equal(24, dataKeyBytes.Length);
            var openedDataKey = await OkAsync(await Post(client, "decrypt", new { encryptedPayload = dataKey.GetProperty("encryptedPayload").GetString(), context = "dk" }));
            Assert.Equal("base64", openedDataKey.GetProperty("encoding").GetString());
            Assert.Equal(dataKeyBytes, Convert.FromBase64String(openedDataKey.GetProperty("plaintext").GetString()!));
            Assert.False((await OkAsync(await Post(client, "datakey", new { keyId, includePlaintext = false }))).TryGetProperty("plaintext", out _));

            var batch = await OkAsync(await Post(client, "encrypt/batch", new { keyId, items = new object[] { new { plaintext = "b1" }, new { plaintext = "%%%", encoding = "base64" }, new { plaintext = "b3", context = "c3" } } }));
            var results = batch.GetProperty("results").EnumerateArray().ToList();
            Assert.Equal(3, results.Count);
            Assert.Equal("validation_failed", results[1].GetProperty("error").GetProperty("code").GetString());
            var opened = await OkAsync(await Post(client, "decrypt/batch", new
            {
                items = new object[]
                {
                    new { encryptedPayload = results[2].GetProperty("encryptedPayload").GetString(), context = "c3" },
                    new { encryptedPayload = results[0].GetProperty("encryptedPayload").GetString(), context = "wrong" },
                    new { encryptedPayload = "bm90IGEgcGF5bG9hZA==" },
                    new { encryptedPayload = results[0].GetProperty("encryptedPayload").GetString() },
                },
            }));
            var openedItems = opened.GetProperty("results").EnumerateArray().ToList();
            Assert.Equal("b3", openedItems[0].GetProperty("plaintext").GetString());
            Assert.Equal("decryption_failed", openedItems[1].GetProperty("error").GetProperty("code").GetString());
            Assert.Equal("invalid_payload", openedItems[2].GetProperty("error").GetProperty("code").GetString());
            Assert.Equal("b1", openedItems[3].GetProperty("plaintext").GetString());

            // Rotation: new payloads use version 2, the version 1 payload still decrypts and rewraps to version 2.
            await OkAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rotate"), null));
            var v2 = await ProducedWithVersionAsync(2, () => Post(client, "encrypt", new { plaintext = message, keyId, context = "ctx-1" }));
            Assert.Equal(1, (await OkAsync(await Post(client, "decrypt", new { encryptedPayload = payload1, context = "ctx-1" }))).GetProperty("keyVersion").GetInt32());
            var rewrapped = await OkAsync(await Post(client, "rewrap", new { encryptedPayload = payload1, context = "ctx-1" }));
            Assert.Equal(2, rewrapped.GetProperty("keyVersion").GetInt32());
            Assert.False(rewrapped.TryGetProperty("plaintext", out _));
            Assert.Equal(message, (await OkAsync(await Post(client, "decrypt", new { encryptedPayload = rewrapped.GetProperty("encryptedPayload").GetString(), context = "ctx-1" }))).GetProperty("plaintext").GetString());

            // Payloads built outside the server from the exported public key of each version decrypt.
            if (algorithm != "AES-256-GCM")
            {
                foreach (var version in new[] { 1, 2 })
                {
                    var outside = Outside.Encrypt(algorithm, await PemAsync(client, keyId, version), keyId, version, Encoding.UTF8.GetBytes("from outside " + version), "utf8", "ext");
                    var fromOutside = await OkAsync(await Post(client, "decrypt", new { encryptedPayload = outside, context = "ext" }));
                    Assert.Equal(("from outside " + version, version), (fromOutside.GetProperty("plaintext").GetString(), fromOutside.GetProperty("keyVersion").GetInt32()));
                }
            }

            await OkAsync(await client.PatchAsJsonAsync(U($"/api/v1/keys/{keyId}"), new { minDecryptionVersion = 2 }));
            await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = payload1, context = "ctx-1" }), HttpStatusCode.BadRequest, "decryption_failed");
            await ProblemAsync(await Post(client, "rewrap", new { encryptedPayload = payload1, context = "ctx-1" }), HttpStatusCode.BadRequest, "decryption_failed");
            Assert.Equal(message, (await OkAsync(await Post(client, "decrypt", new { encryptedPayload = v2.GetProperty("encryptedPayload").GetString(), context = "ctx-1" }))).GetProperty("plaintext").GetString());
        }

        if (allowed.Contains("sign"))
        {
            var context = algorithm.StartsWith("ML-DSA", StringComparison.Ordinal) || algorithm.StartsWith("SLH-DSA", StringComparison.Ordinal) ? "sig-context" : null;
            var s1 = await OkAsync(await Post(client, "sign", new { message, keyId, context }));
            Assert.Equal((keyId, 1, algorithm), (s1.GetProperty("keyId").GetGuid(), s1.GetProperty("keyVersion").GetInt32(), s1.GetProperty("algorithm").GetString()));
            var signature1 = s1.GetProperty("signature").GetString()!;
            Assert.True(Outside.Verify(algorithm, await PemAsync(client, keyId, 1), Encoding.UTF8.GetBytes(message), context, Convert.FromBase64String(signature1)), "the signature does not verify outside");
            Assert.True((await OkAsync(await Post(client, "verify", new { message, signature = signature1, keyId, context }))).GetProperty("valid").GetBoolean());
            Assert.False((await OkAsync(await Post(client, "verify", new { message = message + ".", signature = signature1, keyId, context }))).GetProperty("valid").GetBoolean());
            if (context is not null)
            {
                Assert.False((await OkAsync(await Post(client, "verify", new { message, signature = signature1, keyId, context = "other" }))).GetProperty("valid").GetBoolean());
                await ProblemAsync(await Post(client, "sign", new { message, keyId, context = new string('c', 256) }), HttpStatusCode.BadRequest, "validation_failed");
            }
            else
            {
                await ProblemAsync(await Post(client, "sign", new { message, keyId, context = "no context here" }), HttpStatusCode.BadRequest, "validation_failed");
            }

            var base64Message = await OkAsync(await Post(client, "sign", new { message = Convert.ToBase64String([1, 2, 3]), encoding = "base64", keyId, context }));
            Assert.True(Outside.Verify(algorithm, await PemAsync(client, keyId, 1), [1, 2, 3], context, Convert.FromBase64String(base64Message.GetProperty("signature").GetString()!)));

            await OkAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rotate"), null));
            var s2 = await ProducedWithVersionAsync(2, () => Post(client, "sign", new { message, keyId, context }));
            Assert.True(Outside.Verify(algorithm, await PemAsync(client, keyId, 2), Encoding.UTF8.GetBytes(message), context, Convert.FromBase64String(s2.GetProperty("signature").GetString()!)));
            var old = await OkAsync(await Post(client, "verify", new { message, signature = signature1, keyId, context }));
            Assert.Equal((true, 1), (old.GetProperty("valid").GetBoolean(), old.GetProperty("keyVersion").GetInt32()));
            Assert.True((await OkAsync(await Post(client, "verify", new { message, signature = signature1, keyId, keyVersion = 1, context }))).GetProperty("valid").GetBoolean());
            Assert.False((await OkAsync(await Post(client, "verify", new { message, signature = signature1, keyId, keyVersion = 2, context }))).GetProperty("valid").GetBoolean());

            await OkAsync(await client.PatchAsJsonAsync(U($"/api/v1/keys/{keyId}"), new { minDecryptionVersion = 2 }));
            await ProblemAsync(await Post(client, "verify", new { message, signature = signature1, keyId, keyVersion = 1, context }), HttpStatusCode.BadRequest, "decryption_failed");
            Assert.False((await OkAsync(await Post(client, "verify", new { message, signature = signature1, keyId, context }))).GetProperty("valid").GetBoolean());
        }

        if (allowed.Contains("hmac"))
        {
            var mac1 = await OkAsync(await Post(client, "hmac", new { message, keyId }));
            var mac = mac1.GetProperty("mac").GetString()!;
            Assert.Equal(algorithm == "HMAC-SHA256" ? 32 : 64, Convert.FromBase64String(mac).Length);
            Assert.True((await OkAsync(await Post(client, "hmac/verify", new { message, mac, keyId }))).GetProperty("valid").GetBoolean());
            Assert.False((await OkAsync(await Post(client, "hmac/verify", new { message = message + ".", mac, keyId }))).GetProperty("valid").GetBoolean());
            await OkAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/rotate"), null));
            Assert.Equal(2, (await OkAsync(await Post(client, "hmac", new { message, keyId }))).GetProperty("keyVersion").GetInt32());
            Assert.NotEqual(mac, (await OkAsync(await Post(client, "hmac", new { message, keyId }))).GetProperty("mac").GetString());
            var oldMac = await OkAsync(await Post(client, "hmac/verify", new { message, mac, keyId }));
            Assert.Equal((true, 1), (oldMac.GetProperty("valid").GetBoolean(), oldMac.GetProperty("keyVersion").GetInt32()));
            await OkAsync(await client.PatchAsJsonAsync(U($"/api/v1/keys/{keyId}"), new { minDecryptionVersion = 2 }));
            Assert.False((await OkAsync(await Post(client, "hmac/verify", new { message, mac, keyId }))).GetProperty("valid").GetBoolean());
        }
    }

    [Fact]
    public async Task Default_keys_are_used_without_a_key_id_and_random_says_where_its_bytes_come_from()
    {
        var (client, _, _, _) = await TenantAsync();
        using var _client = client;
        await ProblemAsync(await Post(client, "encrypt", new { plaintext = "x" }), HttpStatusCode.NotFound, "not_found");
        await ProblemAsync(await Post(client, "sign", new { message = "x" }), HttpStatusCode.NotFound, "not_found");
        var encryption = await CreateKeyAsync(client, "ML-KEM-768", isDefault: true);
        var signing = await CreateKeyAsync(client, "ML-DSA-65", isDefault: true);
        var encrypted = await OkAsync(await Post(client, "encrypt", new { plaintext = "x" }));
        Assert.Equal(encryption, encrypted.GetProperty("keyId").GetGuid());
        Assert.Equal(encryption, (await OkAsync(await Post(client, "datakey", new { }))).GetProperty("keyId").GetGuid());
        var signed = await OkAsync(await Post(client, "sign", new { message = "x" }));
        Assert.Equal(signing, signed.GetProperty("keyId").GetGuid());
        Assert.True((await OkAsync(await Post(client, "verify", new { message = "x", signature = signed.GetProperty("signature").GetString() }))).GetProperty("valid").GetBoolean());

        var random = await OkAsync(await Post(client, "random", new { bytes = 4096 }));
        Assert.Equal(4096, Convert.FromBase64String(random.GetProperty("random").GetString()!).Length);
        Assert.Equal("os", random.GetProperty("source").GetString());
        Assert.Single(Convert.FromBase64String((await OkAsync(await Post(client, "random", new { bytes = 1, encoding = "base64" }))).GetProperty("random").GetString()!));
        foreach (var bad in new object[] { new { bytes = 0 }, new { bytes = 4097 }, new { }, new { bytes = 16, encoding = "utf8" } })
        {
            await ProblemAsync(await Post(client, "random", bad), HttpStatusCode.BadRequest, "validation_failed");
        }
    }

    [Fact]
    public async Task Another_tenants_key_is_not_found_by_any_operation_and_a_narrower_or_revoked_credential_is_refused()
    {
        var (owner, ownerTenant, _, _) = await TenantAsync();
        using var _owner = owner;
        var keys = new Dictionary<string, Guid>
        {
            ["encrypt"] = await CreateKeyAsync(owner, "AES-256-GCM"),
            ["sign"] = await CreateKeyAsync(owner, "Ed25519"),
            ["hmac"] = await CreateKeyAsync(owner, "HMAC-SHA256"),
        };
        var payload = (await OkAsync(await Post(owner, "encrypt", new { plaintext = "mine", keyId = keys["encrypt"] }))).GetProperty("encryptedPayload").GetString()!;
        var signature = (await OkAsync(await Post(owner, "sign", new { message = "mine", keyId = keys["sign"] }))).GetProperty("signature").GetString()!;
        var mac = (await OkAsync(await Post(owner, "hmac", new { message = "mine", keyId = keys["hmac"] }))).GetProperty("mac").GetString()!;
        var bodies = new (string Operation, object Body)[]
        {
            ("encrypt", new { plaintext = "x", keyId = keys["encrypt"] }),
            ("decrypt", new { encryptedPayload = payload }),
            ("rewrap", new { encryptedPayload = payload }),
            ("datakey", new { keyId = keys["encrypt"] }),
            ("encrypt/batch", new { items = new[] { new { plaintext = "x" } }, keyId = keys["encrypt"] }),
            ("decrypt/batch", new { items = new[] { new { encryptedPayload = payload } } }),
            ("sign", new { message = "mine", keyId = keys["sign"] }),
            ("verify", new { message = "mine", signature, keyId = keys["sign"] }),
            ("hmac", new { message = "mine", keyId = keys["hmac"] }),
            ("hmac/verify", new { message = "mine", mac, keyId = keys["hmac"] }),
        };

        var (stranger, _, _, _) = await TenantAsync();
        using var _stranger = stranger;
        foreach (var (operation, body) in bodies)
        {
            if (operation.EndsWith("/batch", StringComparison.Ordinal))
            {
                var results = (await OkAsync(await Post(stranger, operation, body))).GetProperty("results").EnumerateArray().ToList();
                Assert.Equal("not_found", Assert.Single(results).GetProperty("error").GetProperty("code").GetString());
            }
            else
            {
                await ProblemAsync(await Post(stranger, operation, body), HttpStatusCode.NotFound, "not_found");
            }
        }

        // The owner's keys were not touched by the stranger's calls.
        Assert.Equal("mine", (await OkAsync(await Post(owner, "decrypt", new { encryptedPayload = payload }))).GetProperty("plaintext").GetString());

        var (_, narrow) = await fixture.CreateKeyAsync(ownerTenant, ["keys:read", "keys:write"]);
        using (var narrowClient = fixture.WithKey(narrow))
        {
            foreach (var (operation, body) in bodies.Append(("random", new { bytes = 8 })))
            {
                await ProblemAsync(await Post(narrowClient, operation, body), HttpStatusCode.Forbidden, "insufficient_scope");
            }
        }

        var (revokedId, revokedKey) = await fixture.CreateKeyAsync(ownerTenant, AllScopes);
        using (var admin = await ApiKeysAdminAsync(ownerTenant))
        {
            using var deleted = await admin.DeleteAsync(U($"/api/v1/api-keys/{revokedId}"));
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        using (var revokedClient = fixture.WithKey(revokedKey))
        {
            var (status, _, _) = await TenancyFixture.EventuallyAsync(() => Post(revokedClient, "encrypt", new { plaintext = "x", keyId = keys["encrypt"] }), HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(10));
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            foreach (var (operation, body) in bodies.Append(("random", new { bytes = 8 })))
            {
                await ProblemAsync(await Post(revokedClient, operation, body), HttpStatusCode.Unauthorized, "unauthorized");
            }
        }

        using (var anonymous = fixture.WithKey(null))
        {
            await ProblemAsync(await Post(anonymous, "encrypt", new { plaintext = "x" }), HttpStatusCode.Unauthorized, "unauthorized");
        }

        // A suspended tenant's credentials run no operation (403 forbidden), on every replica.
        using (var op = fixture.Operator())
        {
            using var suspended = await op.PostAsync(U($"/api/v1/admin/tenants/{ownerTenant}/suspend"), null);
            Assert.Equal(HttpStatusCode.OK, suspended.StatusCode);
        }

        var (status403, _, body403) = await TenancyFixture.EventuallyAsync(() => Post(owner, "encrypt", new { plaintext = "x", keyId = keys["encrypt"] }), HttpStatusCode.Forbidden, TimeSpan.FromSeconds(10));
        Assert.True(status403 == HttpStatusCode.Forbidden, body403);
        foreach (var (operation, body) in bodies.Append(("random", new { bytes = 8 })))
        {
            await ProblemAsync(await Post(owner, operation, body), HttpStatusCode.Forbidden, "forbidden");
        }
    }

    private async Task<HttpClient> ApiKeysAdminAsync(Guid tenant)
    {
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write"]);
        return fixture.WithKey(key);
    }

    [Fact]
    public async Task Disabling_a_key_reaches_every_replica_at_once_and_a_destroyed_keys_payloads_fail_as_decryption_failed()
    {
        var (client, tenant, _, apiKey) = await TenantAsync();
        using var _client = client;
        var keyId = await CreateKeyAsync(client, "AES-256-GCM");
        var signer = await CreateKeyAsync(client, "ECDSA-P256");
        var payload = (await OkAsync(await Post(client, "encrypt", new { plaintext = "p", keyId }))).GetProperty("encryptedPayload").GetString()!;
        var signature = (await OkAsync(await Post(client, "sign", new { message = "m", keyId = signer }))).GetProperty("signature").GetString()!;

        // Warm both replicas' caches directly, then disable through the gateway.
        var replicas = fixture.ApiReplicas.Select(uri => fixture.WithKey(apiKey, uri)).ToList();
        try
        {
            foreach (var replica in replicas)
            {
                await OkAsync(await Post(replica, "encrypt", new { plaintext = "warm", keyId }));
                await OkAsync(await Post(replica, "verify", new { message = "m", signature, keyId = signer }));
            }

            await OkAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/disable"), null));
            await OkAsync(await client.PostAsync(U($"/api/v1/keys/{signer}/disable"), null));
            foreach (var replica in replicas)
            {
                var (status, _, body) = await TenancyFixture.EventuallyAsync(() => Post(replica, "encrypt", new { plaintext = "after", keyId }), HttpStatusCode.Conflict, TimeSpan.FromSeconds(10));
                Assert.True(status == HttpStatusCode.Conflict, $"{replica.BaseAddress}: {(int)status} {body}");
                Assert.Contains("key_state_invalid", body, StringComparison.Ordinal);
                await ProblemAsync(await Post(replica, "decrypt", new { encryptedPayload = payload }), HttpStatusCode.Conflict, "key_state_invalid");
                await ProblemAsync(await Post(replica, "rewrap", new { encryptedPayload = payload }), HttpStatusCode.Conflict, "key_state_invalid");
                await ProblemAsync(await Post(replica, "datakey", new { keyId }), HttpStatusCode.Conflict, "key_state_invalid");
                await ProblemAsync(await Post(replica, "sign", new { message = "m", keyId = signer }), HttpStatusCode.Conflict, "key_state_invalid");
                await ProblemAsync(await Post(replica, "verify", new { message = "m", signature, keyId = signer }), HttpStatusCode.Conflict, "key_state_invalid");
            }

            await OkAsync(await client.PostAsync(U($"/api/v1/keys/{keyId}/enable"), null));
            foreach (var replica in replicas)
            {
                var (status, _, body) = await TenancyFixture.EventuallyAsync(() => Post(replica, "decrypt", new { encryptedPayload = payload }), HttpStatusCode.OK, TimeSpan.FromSeconds(10));
                Assert.True(status == HttpStatusCode.OK, body);
            }

            // Pending deletion refuses; once the worker's purge has destroyed the key its payloads fail as decryption_failed.
            await OkAsync(await client.DeleteAsync(U($"/api/v1/keys/{keyId}?pendingDays=7")));
            await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = payload }), HttpStatusCode.Conflict, "key_state_invalid");
            await DestroyAsync(tenant, keyId);
            foreach (var replica in replicas)
            {
                var (status, _, body) = await TenancyFixture.EventuallyAsync(() => Post(replica, "decrypt", new { encryptedPayload = payload }), HttpStatusCode.BadRequest, TimeSpan.FromSeconds(10));
                Assert.True(status == HttpStatusCode.BadRequest && body.Contains("decryption_failed", StringComparison.Ordinal), body);
                await ProblemAsync(await Post(replica, "encrypt", new { plaintext = "x", keyId }), HttpStatusCode.Conflict, "key_state_invalid");
            }
        }
        finally
        {
            foreach (var replica in replicas)
            {
                replica.Dispose();
            }
        }
    }

    /// <summary>
    /// What the worker's hourly purge does to a key past its window (KeyAdministration.DestroyDueAsync: material erased,
    /// state destroyed, the change announced on the invalidation channel), done here without waiting an hour.
    /// </summary>
    private async Task DestroyAsync(Guid tenant, Guid keyId)
    {
        await fixture.ExecuteAsync($"""
            UPDATE mislata.key_versions SET state = 'Destroyed', sealed_material = ''::bytea, destroyed_at = now() WHERE key_id = '{keyId}';
            UPDATE mislata.keys SET state = 'Destroyed', updated_at = now() WHERE id = '{keyId}';
            """);
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(fixture.Stack.Redis.Configuration);
        await redis.GetSubscriber().PublishAsync(StackExchange.Redis.RedisChannel.Literal("mislata:access:invalidate"), $"ckey:{tenant:N}:{keyId:N}");
    }

    [Fact]
    public async Task Malformed_oversized_and_tampered_input_gets_its_code_and_never_a_500()
    {
        var (client, _, _, _) = await TenantAsync();
        using var _client = client;
        var aes = await CreateKeyAsync(client, "AES-256-GCM");
        var mlkem = await CreateKeyAsync(client, "ML-KEM-768");
        var payload = (await OkAsync(await Post(client, "encrypt", new { plaintext = "hello", keyId = mlkem, context = "c" }))).GetProperty("encryptedPayload").GetString()!;

        await ProblemAsync(await Post(client, "encrypt", new { plaintext = "not base64!", encoding = "base64", keyId = aes }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await Post(client, "encrypt", new { plaintext = "QUJD", encoding = "hex", keyId = aes }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await Post(client, "encrypt", new { plaintext = "x", keyId = "not-a-guid" }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await Post(client, "encrypt", new { keyId = aes }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await Post(client, "encrypt", new { plaintext = "x", keyId = aes, context = new string('c', 5000) }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await Post(client, "encrypt", new { plaintext = "x", keyId = Guid.NewGuid() }), HttpStatusCode.NotFound, "not_found");
        await ProblemAsync(await Post(client, "sign", new { message = "x", signature = "x", keyId = aes }), HttpStatusCode.BadRequest, "algorithm_mismatch");
        await ProblemAsync(await Post(client, "verify", new { message = "x", signature = "***", keyId = aes }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await Post(client, "hmac", new { message = "x" }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await Post(client, "datakey", new { keyId = aes, bytes = 15 }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await Post(client, "datakey", new { keyId = aes, bytes = 65 }), HttpStatusCode.BadRequest, "validation_failed");

        // Payloads: not base64, not JSON, truncated, unknown fields, flipped bytes, another key's id, wrong context.
        await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = "%%%%" }), HttpStatusCode.BadRequest, "invalid_payload");
        await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = Convert.ToBase64String("[1,2]"u8.ToArray()) }), HttpStatusCode.BadRequest, "invalid_payload");
        await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = payload[..^8] }), HttpStatusCode.BadRequest, "invalid_payload");
        await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = payload[..(payload.Length / 3 * 2 / 4 * 4)] }), HttpStatusCode.BadRequest, "invalid_payload");
        await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = "" }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = Outside.ForeignPayload(mlkem) }), HttpStatusCode.BadRequest, "decryption_failed");
        await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = Outside.ForeignPayload(aes, version: 7) }), HttpStatusCode.BadRequest, "decryption_failed");
        await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = Outside.ForeignPayload(Guid.NewGuid()) }), HttpStatusCode.NotFound, "not_found");
        await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = payload, context = "C" }), HttpStatusCode.BadRequest, "decryption_failed");
        var failed = await ProblemAsync(await Post(client, "decrypt", new { encryptedPayload = Outside.Flip(payload, "ek"), context = "c" }), HttpStatusCode.BadRequest, "decryption_failed");
        Assert.Equal("Decryption failed.", failed.GetProperty("detail").GetString());

        // Every single character of the payload changed in turn (a sample): a 4xx code, never a 5xx — 400, or 404 when
        // the change lands in the key id and names a key this tenant does not have (as a foreign key id does above).
        var random = new Random(7);
        for (var i = 0; i < 40; i++)
        {
            var chars = payload.ToCharArray();
            var at = random.Next(chars.Length);
            chars[at] = chars[at] == 'A' ? 'B' : 'A';
            using var response = await Post(client, "decrypt", new { encryptedPayload = new string(chars), context = "c" });
            var body = await response.Content.ReadAsStringAsync();
            var code = await TenancyFixture.ErrorCodeAsync(response);
            Assert.True(
                (response.StatusCode == HttpStatusCode.BadRequest && code is "invalid_payload" or "decryption_failed")
                || (response.StatusCode == HttpStatusCode.NotFound && code == "not_found"),
                $"flip at {at}: {(int)response.StatusCode} {body}");
        }

        // Sizes: a single call over 1 MiB, a batch over 8 MiB or 1000 items.
        var big = new string('a', 1024 * 1024 + 10);
        await ProblemAsync(await Post(client, "encrypt", new { plaintext = big, keyId = aes }), HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        await ProblemAsync(await Post(client, "sign", new { message = big }), HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        var inBatch = await OkAsync(await Post(client, "encrypt/batch", new { keyId = aes, items = Enumerable.Range(0, 3).Select(_ => new { plaintext = new string('b', 1024 * 1024) }) }));
        Assert.Equal(3, inBatch.GetProperty("results").GetArrayLength());
        await ProblemAsync(await Post(client, "encrypt/batch", new { keyId = aes, items = Enumerable.Range(0, 9).Select(_ => new { plaintext = new string('b', 1024 * 1024) }) }), HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        await ProblemAsync(await Post(client, "encrypt/batch", new { keyId = aes, items = Enumerable.Range(0, 1001).Select(_ => new { plaintext = "x" }) }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAsync(await Post(client, "encrypt/batch", new { keyId = aes, items = Array.Empty<object>() }), HttpStatusCode.BadRequest, "validation_failed");
        var thousand = await OkAsync(await Post(client, "encrypt/batch", new { keyId = aes, items = Enumerable.Range(0, 1000).Select(i => new { plaintext = "item " + i }) }));
        var items = thousand.GetProperty("results").EnumerateArray().Select(r => new { encryptedPayload = r.GetProperty("encryptedPayload").GetString() }).ToList();
        var back = (await OkAsync(await Post(client, "decrypt/batch", new { items }))).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => "item " + i), back.Select(r => r.GetProperty("plaintext").GetString()));

        // The api enforces the same limit as the gateway when called directly.
        using var direct = fixture.WithKey(client.DefaultRequestHeaders.GetValues("X-Api-Key").Single(), fixture.ApiReplicas[0]);
        await ProblemAsync(await Post(direct, "encrypt", new { plaintext = big, keyId = aes }), HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
    }

    [Fact]
    public async Task Slow_signatures_are_refused_with_retry_after_when_every_slot_is_busy_and_other_operations_still_answer()
    {
        var (client, _, _, apiKey) = await TenantAsync();
        using var _client = client;
        var slow = await CreateKeyAsync(client, "SLH-DSA-SHA2-128s");
        var fast = await CreateKeyAsync(client, "Ed25519");
        using var replica = fixture.WithKey(apiKey, fixture.ApiReplicas[0]);
        replica.Timeout = TimeSpan.FromMinutes(3);

        // Several SLH-DSA-128s signatures at once on one replica: each takes ~0.7 s of a core, the replica runs a bounded
        // number at a time and refuses the others at once. Rounds repeat until one was refused (at most 20).
        var refused = false;
        for (var round = 0; round < 20 && !refused; round++)
        {
            var calls = Enumerable.Range(0, 6).Select(_ => Post(replica, "sign", new { message = "slow", keyId = slow })).ToList();
            var ed = await OkAsync(await Post(replica, "sign", new { message = "fast", keyId = fast }));
            Assert.Equal(fast, ed.GetProperty("keyId").GetGuid());
            foreach (var response in await Task.WhenAll(calls))
            {
                using (response)
                {
                    if (response.StatusCode == HttpStatusCode.TooManyRequests)
                    {
                        refused = true;
                        Assert.Equal("rate_limited", await TenancyFixture.ErrorCodeAsync(response));
                        Assert.True(response.Headers.RetryAfter?.Delta is { TotalSeconds: >= 1 }, "Retry-After");
                    }
                    else
                    {
                        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    }
                }
            }
        }

        Assert.True(refused, "six concurrent SLH-DSA-128s signatures were never refused: the bound is missing");
    }
}
