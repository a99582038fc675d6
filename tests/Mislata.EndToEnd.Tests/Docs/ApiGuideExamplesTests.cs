using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mislata.EndToEnd.Tests.Tenancy;
using Mislata.Testing.Docs;
using Xunit.Abstractions;

namespace Mislata.EndToEnd.Tests.Docs;

/// <summary>
/// Runs every <c>```sh api-example:…</c> block of docs/api.md with the real <c>curl</c> through the gateway of a running
/// stack, in page order, with the page's placeholders set as shell variables (one tenant, made here). The first line
/// of each example, <c># → 201</c>, is the HTTP status it must answer. An example that cannot run, fails, answers
/// another status or uses an undocumented placeholder fails the test; so does a page without examples.
/// </summary>
[Collection(StackCollection.Name)]
public sealed partial class ApiGuideExamplesTests(StackFixture fixture, ITestOutputHelper output)
{
    private const string Api = "/api/v1/";

    [Fact]
    public async Task Every_curl_example_of_the_api_guide_answers_the_status_it_states()
    {
        var page = await File.ReadAllTextAsync(Path.Combine(TestEnvironment.RepositoryRoot, "docs", "api.md"));
        var examples = MarkdownExamples.Read(page, "api-example");
        Assert.True(examples.Count >= 50, $"docs/api.md has only {examples.Count} curl examples");

        var variables = await PlaceholdersAsync();
        foreach (var name in variables.Keys.Where(k => k != "MISLATA_URL"))
        {
            Assert.True(page.Contains($"`${name}`", StringComparison.Ordinal), $"placeholder ${name} is not explained in docs/api.md");
        }

        var folder = TestEnvironment.NewFolder("api-guide");
        var failures = new List<string>();
        var ran = 0;
        foreach (var example in examples)
        {
            var (expected, command) = Split(example);
            foreach (Match m in PlaceholderPattern().Matches(command))
            {
                Assert.True(variables.ContainsKey(m.Groups[1].Value), $"{example.Name} (line {example.Line}) uses ${m.Groups[1].Value}, which the page does not define");
            }

            var (exit, status, body, error) = await RunAsync(command, variables, folder);
            ran++;
            var line = $"{example.Name} (docs/api.md:{example.Line}): exit {exit}, HTTP {status}, expected {expected}";
            output.WriteLine(line);
            if (exit != 0 || status != expected.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                failures.Add(line + $"\n  stderr: {error.Trim()}\n  body: {Shorten(body)}");
            }
        }

        Assert.Equal(examples.Count, ran);
        Assert.True(failures.Count == 0, $"{failures.Count} of {ran} curl examples failed:\n" + string.Join("\n", failures));
        System.Console.WriteLine($"docs/api.md: {ran} curl examples run, all answered their stated status");
    }

