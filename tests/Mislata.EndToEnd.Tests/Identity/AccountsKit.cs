using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AngleSharp.Html.Parser;
using Npgsql;
using OtpNet;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>Helpers of the account-security tests: raw requests (5xx allowed), SQL, tenant keys, MFA set-up, a raw login form.</summary>
internal static class AccountsKit
{
    private static readonly HtmlParser Parser = new();

    /// <summary>Like <see cref="Oidc.ApiAsync"/>, but any status is returned (the audit-down tests expect 503).</summary>
    public static Task<(HttpStatusCode Status, JsonElement Body, HttpResponseHeaders Headers)> SendAsync(MislataStack stack, HttpMethod method, string path, string? token, object? body = null) =>
        Oidc.SendAsync(stack, method, path, token, body);

    /// <summary>A tenant API key with exactly these scopes, minted by the operator through the api.</summary>
    public static async Task<string> TenantKeyAsync(MislataStack stack, string operatorToken, Guid tenantId, params string[] scopes)
    {
        var (status, body, _) = await Oidc.ApiAsync(stack, HttpMethod.Post, $"/api/v1/admin/tenants/{tenantId}/api-keys", operatorToken, new { name = "accounts-e2e", scopes });
        Assert.True(status == HttpStatusCode.Created, $"create key: {(int)status} {body}");
        return body.GetProperty("key").GetString()!;
    }

    public static async Task<long> ScalarAsync(MislataStack stack, string sql)
    {
        await using var connection = new NpgsqlConnection(stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static async Task<string> TextAsync(MislataStack stack, string sql)
    {
        await using var connection = new NpgsqlConnection(stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
    }

    public static async Task ExecuteAsync(MislataStack stack, string sql)
    {
        await using var connection = new NpgsqlConnection(stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Every text, varchar and json value of every table of the <c>identity</c> schema, as one string.</summary>
    public static async Task<string> IdentitySchemaTextAsync(MislataStack stack)
    {
        var columns = await TextAsync(stack, """
            SELECT string_agg(format('SELECT %L || coalesce(%I::text, '''') FROM identity.%I', table_name || '.' || column_name || '=', column_name, table_name), ' UNION ALL ')
            FROM information_schema.columns
            WHERE table_schema = 'identity' AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
            """);
        return await TextAsync(stack, $"SELECT coalesce(string_agg(v, E'\\n'), '') FROM ({columns}) AS t(v)");
    }

    /// <summary>The audit log's table out of the way for the duration of <paramref name="action"/> (every audited write then fails closed).</summary>
    public static async Task WithAuditStoreDownAsync(MislataStack stack, Func<Task> action)
    {
        await ExecuteAsync(stack, "ALTER TABLE mislata.audit_events RENAME TO audit_events_away");
        try
        {
            await action();
        }
        finally
        {
            await ExecuteAsync(stack, "ALTER TABLE mislata.audit_events_away RENAME TO audit_events");
        }
    }

    /// <summary>Signs in and turns MFA on with the current TOTP code; returns the seed and the recovery codes shown once.</summary>
    public static async Task<(string Secret, string[] RecoveryCodes)> SetUpMfaAsync(MislataStack stack, string email, string password)
    {
        using var browser = new Browser(stack);
        var page = await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/mfa/setup"), email, password);
        var secret = page.Document.QuerySelector("#secret")!.TextContent;
        var done = await browser.SubmitAsync(page, new Dictionary<string, string> { ["code"] = new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp() });
        Assert.True(done.Status == HttpStatusCode.OK, $"mfa set-up: {(int)done.Status} {done.Body}");
        var codes = done.Document.QuerySelectorAll("#recovery-codes li").Select(li => li.TextContent.Trim()).ToArray();
        Assert.Equal(10, codes.Length);
        return (secret, codes);
    }

    /// <summary>Password step in <paramref name="browser"/>, then the second-factor page with <paramref name="code"/>.</summary>
    public static async Task<Browser.Page> SubmitSecondFactorAsync(Browser browser, string email, string password, string code)
    {
        var login = await browser.NavigateAsync("/account/login");
        var afterPassword = await browser.SubmitAsync(login, new Dictionary<string, string> { ["email"] = email, ["password"] = password });
        Assert.True(afterPassword.Status == HttpStatusCode.Redirect, $"login: {(int)afterPassword.Status} {afterPassword.Body}");
        var mfa = await browser.FollowAsync(afterPassword);
        Assert.Contains("Two-factor", mfa.Document.Title ?? string.Empty, StringComparison.Ordinal);
        return await browser.SubmitAsync(mfa, new Dictionary<string, string> { ["code"] = code });
    }

    /// <summary>
    /// A cookie-keeping client that posts the login form with a ReturnUrl of its choosing and reports the raw
    /// <c>Location</c> header (no URI parsing, so a tab or backslash in it stays visible) and the time of the POST.
    /// </summary>
    public sealed class LoginForm : IDisposable
    {
        private readonly HttpClient _client;

        public LoginForm(MislataStack stack)
        {
            var handler = new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                UseCookies = true,
                CookieContainer = new CookieContainer(),
                // A person of their own, like every Browser: the gateway's per-source sign-in limit counts it apart.
                ConnectCallback = Abuse.SourceAddress.ConnectFrom(Abuse.SourceAddress.NextPersonal()),
                SslOptions =
                {
                    RemoteCertificateValidationCallback = (_, cert, _, _) =>
                        cert is not null && cert.GetCertHashString() == stack.Gateway.Certificate.GetCertHashString(),
                },
            };
            _client = new HttpClient(handler) { BaseAddress = stack.Gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        }

        public sealed record Answer(HttpStatusCode Status, string? Location, string Body, TimeSpan Elapsed);

        public async Task<Answer> PostAsync(string email, string password, string? returnUrl = null)
        {
            var page = Parser.ParseDocument(await _client.GetStringAsync(new Uri("/account/login", UriKind.Relative)));
            var token = page.QuerySelector("input[name=__RequestVerificationToken]")?.GetAttribute("value") ?? throw new InvalidOperationException("no antiforgery token");
            var fields = new List<KeyValuePair<string, string>>
            {
                new("__RequestVerificationToken", token),
                new("email", email),
                new("password", password),
            };
            if (returnUrl is not null)
            {
                fields.Add(new("ReturnUrl", returnUrl));
            }

            using var request = new HttpRequestMessage(HttpMethod.Post, "/account/login") { Content = new FormUrlEncodedContent(fields) };
            var watch = System.Diagnostics.Stopwatch.StartNew();
            using var response = await _client.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            watch.Stop();
            var location = response.Headers.TryGetValues("Location", out var values) ? values.Single() : null;
            return new Answer(response.StatusCode, location, body, watch.Elapsed);
        }

        public void Dispose() => _client.Dispose();
    }
}
