using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Tenancy;

/// <summary>
/// Every write endpoint of api and identity, fed malformed, wrong-type, oversized and hostile bodies through the
/// gateway by a caller who holds the right scope: always a 4xx problem+json, never a 500.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class MalformedInputTests(TenancyFixture fixture)
{
    private static readonly string Deep = new string('[', 5000) + new string(']', 5000);

    /// <summary>
    /// Bodies that are not a JSON object of this endpoint must be refused (4xx). Objects with wrong types or hostile
    /// values must be refused when the endpoint reads the field, and may be accepted when it ignores an unknown one
    /// (duplicate keys: the last wins, as RFC 8259 leaves open) — but never a 5xx.
    /// </summary>
    public static readonly IReadOnlyList<(string Name, string ContentType, byte[] Body)> NotAnObject =
    [
        ("empty", "application/json", []),
        ("truncated", "application/json", "{\"name\": "u8.ToArray()),
        ("array", "application/json", "[]"u8.ToArray()),
        ("null", "application/json", "null"u8.ToArray()),
        ("number", "application/json", "123"u8.ToArray()),
        ("string", "application/json", "\"tenant\""u8.ToArray()),
        ("deep nesting", "application/json", Encoding.UTF8.GetBytes("{\"name\": " + Deep + "}")),
        ("invalid utf-8 in name", "application/json", [0x7B, 0x22, 0x6E, 0x61, 0x6D, 0x65, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0xFF, 0x22, 0x7D]),
        ("text/plain", "text/plain", "name=acme"u8.ToArray()),
        ("form", "application/x-www-form-urlencoded", "name=acme"u8.ToArray()),
    ];

    public static readonly IReadOnlyList<(string Name, string ContentType, byte[] Body)> HostileObjects =
    [
        ("name is a number", "application/json", "{\"name\": 5, \"email\": 5, \"roles\": 5, \"scopes\": 5}"u8.ToArray()),
        ("name is an object", "application/json", "{\"name\": {\"a\": 1}, \"type\": [1], \"redirectUris\": \"x\"}"u8.ToArray()),
        ("wrong types everywhere", "application/json", "{\"name\": \"x\", \"planId\": 12, \"partnerId\": \"not-a-guid\", \"expiresAt\": \"tomorrow\", \"rateLimitPerMinute\": \"many\", \"maxTenants\": -1, \"ipAllowlist\": [\"300.1.1.1/99\"], \"tenantId\": \"zzz\"}"u8.ToArray()),
        ("huge numbers", "application/json", "{\"name\": \"x\", \"rateLimitPerMinute\": 99999999999999999999999, \"maxTenants\": 1e400, \"requestsPerMinute\": -5}"u8.ToArray()),
        ("long strings", "application/json", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { name = new string('n', 200_000), email = new string('e', 5000) + "@x.io", description = new string('d', 300_000) }))),
        ("control characters", "application/json", "{\"name\": \"a\\u0000b\\u001f\", \"email\": \"x\\u0000@y.z\"}"u8.ToArray()),
        ("duplicate keys", "application/json", "{\"name\": \"a\", \"name\": \"b\", \"scopes\": [null, 1, \"keys:read\"]}"u8.ToArray()),
    ];

    [Fact]
    public async Task Every_write_endpoint_answers_bad_bodies_with_a_4xx_problem_and_never_a_500()
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, tenantKey) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "apikeys:write", "users:read", "users:write", "applications:read", "applications:write", "roles:read", "roles:write", "keys:read", "keys:write", "secrets:read", "secrets:write", "encryption:write", "ssh:read", "ssh:write", "certificates:read", "certificates:write"]);
        string keyId;
        string secretId;
        using (var keys = fixture.WithKey(tenantKey))
        {
            using var created = await keys.PostAsJsonAsync(new Uri("/api/v1/keys", UriKind.Relative), new { name = "sweep", algorithm = "Ed25519" });
            var text = await created.Content.ReadAsStringAsync();
            Assert.True(created.StatusCode == HttpStatusCode.Created, $"create key: {(int)created.StatusCode} {text}");
            keyId = JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
            using var secret = await keys.PostAsJsonAsync(new Uri("/api/v1/secrets", UriKind.Relative), new { name = "sweep", value = "v" });
            text = await secret.Content.ReadAsStringAsync();
            Assert.True(secret.StatusCode == HttpStatusCode.Created, $"create secret: {(int)secret.StatusCode} {text}");
            secretId = JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
        }

        var caId = await CreatedIdAsync(fixture.WithKey(tenantKey), "/api/v1/cas", new { name = "sweep", algorithm = "Ed25519", subject = "CN=Sweep", validityDays = 10 });
        var certificateId = await CreatedIdAsync(fixture.WithKey(tenantKey), "/api/v1/certificates", new { caId, subject = "CN=sweep", profile = "client", validityDays = 5 });
        var partnerId = await CreatedIdAsync(fixture.Operator(), "/api/v1/admin/partners", new { name = "p-" + Guid.NewGuid().ToString("N")[..8] });
        var partnerKey = await CreatedKeyAsync(fixture.Operator(), $"/api/v1/admin/partners/{partnerId}/api-keys", new { name = "portal" });
        var planId = await CreatedIdAsync(fixture.Operator(), "/api/v1/admin/plans", new { code = "p" + Guid.NewGuid().ToString("N")[..8], name = "Plan" }, allowFailure: true);

        var targets = new List<(string Method, string Path, Func<HttpClient> Client)>
        {
            ("POST", "/api/v1/admin/tenants", fixture.Operator),
            ("PATCH", $"/api/v1/admin/tenants/{tenant}", fixture.Operator),
            ("POST", $"/api/v1/admin/tenants/{tenant}/api-keys", fixture.Operator),
            ("POST", "/api/v1/admin/plans", fixture.Operator),
            ("POST", "/api/v1/admin/partners", fixture.Operator),
            ("PATCH", $"/api/v1/admin/partners/{partnerId}", fixture.Operator),
            ("POST", $"/api/v1/admin/partners/{partnerId}/api-keys", fixture.Operator),
            ("POST", "/api/v1/api-keys", () => fixture.WithKey(tenantKey)),

            // Keys: the endpoints that read a body (rotate, disable, enable and restore read none).
            ("POST", "/api/v1/keys", () => fixture.WithKey(tenantKey)),
            ("PATCH", $"/api/v1/keys/{keyId}", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/keys/import", () => fixture.WithKey(tenantKey)),

            // Secrets: the endpoints that read a body (delete and restore read none).
            ("POST", "/api/v1/secrets", () => fixture.WithKey(tenantKey)),
            ("PUT", $"/api/v1/secrets/{secretId}", () => fixture.WithKey(tenantKey)),
            ("PATCH", $"/api/v1/secrets/{secretId}", () => fixture.WithKey(tenantKey)),
            // Certificate authorities: create a CA, issue, revoke (its body is optional, but never anything but an object).
            ("POST", "/api/v1/cas", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/certificates", () => fixture.WithKey(tenantKey)),
            ("POST", $"/api/v1/certificates/{certificateId}/revoke", () => fixture.WithKey(tenantKey)),

            // Cryptographic operations: every one reads a body.
            ("POST", "/api/v1/encrypt", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/decrypt", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/encrypt/batch", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/decrypt/batch", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/rewrap", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/datakey", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/sign", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/verify", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/hmac", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/hmac/verify", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/random", () => fixture.WithKey(tenantKey)),
            // SSH certificate authorities.
            ("POST", "/api/v1/ssh/ca", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/ssh/certificates", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/partner/tenants", () => fixture.WithKey(partnerKey)),
            ("POST", "/api/v1/users", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/users", fixture.Operator),
            ("POST", "/api/v1/applications", () => fixture.WithKey(tenantKey)),
            ("POST", "/api/v1/applications", fixture.Operator),
        };
        if (planId is not null)
        {
            targets.Add(("PATCH", $"/api/v1/admin/plans/{planId}", fixture.Operator));
        }

        var failures = new List<string>();
        foreach (var (method, path, client) in targets)
        {
            foreach (var (name, contentType, body, mustRefuse) in NotAnObject.Select(b => (b.Name, b.ContentType, b.Body, true))
                .Concat(HostileObjects.Select(b => (b.Name, b.ContentType, b.Body, false))))
            {
                using var http = client();
                using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
                using var response = await http.SendAsync(request);
                var status = (int)response.StatusCode;
                var media = response.Content.Headers.ContentType?.MediaType;
                var refused = status is >= 400 and < 500 && media == "application/problem+json";
                var acceptedKnowingly = !mustRefuse && status is >= 200 and < 300;
                if (!refused && !acceptedKnowingly)
                {
                    failures.Add($"{method} {path} [{name}] → {status} {media} {Truncate(await response.Content.ReadAsStringAsync())}");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("/api/v1/users/not-a-guid")]
    [InlineData("/api/v1/users/00000000-0000-0000-0000-000000000000")]
    [InlineData("/api/v1/applications/not-a-guid")]
    [InlineData("/api/v1/roles/no-such-role")]
    [InlineData("/api/v1/api-keys/not-a-guid")]
    [InlineData("/api/v1/keys/not-a-guid")]
    [InlineData("/api/v1/keys/00000000-0000-0000-0000-000000000000")]
    [InlineData("/api/v1/keys/00000000-0000-0000-0000-000000000000/public?format=der&version=-1")]
    [InlineData("/api/v1/keys?limit=1000&state=%FF&algorithm=%00")]
    [InlineData("/api/v1/keys?cursor=%FF%FE")]
    [InlineData("/api/v1/secrets/not-a-guid")]
    [InlineData("/api/v1/secrets/00000000-0000-0000-0000-000000000000")]
    [InlineData("/api/v1/secrets/00000000-0000-0000-0000-000000000000?version=-1&encoding=%00&includeExpired=%FF")]
    [InlineData("/api/v1/secrets/00000000-0000-0000-0000-000000000000/versions?limit=99999999999&cursor=%FF%FE")]
    [InlineData("/api/v1/secrets?limit=1000&state=%FF&label=%00&name=")]
    [InlineData("/api/v1/secrets?cursor=%FF%FE&includeExpired=1")]
    [InlineData("/api/v1/ssh/ca/not-a-guid")]
    [InlineData("/api/v1/ssh/ca/00000000-0000-0000-0000-000000000000")]
    [InlineData("/api/v1/ssh/ca?limit=1000&cursor=%FF%FE")]
    [InlineData("/api/v1/ssh/certificates/00000000-0000-0000-0000-000000000000")]
    [InlineData("/api/v1/ssh/certificates?caId=zzz&limit=0")]
    [InlineData("/api/v1/audit?from=2026-13-45")]
    [InlineData("/api/v1/users?limit=-1&cursor=%FF%FE")]
    public async Task Bad_ids_and_queries_are_4xx_problems(string path)
    {
        var tenant = await fixture.CreateTenantAsync();
        var (_, key) = await fixture.CreateKeyAsync(tenant, ["apikeys:read", "users:read", "applications:read", "roles:read", "audit:read", "keys:read", "secrets:read", "ssh:read"]);
        using var client = fixture.WithKey(key);
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        var status = (int)response.StatusCode;

        Assert.True(status is >= 400 and < 500, $"{path} → {status} {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    private static string Truncate(string text) => text.Length <= 300 ? text : text[..300] + "…";

    private static async Task<string?> CreatedIdAsync(HttpClient client, string path, object body, bool allowFailure = false)
    {
        using (client)
        {
            using var response = await client.PostAsJsonAsync(new Uri(path, UriKind.Relative), body);
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.Created)
            {
                Assert.True(allowFailure, $"{path}: {(int)response.StatusCode} {text}");
                return null;
            }

            return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString();
        }
    }

    private static async Task<string> CreatedKeyAsync(HttpClient client, string path, object body)
    {
        using (client)
        {
            using var response = await client.PostAsJsonAsync(new Uri(path, UriKind.Relative), body);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Created, $"{path}: {(int)response.StatusCode} {text}");
            return JsonDocument.Parse(text).RootElement.GetProperty("key").GetString()!;
        }
    }
}