    /// <summary>The first line states the status (<c># → 201</c>); the rest is one curl command.</summary>
    private static (int Expected, string Command) Split(MarkdownExample example)
    {
        var lines = example.Body.Split('\n');
        var m = StatusPattern().Match(lines[0]);
        Assert.True(m.Success, $"{example.Name} (line {example.Line}): the first line must be '# → <status>'");
        var command = string.Join('\n', lines.Skip(1));
        Assert.True(command.StartsWith("curl ", StringComparison.Ordinal), $"{example.Name}: the example must be one curl command");
        return (int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), command);
    }

    /// <summary>
    /// bash runs the example as written; <c>curl</c> is wrapped to add only where the body goes and to print the status,
    /// so each example must call curl exactly once. <c>set -u</c> turns an unset placeholder into a failure.
    /// </summary>
    private async Task<(int Exit, string Status, string Body, string Error)> RunAsync(string command, IReadOnlyDictionary<string, string> variables, string folder)
    {
        var bodyFile = Path.Combine(folder, "body");
        File.Delete(bodyFile);
        var script = "set -u\ncurl() { command curl --silent --show-error --max-time 60 --output \"$EXAMPLE_BODY\" --write-out '%{http_code}\\n' \"$@\"; }\n" + command + "\n";
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        foreach (var (name, value) in variables)
        {
            start.Environment[name] = value;
        }

        start.Environment["EXAMPLE_BODY"] = bodyFile;
        start.Environment["CURL_CA_BUNDLE"] = Path.Combine(fixture.Stack.Gateway.Folder, "tls", "cert.pem");
        start.Environment["CURL_HOME"] = folder; // no user .curlrc
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        var body = File.Exists(bodyFile) ? await File.ReadAllTextAsync(bodyFile) : string.Empty;
        return (process.ExitCode, (await stdout).Trim(), body, await stderr);
    }

    private static string Shorten(string text) => text.Length > 600 ? text[..600] + "…" : text;

    /// <summary>The resources the examples name, made through the gateway for one new tenant.</summary>
    private async Task<Dictionary<string, string>> PlaceholdersAsync()
    {
        var stack = fixture.Stack;
        var operatorToken = await TenancyFixture.OperatorTokenAsync(stack);
        using var op = stack.Gateway.CreateClient();
        op.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", operatorToken);

        var suffix = Guid.NewGuid().ToString("N")[..8];
        var tenantId = await CreateAsync(op, "admin/tenants", new { name = "docs-" + suffix, adminEmail = "docs@example.com" }, "id");
        var apiKey = await CreateAsync(op, $"admin/tenants/{tenantId}/api-keys", new { name = "docs" }, "key");
        using var tenant = stack.Gateway.CreateClient();
        tenant.DefaultRequestHeaders.Add("X-Api-Key", apiKey);

        var keyId = await CreateAsync(tenant, "keys", new { name = "docs-kem", algorithm = "ML-KEM-768", isDefault = true }, "id");
        var signingKeyId = await CreateAsync(tenant, "keys", new { name = "docs-signer", algorithm = "ML-DSA-65", type = "signing" }, "id");
        var hmacKeyId = await CreateAsync(tenant, "keys", new { name = "docs-mac", algorithm = "HMAC-SHA256", type = "hmac" }, "id");
        var oldKeyId = await CreateAsync(tenant, "keys", new { name = "docs-old", algorithm = "AES-256-GCM", type = "symmetric" }, "id");
        var partnerId = await CreateAsync(op, "admin/partners", new { name = "docs-partner-" + suffix, maxTenants = 10 }, "id");
        var caId = await CreateAsync(tenant, "cas", new { name = "docs-root", algorithm = "ECDSA-P256", subject = "CN=Example Root CA,O=Example", validityDays = 3650, pathLength = 1 }, "id");
        return new Dictionary<string, string>
        {
            ["MISLATA_URL"] = stack.Gateway.BaseAddress.ToString().TrimEnd('/'),
            ["API_KEY"] = apiKey,
            ["CLIENT_ID"] = stack.BootstrapClientId,
            ["CLIENT_SECRET"] = stack.BootstrapClientSecret,
            ["OPERATOR_TOKEN"] = operatorToken,
            ["TENANT_ID"] = tenantId,
            ["KEY_ID"] = keyId,
            ["SIGNING_KEY_ID"] = signingKeyId,
            ["HMAC_KEY_ID"] = hmacKeyId,
            ["OLD_KEY_ID"] = oldKeyId,
            ["PAYLOAD"] = await CallAsync(tenant, "encrypt", new { plaintext = "4111 1111 1111 1111", keyId, context = "customer=42" }, "encryptedPayload"),
            ["SIGNATURE"] = await CallAsync(tenant, "sign", new { message = "invoice 2026-0042", keyId = signingKeyId, context = "invoices" }, "signature"),
            ["MAC"] = await CallAsync(tenant, "hmac", new { message = "hello", keyId = hmacKeyId }, "mac"),
            ["SECRET_ID"] = await CreateAsync(tenant, "secrets", new { name = "docs/db-password", value = "s3cret" }, "id"),
            ["API_KEY_ID"] = await CreateAsync(tenant, "api-keys", new { name = "docs-revoke", scopes = new[] { "keys:read" } }, "id"),
            ["OTHER_TENANT_ID"] = await CreateAsync(op, "admin/tenants", new { name = "docs-other-" + suffix }, "id"),
            ["PLAN_ID"] = await CreateAsync(op, "admin/plans", new { code = "docs-" + suffix, name = "Docs plan", availableToPartners = true }, "id"),
            ["PARTNER_ID"] = partnerId,
            ["PARTNER_API_KEY"] = await CreateAsync(op, $"admin/partners/{partnerId}/api-keys", new { name = "docs" }, "key"),
            ["SSH_CA_ID"] = await CreateAsync(tenant, "ssh/ca", new { name = "docs-ca", algorithm = "Ed25519" }, "id"),
            ["CA_ID"] = caId,
            ["CERTIFICATE_ID"] = await CreateAsync(tenant, "certificates", new { caId, subject = "CN=old.example.com", profile = "server", sans = new[] { "dns:old.example.com" }, validityDays = 30 }, "id"),
            ["HYBRID_CA_ID"] = await CreateAsync(tenant, "cas", new { name = "docs-hybrid", algorithm = "ML-DSA-65", subject = "CN=Example Hybrid CA,O=Example", validityDays = 3650, hybrid = new { classicAlgorithm = "ECDSA-P256" } }, "id"),
        };
    }

    private static async Task<string> CreateAsync(HttpClient client, string path, object body, string member)
    {
        using var response = await client.PostAsJsonAsync(new Uri(Api + path, UriKind.Relative), body);
        return (await ReadAsync(response, HttpStatusCode.Created)).GetProperty(member).ToString();
    }

    private static async Task<string> CallAsync(HttpClient client, string path, object body, string member)
    {
        using var response = await client.PostAsJsonAsync(new Uri(Api + path, UriKind.Relative), body);
        return (await ReadAsync(response, HttpStatusCode.OK)).GetProperty(member).GetString()!;
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {Shorten(text)}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [GeneratedRegex(@"^#\s*→\s*(\d{3})\s*$")]
    private static partial Regex StatusPattern();

    [GeneratedRegex(@"\$\{?([A-Z][A-Z0-9_]*)")]
    private static partial Regex PlaceholderPattern();
}
