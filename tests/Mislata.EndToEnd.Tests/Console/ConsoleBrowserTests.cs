using System.Net;
using System.Text.Json;
using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using Mislata.EndToEnd.Tests.Identity;
using OtpNet;

namespace Mislata.EndToEnd.Tests.Console;

/// <summary>
/// The web console in a real headless Chromium (Debian's package) through the gateway: a tenant admin signs in with
/// a password and TOTP, creates a key, encrypts and decrypts in the playground, creates and reveals a secret, creates
/// and revokes an API key, blocks a user and reads the audit trail; a platform admin creates and suspends a tenant;
/// nothing of another tenant shows in any view. Every view is checked with axe-core (no serious or critical
/// violation) in the light and the dark theme, and its screenshot lands in the run's results (screenshots/console).
/// </summary>
[Collection(IdentityCollection.Name)]
public sealed class ConsoleBrowserTests(IdentityFixture fixture) : IAsyncLifetime
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string Screenshots = Path.Combine(TestEnvironment.StateDirectory, "results", "screenshots", "console");
    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private readonly System.Collections.Concurrent.ConcurrentBag<string> _browserLog = [];

    private MislataStack Stack => fixture.Stack;

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(Chromium), "Debian's chromium package is not installed (test.sh installs it)");
        Directory.CreateDirectory(Screenshots);
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }

    private async Task<IPage> NewPageAsync(int width = 1280, int height = 900)
    {
        var context = await _browser!.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = Stack.Gateway.BaseAddress.ToString(),
            IgnoreHTTPSErrors = true, // the test gateway's self-signed certificate
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(30_000);
        page.Console += (_, message) => { if (message.Type is "error" or "warning") { _browserLog.Add($"console {message.Type}: {message.Text}"); } };
        page.PageError += (_, error) => _browserLog.Add("page error: " + error);
        return page;
    }

    /// <summary>Sets up TOTP for the user through the account pages and returns the seed.</summary>
    private async Task<string> SetUpTotpAsync(string email, string password)
    {
        var page = await NewPageAsync();
        await page.GotoAsync("/account/mfa/setup");
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        await page.ClickAsync("button[type=submit]");
        var secret = (await page.Locator("#secret").TextContentAsync())!.Trim();
        await page.FillAsync("#code", new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp());
        await page.ClickAsync("button[type=submit]");
        await page.Locator("#recovery-codes").WaitForAsync();
        await page.Context.CloseAsync();
        return secret;
    }

    /// <summary>Opens the console, which sends the browser to identity's sign-in page; signs in (with TOTP when given).</summary>
    private async Task<IPage> SignInToConsoleAsync(string email, string password, string? totpSecret = null, int width = 1280)
    {
        var page = await NewPageAsync(width);
        await page.GotoAsync("/console/");
        try
        {
            await page.WaitForURLAsync(url => url.Contains("/account/login", StringComparison.Ordinal));
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"the console did not send the browser to sign in: at {page.Url}; browser log: {string.Join(" | ", _browserLog)}", e);
        }

        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        await page.ClickAsync("button[type=submit]");
        if (totpSecret is not null)
        {
            await page.Locator("#code").WaitForAsync();
            // The next time step's code: accepted (±2 steps) and never the one used at set-up.
            await page.FillAsync("#code", new Totp(Base32Encoding.ToBytes(totpSecret)).ComputeTotp(DateTime.UtcNow.AddSeconds(30)));
            await page.ClickAsync("button[type=submit]");
        }

        try
        {
            await page.WaitForURLAsync(url => url.Contains("/console/", StringComparison.Ordinal) && !url.Contains("callback", StringComparison.Ordinal));
            await page.Locator("h1#view-title").WaitForAsync();
        }
        catch (TimeoutException e)
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "sign-in-failed.png") });
            throw new TimeoutException($"the console did not open after signing in: at {page.Url}; browser log: {string.Join(" | ", _browserLog)}\n{await page.ContentAsync()}", e);
        }

        return page;
    }

    /// <summary>axe-core on the current view (no serious or critical violation) and a screenshot named after it.</summary>
    private static async Task CheckViewAsync(IPage page, string name)
    {
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true });
        var results = await page.RunAxe(new AxeRunOptions { ResultTypes = [ResultType.Violations] });
        var serious = results.Violations.Where(v => v.Impact is "serious" or "critical").ToList();
        Assert.True(serious.Count == 0, $"{name}: " + string.Join("; ", serious.Select(v =>
            $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Take(3).Select(n => string.Join(" ", n.Target)))}")));
    }

    private static async Task NavigateAsync(IPage page, string label, string heading)
    {
        var menu = page.Locator("button.menu-toggle");
        if (await menu.IsVisibleAsync())
        {
            await menu.ClickAsync();
        }

        await page.GetByRole(AriaRole.Navigation, new() { Name = "Console" }).GetByRole(AriaRole.Link, new() { Name = label, Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("h1#view-title")).ToHaveTextAsync(heading);
    }

    [Fact]
    public async Task A_tenant_admin_with_totp_manages_keys_secrets_api_keys_users_and_audit_and_sees_nothing_of_another_tenant()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(Stack);
        var tenant = await Oidc.CreateTenantAsync(Stack, operatorToken);
        var other = await Oidc.CreateTenantAsync(Stack, operatorToken);
        var (email, password) = (Oidc.NewEmail("console-admin"), Oidc.StrongPassword());
        await Oidc.CreateUserAsync(Stack, operatorToken, email, password, ["tenant-admin"], tenant);
        var memberEmail = Oidc.NewEmail("console-member");
        var member = await Oidc.CreateUserAsync(Stack, operatorToken, memberEmail, Oidc.StrongPassword(), ["tenant-member"], tenant);
        await Oidc.CreateUserAsync(Stack, operatorToken, Oidc.NewEmail("other-tenant-user"), Oidc.StrongPassword(), ["tenant-member"], other);

        // The other tenant's key and secret, with names that must never appear in this tenant's console.
        var otherKey = await AccountsKit.TenantKeyAsync(Stack, operatorToken, other, "keys:write", "keys:read", "secrets:write");
        var otherKeyName = "other-tenant-key-" + Guid.NewGuid().ToString("N")[..8];
        var (status, created, _) = await Oidc.ApiAsync(Stack, HttpMethod.Post, "/api/v1/keys", otherKey, new { name = otherKeyName, algorithm = "AES-256-GCM" });
        Assert.True(status == HttpStatusCode.Created, $"{(int)status} {created}");
        var otherKeyId = created.GetProperty("id").GetGuid();
        var otherSecretName = "other-tenant-secret-" + Guid.NewGuid().ToString("N")[..8];
        (status, created, _) = await Oidc.ApiAsync(Stack, HttpMethod.Post, "/api/v1/secrets", otherKey, new { name = otherSecretName, value = "not yours" });
        Assert.True(status == HttpStatusCode.Created, $"{(int)status} {created}");
        var otherSecretId = created.GetProperty("id").GetGuid();

        var totp = await SetUpTotpAsync(email, password);
        var page = await SignInToConsoleAsync(email, password, totp);
        await Assertions.Expect(page.Locator("h1#view-title")).ToHaveTextAsync("Dashboard");
        await Assertions.Expect(page.Locator(".who")).ToHaveTextAsync(email);
        await Assertions.Expect(page.Locator("figure.chart table tbody tr")).ToHaveCountAsync(12); // usage over 12 months
        await CheckViewAsync(page, "01-dashboard");

        // Keys: create an AES-256-GCM key.
        await NavigateAsync(page, "Keys", "Keys");
        await page.GetByRole(AriaRole.Link, new() { Name = "Create key" }).ClickAsync();
        await Assertions.Expect(page.Locator("h1#view-title")).ToHaveTextAsync("Create a key");
        await CheckViewAsync(page, "02-key-create");
        var keyName = "console-key-" + Guid.NewGuid().ToString("N")[..8];
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync(keyName);
        await page.GetByLabel("Algorithm").SelectOptionAsync("AES-256-GCM");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create key" }).ClickAsync();
        await Assertions.Expect(page.Locator("h1#view-title")).ToHaveTextAsync("Key " + keyName);
        await CheckViewAsync(page, "03-key-detail");

        // An invalid name is answered inline, next to the field, from the API's problem details.
        await NavigateAsync(page, "Keys", "Keys");
        await page.GetByRole(AriaRole.Link, new() { Name = "Create key" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Create key" }).ClickAsync();
        await Assertions.Expect(page.Locator("[role=alert]")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#name")).ToHaveAttributeAsync("aria-invalid", "true");
        await CheckViewAsync(page, "04-key-create-invalid");

        // Keys list: this tenant's key only.
        await NavigateAsync(page, "Keys", "Keys");
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = keyName })).ToBeVisibleAsync();
        Assert.DoesNotContain(otherKeyName, await page.ContentAsync(), StringComparison.Ordinal);
        await CheckViewAsync(page, "05-keys");

        // Playground: encrypt, then decrypt the payload back.
        await page.GetByRole(AriaRole.Link, new() { Name = keyName }).ClickAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Try this key in the playground" }).ClickAsync();
        await Assertions.Expect(page.Locator("h1#view-title")).ToHaveTextAsync("Playground");
        await page.GetByLabel("Plaintext").FillAsync("hello from the console");
        await page.GetByLabel("Context (optional)").FillAsync("order-42");
        await page.GetByRole(AriaRole.Button, new() { Name = "Encrypt", Exact = true }).ClickAsync();
        var payload = (await page.Locator("#result-value").TextContentAsync())!;
        Assert.DoesNotContain("hello", payload, StringComparison.Ordinal);
        await CheckViewAsync(page, "06-playground-encrypted");
        await page.GetByRole(AriaRole.Button, new() { Name = "Decrypt this payload" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Decrypt", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#result-value")).ToHaveTextAsync("hello from the console");
        await CheckViewAsync(page, "07-playground-decrypted");

        // Secrets: create, then reveal on demand after a confirmation.
        await NavigateAsync(page, "Secrets", "Secrets");
        await page.GetByRole(AriaRole.Link, new() { Name = "New secret" }).ClickAsync();
        var secretName = "console/db-password-" + Guid.NewGuid().ToString("N")[..6];
        var secretValue = "s3cret-" + Guid.NewGuid().ToString("N");
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync(secretName);
        await page.GetByLabel("Value", new() { Exact = true }).FillAsync(secretValue);
        await page.GetByRole(AriaRole.Button, new() { Name = "Save secret" }).ClickAsync();
        await Assertions.Expect(page.Locator("h1#view-title")).ToHaveTextAsync("Secret " + secretName);
        Assert.DoesNotContain(secretValue, await page.ContentAsync(), StringComparison.Ordinal);
        await page.GetByRole(AriaRole.Button, new() { Name = "Reveal the value…" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Reveal", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#secret-revealed")).ToHaveTextAsync(secretValue);
        await CheckViewAsync(page, "08-secret-revealed");
        await NavigateAsync(page, "Secrets", "Secrets");
        Assert.DoesNotContain(otherSecretName, await page.ContentAsync(), StringComparison.Ordinal);
        await CheckViewAsync(page, "09-secrets");

        // API keys: create (shown once), the key works, revoke it, it stops working.
        await NavigateAsync(page, "API keys", "API keys");
        var apiKeyName = "console-apikey-" + Guid.NewGuid().ToString("N")[..6];
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync(apiKeyName);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create API key" }).ClickAsync();
        var apiKey = (await page.Locator("#created-key").TextContentAsync())!.Trim();
        Assert.StartsWith("qapi_", apiKey, StringComparison.Ordinal);
        await CheckViewAsync(page, "10-api-key-created");
        (status, _, _) = await Oidc.ApiAsync(Stack, HttpMethod.Post, "/api/v1/random", apiKey, new { bytes = 16 });
        Assert.Equal(HttpStatusCode.OK, status);
        await page.GetByRole(AriaRole.Button, new() { Name = "I have stored it" }).ClickAsync();
        Assert.DoesNotContain(apiKey, await page.ContentAsync(), StringComparison.Ordinal);
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Revoke " + apiKeyName }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "revoked" })).ToBeVisibleAsync();
        var (revokedStatus, _, _) = await TenancyEventuallyAsync(() => Oidc.ApiAsync(Stack, HttpMethod.Post, "/api/v1/random", apiKey, new { bytes = 16 }), HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.Unauthorized, revokedStatus);
        await CheckViewAsync(page, "11-api-keys");

        // Users: block the member; identity says so.
        await NavigateAsync(page, "Users", "Users");
        Assert.DoesNotContain("other-tenant-user", await page.ContentAsync(), StringComparison.Ordinal);
        await page.GetByRole(AriaRole.Button, new() { Name = "Block " + memberEmail }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "is blocked" })).ToBeVisibleAsync();
        var (userStatus, user, _) = await Oidc.ApiAsync(Stack, HttpMethod.Get, $"/api/v1/users/{member.GetProperty("id").GetGuid()}", operatorToken);
        Assert.Equal(HttpStatusCode.OK, userStatus);
        Assert.Equal("blocked", user.GetProperty("status").GetString());
        await CheckViewAsync(page, "12-users");

        // Audit: the trail shows what was just done, and the chain verifies.
        await NavigateAsync(page, "Audit", "Audit trail");
        await Assertions.Expect(page.Locator("tbody")).ToContainTextAsync("key.create");
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify the chain" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "intact" })).ToBeVisibleAsync();
        await CheckViewAsync(page, "13-audit");

        // Another tenant's resources by address: not found, and nothing of them on the page.
        await page.GotoAsync($"/console/keys/{otherKeyId}");
        await Assertions.Expect(page.Locator("[role=alert]")).ToContainTextAsync("not", new() { IgnoreCase = true });
        Assert.DoesNotContain(otherKeyName, await page.ContentAsync(), StringComparison.Ordinal);
        await page.GotoAsync($"/console/secrets/{otherSecretId}");
        await Assertions.Expect(page.Locator("[role=alert]")).ToContainTextAsync("not", new() { IgnoreCase = true });
        Assert.DoesNotContain(otherSecretName, await page.ContentAsync(), StringComparison.Ordinal);

        // Dark theme: the same views keep their contrast.
        await page.GotoAsync("/console/");
        await page.GetByLabel("Theme").SelectOptionAsync("dark");
        await CheckViewAsync(page, "14-dashboard-dark");
        await NavigateAsync(page, "Keys", "Keys");
        await CheckViewAsync(page, "15-keys-dark");

        // Sign-out ends the identity session: the console asks for the password again.
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("/connect/endsession", StringComparison.Ordinal));
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("/account/login", StringComparison.Ordinal));
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_tenant_admin_runs_an_X509_and_an_SSH_certificate_authority_and_sees_nothing_of_another_tenant()
    {
        var operatorToken = await Oidc.OperatorTokenAsync(Stack);
        var tenant = await Oidc.CreateTenantAsync(Stack, operatorToken);
        var other = await Oidc.CreateTenantAsync(Stack, operatorToken);
        var (email, password) = (Oidc.NewEmail("console-ca-admin"), Oidc.StrongPassword());
        await Oidc.CreateUserAsync(Stack, operatorToken, email, password, ["tenant-admin"], tenant);

        // Another tenant's CAs, whose names must never show in this tenant's console.
        var otherKey = await AccountsKit.TenantKeyAsync(Stack, operatorToken, other, "certificates:write", "ssh:write");
        var otherCaName = "other-ca-" + Guid.NewGuid().ToString("N")[..8];
        var (status, created, _) = await Oidc.ApiAsync(Stack, HttpMethod.Post, "/api/v1/cas", otherKey,
            new { name = otherCaName, algorithm = "ECDSA-P256", subject = "CN=Other Root", validityDays = 365 });
        Assert.True(status == HttpStatusCode.Created, $"{(int)status} {created}");
        var otherCaId = created.GetProperty("id").GetGuid();
        var otherSshName = "other-ssh-" + Guid.NewGuid().ToString("N")[..8];
        (status, created, _) = await Oidc.ApiAsync(Stack, HttpMethod.Post, "/api/v1/ssh/ca", otherKey, new { name = otherSshName, algorithm = "Ed25519" });
        Assert.True(status == HttpStatusCode.Created, $"{(int)status} {created}");

        var page = await SignInToConsoleAsync(email, password);

        // X.509: a hybrid ML-DSA-65 root (with its classic companion), a certificate with a generated key, its revocation in the CRL.
        await NavigateAsync(page, "Certificates", "Certificate authorities");
        await page.GetByRole(AriaRole.Link, new() { Name = "New CA" }).ClickAsync();
        await Assertions.Expect(page.Locator("h1#view-title")).ToHaveTextAsync("New certificate authority");
        await CheckViewAsync(page, "30-ca-create");
        var caName = "console-root-" + Guid.NewGuid().ToString("N")[..6];
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync(caName);
        await page.GetByLabel("Key algorithm").SelectOptionAsync("ML-DSA-65");
        await page.GetByLabel("Subject", new() { Exact = true }).FillAsync("CN=Console Root,O=Example Ltd");
        await page.GetByLabel("Hybrid: also create a classic ECDSA P-256 CA under the same name").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Create CA" }).ClickAsync();
        await Assertions.Expect(page.Locator("h1#view-title")).ToHaveTextAsync("CA " + caName);
        await Assertions.Expect(page.Locator("pre").First).ToContainTextAsync("-----BEGIN CERTIFICATE-----");

        await page.GetByLabel("Subject", new() { Exact = true }).FillAsync("CN=svc.example.com");
        await page.GetByLabel("Key algorithm").SelectOptionAsync("ECDSA-P256");
        await page.GetByLabel("Subject alternative names (optional)").FillAsync("dns:svc.example.com");
        await page.GetByLabel("Validity (days)").FillAsync("30");
        await page.GetByRole(AriaRole.Button, new() { Name = "Issue certificate" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "issued" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("pre[aria-labelledby=issued-key-label]")).ToContainTextAsync("PRIVATE KEY");
        await CheckViewAsync(page, "31-ca-issued");

        var revoke = page.GetByRole(AriaRole.Button, new() { NameRegex = new System.Text.RegularExpressions.Regex("^Revoke certificate ") });
        await Assertions.Expect(revoke).ToHaveCountAsync(1);
        await revoke.ClickAsync();
        await page.GetByLabel("Reason").SelectOptionAsync("keyCompromise");
        await page.GetByRole(AriaRole.Button, new() { Name = "Revoke", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Cell, new() { Name = "revoked (keyCompromise)" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Show the current CRL" }).ClickAsync();
        await Assertions.Expect(page.Locator("pre[aria-labelledby=ca-crl-label]")).ToContainTextAsync("-----BEGIN X509 CRL-----");
        await CheckViewAsync(page, "32-ca-detail-crl");

        await NavigateAsync(page, "Certificates", "Certificate authorities");
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = caName })).ToHaveCountAsync(2); // the ML-DSA CA and its ECDSA companion
        Assert.DoesNotContain(otherCaName, await page.ContentAsync(), StringComparison.Ordinal);
        await CheckViewAsync(page, "33-cas");

        // Another tenant's CA by its address: not found, nothing of it shown.
        await page.GotoAsync($"/console/cas/{otherCaId}");
        await Assertions.Expect(page.Locator("[role=alert]")).ToBeVisibleAsync();
        Assert.DoesNotContain(otherCaName, await page.ContentAsync(), StringComparison.Ordinal);

        // SSH: a CA, a user certificate for a key made by ssh-keygen, which ssh-keygen then reads back.
        await NavigateAsync(page, "SSH", "SSH certificate authorities");
        var sshName = "console-ssh-" + Guid.NewGuid().ToString("N")[..6];
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync(sshName);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create SSH CA" }).ClickAsync();
        await Assertions.Expect(page.Locator("h1#view-title")).ToHaveTextAsync("SSH CA " + sshName);
        await Assertions.Expect(page.Locator("pre[aria-labelledby=ssh-ca-key-label]")).ToContainTextAsync("ssh-ed25519 ");

        var folder = TestEnvironment.NewFolder("console-ssh");
        var keyFile = Path.Combine(folder, "id_ed25519");
        await Processes.RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", keyFile]);
        await page.Locator("#ssh-public-key").FillAsync((await File.ReadAllTextAsync(keyFile + ".pub")).Trim());
        await page.Locator("#ssh-key-id").FillAsync("alice@laptop");
        await page.Locator("#ssh-principals").FillAsync("alice");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign", Exact = true }).ClickAsync();
        var certificate = page.Locator("pre[aria-labelledby=ssh-issued-label]");
        await Assertions.Expect(certificate).ToContainTextAsync("ssh-ed25519-cert-v01@openssh.com ");
        await File.WriteAllTextAsync(keyFile + "-cert.pub", (await certificate.TextContentAsync())!.Trim() + "\n");
        var listed = await Processes.RunAsync("ssh-keygen", ["-L", "-f", keyFile + "-cert.pub"]);
        Assert.Contains("Key ID: \"alice@laptop\"", listed, StringComparison.Ordinal);
        Assert.Contains("alice", listed[listed.IndexOf("Principals:", StringComparison.Ordinal)..], StringComparison.Ordinal);
        await Assertions.Expect(page.GetByRole(AriaRole.Cell, new() { Name = "alice@laptop" })).ToBeVisibleAsync();
        await CheckViewAsync(page, "34-ssh-ca");

        await NavigateAsync(page, "SSH", "SSH certificate authorities");
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = sshName })).ToBeVisibleAsync();
        Assert.DoesNotContain(otherSshName, await page.ContentAsync(), StringComparison.Ordinal);
        await CheckViewAsync(page, "35-ssh-cas");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_platform_admin_creates_and_suspends_a_tenant_on_a_phone_width_screen()
    {
        var page = await SignInToConsoleAsync(Stack.AdminEmail, Stack.AdminPassword, width: 390);
        await Assertions.Expect(page.Locator("h1#view-title")).ToHaveTextAsync("Tenants");
        var name = "console-tenant-" + Guid.NewGuid().ToString("N")[..8];
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle); // the list and the plans have loaded
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync(name);
        await Assertions.Expect(page.GetByLabel("Name", new() { Exact = true })).ToHaveValueAsync(name);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create tenant" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = name })).ToBeVisibleAsync();
        await CheckViewAsync(page, "20-operator-tenants-phone");
        await page.GetByRole(AriaRole.Button, new() { Name = "Suspend " + name }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Reactivate " + name })).ToBeVisibleAsync();

        var operatorToken = await Oidc.OperatorTokenAsync(Stack);
        var (status, tenants, _) = await Oidc.ApiAsync(Stack, HttpMethod.Get, "/api/v1/admin/tenants?name=" + name, operatorToken);
        Assert.Equal(HttpStatusCode.OK, status);
        var tenant = Assert.Single(tenants.GetProperty("data").EnumerateArray());
        Assert.Equal(name, tenant.GetProperty("name").GetString());
        Assert.Equal("suspended", tenant.GetProperty("status").GetString());

        // Moving the tenant to another plan.
        await page.GetByLabel("Plan of " + name).SelectOptionAsync(new SelectOptionValue { Label = "Business" });
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "is now on Business" })).ToBeVisibleAsync();
        (status, tenants, _) = await Oidc.ApiAsync(Stack, HttpMethod.Get, "/api/v1/admin/tenants?name=" + name, operatorToken);
        var (_, plans, _) = await Oidc.ApiAsync(Stack, HttpMethod.Get, "/api/v1/admin/plans", operatorToken);
        var business = plans.GetProperty("data").EnumerateArray().Single(p => p.GetProperty("code").GetString() == "business").GetProperty("id").GetGuid();
        Assert.Equal(business, Assert.Single(tenants.GetProperty("data").EnumerateArray()).GetProperty("planId").GetGuid());

        await NavigateAsync(page, "Plans", "Plans");
        await Assertions.Expect(page.GetByRole(AriaRole.Rowheader).Filter(new() { HasText = "Community" })).ToBeVisibleAsync();
        await CheckViewAsync(page, "21-operator-plans-phone");

        await NavigateAsync(page, "Partners", "Partners");
        var partner = "console-partner-" + Guid.NewGuid().ToString("N")[..6];
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync(partner);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create partner" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = partner })).ToBeVisibleAsync();
        await CheckViewAsync(page, "22-operator-partners-phone");

        await NavigateAsync(page, "Platform", "Platform");
        await Assertions.Expect(page.GetByRole(AriaRole.Region, new() { Name = "Readiness of each service" })).ToContainTextAsync("entropy");

        // Without a previous master key configured the API refuses the rotation; the console says why, inline.
        await page.GetByRole(AriaRole.Button, new() { Name = "Rotate the master key…" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Start the rotation" }).ClickAsync();
        await Assertions.Expect(page.Locator("[role=alert]")).ToContainTextAsync("QAPI_MASTER_KEY_PREVIOUS");
        await CheckViewAsync(page, "23-operator-platform-phone");
        await page.Context.CloseAsync();
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body, System.Net.Http.Headers.HttpResponseHeaders Headers)> TenancyEventuallyAsync(
        Func<Task<(HttpStatusCode Status, JsonElement Body, System.Net.Http.Headers.HttpResponseHeaders Headers)>> call, HttpStatusCode wanted)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            var result = await call();
            if (result.Status == wanted || DateTime.UtcNow > deadline)
            {
                return result;
            }

            await Task.Delay(100);
        }
    }
}
