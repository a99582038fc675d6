using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Mislata.Deploy.Tests;

/// <summary>
/// The gateway's TLS and headers: deploy/nginx/nginx.conf.template rendered by deploy/docker/gateway-entrypoint.sh (the
/// container's entry point) and served by this machine's nginx. Checked here: TLS 1.2 suites limited to ECDHE+AEAD
/// (a CBC suite is refused by the running server), the security headers on the gateway's own error responses (413,
/// 429, 502/503/504 → 503) and on passed-through upstream errors (404), the OCSP stapling switch (only for a CA-issued
/// certificate that names a responder), and the client address taken from a trusted proxy's X-Forwarded-For. OCSP
/// responses themselves are not fetched (no CA responder here): nginx accepting the stapling configuration is checked.
/// </summary>
public sealed partial class GatewayTlsTests : IDisposable
{
    private static readonly string[] SecurityHeaders =
    [
        "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
        "Cross-Origin-Opener-Policy", "Permissions-Policy", "Content-Security-Policy", "X-Request-ID",
    ];

    private readonly string _dir = Directory.CreateTempSubdirectory("mislata-gateway-").FullName;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _gatewayOutput = new();
    private Process? _nginx;

    public GatewayTlsTests()
    {
        // nginx's workers (user nobody when the master is root) read the rendered files.
        Run("chmod", ["755", _dir], []);
        var conf = Path.Combine(_dir, "conf");
        Directory.CreateDirectory(conf);
        File.Copy(RepositoryFiles.PathOf("deploy/nginx/nginx.conf.template"), Path.Combine(conf, "nginx.conf.template"));
        File.Copy(RepositoryFiles.PathOf("deploy/nginx/health.js"), Path.Combine(conf, "health.js"));
        Directory.CreateDirectory(Path.Combine(_dir, "logs"));

        // The entry point ends with `exec nginx … -g 'daemon off;'`: a shim in front of the real nginx lets a render-only
        // run stop there (RENDER_ONLY=1) while `nginx -t` always runs for real.
        var bin = Path.Combine(_dir, "bin");
        Directory.CreateDirectory(bin);
        var shim = Path.Combine(bin, "nginx");
        File.WriteAllText(shim, $"#!/bin/sh\nif [ \"$1\" = -t ] || [ -z \"${{RENDER_ONLY:-}}\" ]; then exec {NginxPath} \"$@\"; fi\necho rendered\n");
        Run("chmod", ["755", shim], []);
    }

    private static string NginxPath => File.Exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";

    private string RunDir => Path.Combine(_dir, "run");

    public void Dispose()
    {
        if (_nginx is { HasExited: false })
        {
            using var quit = Process.Start("kill", ["-QUIT", _nginx.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            quit.WaitForExit();
            if (!_nginx.WaitForExit(30_000))
            {
                _nginx.Kill(entireProcessTree: true);
            }
        }

        _nginx?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Tls_is_1_2_and_1_3_only_with_forward_secret_aead_suites()
    {
        var template = RepositoryFiles.ReadText("deploy/nginx/nginx.conf.template");
        Assert.Equal("TLSv1.2 TLSv1.3", Assert.Single(Directive(template, "ssl_protocols")));
        var suites = Assert.Single(Directive(template, "ssl_ciphers")).Split(':');
        Assert.NotEmpty(suites);
        Assert.All(suites, s => Assert.Matches("^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$", s));
        Assert.Equal("off", Assert.Single(Directive(template, "ssl_session_tickets")));
    }

    [Fact]
    public void Every_location_that_sets_its_own_headers_repeats_every_security_header()
    {
        var template = RepositoryFiles.ReadText("deploy/nginx/nginx.conf.template");
        var https = template[template.IndexOf("ssl_certificate ", StringComparison.Ordinal)..];
        var serverHeaders = HeaderNames(https[..Regex.Match(https, @"\n\s*location\s").Index]);
        Assert.Equal(SecurityHeaders.Order(StringComparer.Ordinal), serverHeaders.Order(StringComparer.Ordinal));

        var locations = LocationBlock().Matches(https).ToList();
        Assert.Contains(locations, l => l.Groups["name"].Value == "@unavailable");
        foreach (var location in locations)
        {
            var own = HeaderNames(location.Groups["body"].Value);
            if (own.Count == 0)
            {
                continue; // inherits the server's set
            }

            var missing = SecurityHeaders.Except(own, StringComparer.Ordinal).ToList();
            Assert.True(missing.Count == 0, $"location {location.Groups["name"].Value} sets headers but drops {string.Join(", ", missing)}");
        }
    }

    [Fact]
    public async Task Error_responses_of_the_gateway_and_of_upstreams_carry_the_security_headers()
    {
        using var backend = new NotFoundBackend();
        var cert = SelfSigned("gw");
        var https = StartGateway(cert, new()
        {
            ["API_UPSTREAM"] = $"127.0.0.1:{backend.Port}",
            ["IDENTITY_UPSTREAM"] = $"127.0.0.1:{FreePort()}", // nobody listens: 502 → the gateway's 503
            ["WORKER_UPSTREAM"] = $"127.0.0.1:{FreePort()}",
        });
        using var client = await ClientFor(https);

        using (var notFound = await client.GetAsync(new Uri("/api/v1/keys/none", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
            AssertSecurityHeaders(notFound);
        }

        using (var unavailable = await client.GetAsync(new Uri("/account/login", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, unavailable.StatusCode);
            Assert.Equal("application/problem+json", unavailable.Content.Headers.ContentType?.MediaType);
            AssertSecurityHeaders(unavailable);
        }

        using (var tooLarge = await client.PostAsync(new Uri("/api/v1/encrypt", UriKind.Relative), new ByteArrayContent(new byte[(1024 * 1024) + 1])))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
            AssertSecurityHeaders(tooLarge);
        }

        // The token endpoint's per-address limit (10/s, burst 60): requests in parallel until one is limited.
        HttpResponseMessage? limited = null;
        for (var round = 0; round < 100 && limited is null; round++)
        {
            var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ =>
                client.PostAsync(new Uri("/connect/token", UriKind.Relative), new StringContent("grant_type=x"))));
            limited = responses.FirstOrDefault(r => r.StatusCode == HttpStatusCode.TooManyRequests);
            foreach (var response in responses.Where(r => r != limited))
            {
                response.Dispose();
            }
        }

        Assert.NotNull(limited);
        using (limited)
        {
            Assert.Equal("1", limited.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
            AssertSecurityHeaders(limited);
        }
    }

    [Fact]
    public void A_tls_1_2_cbc_suite_is_refused_and_an_aead_suite_and_tls_1_3_are_accepted()
    {
        var https = StartGateway(SelfSigned("gw"), []);

        Assert.NotEqual(0, SClient(https, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256").Code);
        Assert.NotEqual(0, SClient(https, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA").Code);
        var aead = SClient(https, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256");
        Assert.True(aead.Code == 0, aead.Output);
        Assert.Contains("ECDHE-ECDSA-AES128-GCM-SHA256", aead.Output, StringComparison.Ordinal);
        var tls13 = SClient(https, "-tls1_3");
        Assert.True(tls13.Code == 0, tls13.Output);
        Assert.Contains("TLSv1.3", tls13.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Ocsp_stapling_is_off_for_a_self_signed_certificate_and_refused_when_forced()
    {
        var cert = SelfSigned("self");

        var auto = Render(cert, []);
        Assert.True(auto.Code == 0, auto.Error);
        Assert.False(File.Exists(Path.Combine(RunDir, "gateway-tls-ocsp.conf")));
        Assert.Contains("include " + RunDir + "/gateway-tls-*.conf;", File.ReadAllText(Path.Combine(RunDir, "nginx.conf")), StringComparison.Ordinal);

        var forced = Render(cert, new() { ["GATEWAY_OCSP_STAPLING"] = "on" });
        Assert.NotEqual(0, forced.Code);
        Assert.Contains("self-signed", forced.Error, StringComparison.Ordinal);

        Assert.NotEqual(0, Render(cert, new() { ["GATEWAY_OCSP_STAPLING"] = "yes" }).Code);
    }

    [Fact]
    public void Ocsp_stapling_is_on_for_a_ca_issued_certificate_with_a_responder_and_nginx_accepts_it()
    {
        var issued = Issued("real", ocspUri: "http://127.0.0.1:9/ocsp");

        var auto = Render(issued, new() { ["GATEWAY_OCSP_RESOLVER"] = "127.0.0.1" });
        Assert.True(auto.Code == 0, auto.Error);
        var ocsp = File.ReadAllText(Path.Combine(RunDir, "gateway-tls-ocsp.conf"));
        Assert.Contains("ssl_stapling on;", ocsp, StringComparison.Ordinal);
        Assert.Contains("ssl_stapling_verify on;", ocsp, StringComparison.Ordinal);
        Assert.Contains($"ssl_trusted_certificate {issued.Cert};", ocsp, StringComparison.Ordinal);
        Assert.Contains("resolver 127.0.0.1 ", ocsp, StringComparison.Ordinal);

        var off = Render(issued, new() { ["GATEWAY_OCSP_STAPLING"] = "off" });
        Assert.True(off.Code == 0, off.Error);
        Assert.False(File.Exists(Path.Combine(RunDir, "gateway-tls-ocsp.conf")), "a file of an earlier start was left behind");
    }

    [Fact]
    public void Ocsp_stapling_needs_a_responder_in_the_certificate()
    {
        var issued = Issued("noocsp", ocspUri: null);

        var auto = Render(issued, []);
        Assert.True(auto.Code == 0, auto.Error);
        Assert.False(File.Exists(Path.Combine(RunDir, "gateway-tls-ocsp.conf")));

        var forced = Render(issued, new() { ["GATEWAY_OCSP_STAPLING"] = "on" });
        Assert.NotEqual(0, forced.Code);
        Assert.Contains("no OCSP responder", forced.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_client_address_is_forwarded_and_taken_from_a_trusted_proxy_only_when_configured()
    {
        using var backend = new NotFoundBackend();
        var template = RepositoryFiles.ReadText("deploy/nginx/nginx.conf.template");
        Assert.Contains("proxy_set_header X-Forwarded-For $remote_addr;", template, StringComparison.Ordinal);
        Assert.Contains("proxy_set_header X-Real-IP $remote_addr;", template, StringComparison.Ordinal);

        var bad = Render(SelfSigned("gw"), new() { ["GATEWAY_REAL_IP_FROM"] = "10.0.0.0/8,not-an-address" });
        Assert.NotEqual(0, bad.Code);

        var https = StartGateway(SelfSigned("gw2"), new()
        {
            ["API_UPSTREAM"] = $"127.0.0.1:{backend.Port}",
            ["GATEWAY_REAL_IP_FROM"] = "127.0.0.1/32",
        });
        using var client = await ClientFor(https);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/v1/keys", UriKind.Relative));
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var upstream = backend.LastRequestHeaders;
        Assert.Contains("X-Forwarded-For: 203.0.113.7\r\n", upstream, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("X-Real-IP: 203.0.113.7\r\n", upstream, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("X-Forwarded-Proto: https\r\n", upstream, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Without_a_trusted_proxy_a_callers_forwarded_for_is_replaced_by_its_own_address()
    {
        using var backend = new NotFoundBackend();
        var https = StartGateway(SelfSigned("gw"), new() { ["API_UPSTREAM"] = $"127.0.0.1:{backend.Port}" });
        using var client = await ClientFor(https);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/v1/keys", UriKind.Relative));
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("X-Forwarded-For: 127.0.0.1\r\n", backend.LastRequestHeaders, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("203.0.113.7", backend.LastRequestHeaders, StringComparison.Ordinal);
    }

    private static void AssertSecurityHeaders(HttpResponseMessage response)
    {
        foreach (var name in SecurityHeaders)
        {
            Assert.True(response.Headers.Contains(name), $"{(int)response.StatusCode} lacks {name}");
        }

        Assert.Equal("max-age=31536000; includeSubDomains", string.Join(",", response.Headers.GetValues("Strict-Transport-Security")));
    }

    private Dictionary<string, string> BaseEnvironment((string Cert, string Key) cert, int http, int https) => new()
    {
        ["PATH"] = Path.Combine(_dir, "bin") + ":" + Environment.GetEnvironmentVariable("PATH"),
        ["NGINX_CONF_DIR"] = Path.Combine(_dir, "conf"),
        ["NGINX_RUN_DIR"] = RunDir,
        ["NGINX_LOG_DIR"] = Path.Combine(_dir, "logs"),
        ["NGINX_WORKER_PROCESSES"] = "1",
        ["NGINX_JS_MODULE"] = "/usr/lib/nginx/modules/ngx_http_js_module.so",
        ["GATEWAY_HTTP_PORT"] = http.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["GATEWAY_HTTPS_PORT"] = https.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["GATEWAY_PUBLIC_HTTPS_PORT"] = https.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["TLS_CERT"] = cert.Cert,
        ["TLS_KEY"] = cert.Key,
        ["IDENTITY_UPSTREAM"] = "127.0.0.1:1",
        ["API_UPSTREAM"] = "127.0.0.1:1",
        ["WORKER_UPSTREAM"] = "127.0.0.1:1",
    };

    private (int Code, string Output, string Error) Render((string Cert, string Key) cert, Dictionary<string, string> extra)
    {
        var environment = BaseEnvironment(cert, FreePort(), FreePort());
        environment["RENDER_ONLY"] = "1";
        foreach (var (key, value) in extra)
        {
            environment[key] = value;
        }

        return Run("sh", [RepositoryFiles.PathOf("deploy/docker/gateway-entrypoint.sh")], environment);
    }

    /// <summary>
    /// Starts the entry point (and so nginx) on fresh ports and returns the HTTPS port once nginx answers there. nginx
    /// binds its IPv4 and IPv6 sockets one after the other and gives up when one is taken (by any process of this busy
    /// machine), so a start that ends in "Address already in use" is tried again on other ports.
    /// </summary>
    private int StartGateway((string Cert, string Key) cert, Dictionary<string, string> extra)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (http, https) = (FreePort(), FreePort());
            var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(RepositoryFiles.PathOf("deploy/docker/gateway-entrypoint.sh"));
            foreach (var (key, value) in BaseEnvironment(cert, http, https).Concat(extra))
            {
                start.Environment[key] = value;
            }

            _gatewayOutput.Clear();
            _nginx?.Dispose();
            _nginx = Process.Start(start)!;
            _nginx.OutputDataReceived += (_, e) => _gatewayOutput.Enqueue(e.Data ?? string.Empty);
            _nginx.ErrorDataReceived += (_, e) => _gatewayOutput.Enqueue(e.Data ?? string.Empty);
            _nginx.BeginOutputReadLine();
            _nginx.BeginErrorReadLine();
            if (WaitUntilServing(http, https))
            {
                return https;
            }

            var errorLog = Path.Combine(_dir, "logs", "error.log");
            var output = string.Join('\n', _gatewayOutput) + (File.Exists(errorLog) ? "\n" + File.ReadAllText(errorLog) : "");
            Assert.True(attempt < 5 && output.Contains("Address already in use", StringComparison.Ordinal), "the gateway exited: " + output);
        }
    }

    /// <summary>True once both ports accept connections and the HTTP port answers /health/live; false when nginx exited.</summary>
    private bool WaitUntilServing(int http, int https)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var i = 0; i < 600; i++)
        {
            if (_nginx is { HasExited: true })
            {
                _nginx.WaitForExit(); // the output readers have drained
                return false;
            }

            try
            {
                using (var socket = new TcpClient())
                {
                    socket.Connect(IPAddress.Loopback, https);
                }

                using var live = client.GetAsync(new Uri($"http://127.0.0.1:{http}/health/live")).GetAwaiter().GetResult();
                if (live.StatusCode == HttpStatusCode.OK && !_nginx!.HasExited)
                {
                    return true;
                }
            }
            catch (Exception ex) when (ex is SocketException or HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }

            Thread.Sleep(100);
        }

        Assert.Fail("the gateway did not answer within 60 s: " + string.Join('\n', _gatewayOutput));
        return false;
    }

    private static async Task<HttpClient> ClientFor(int https)
    {
        var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true, AllowAutoRedirect = false };
        var client = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{https}"), Timeout = TimeSpan.FromSeconds(60) };
        using var live = await client.GetAsync(new Uri("/health/live", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        return client;
    }

    private static (int Code, string Output) SClient(int port, params string[] options)
    {
        var (code, output, error) = Run("openssl", ["s_client", "-connect", $"127.0.0.1:{port}", "-servername", "localhost", .. options], [], stdin: "Q\n");
        return (code, output + error);
    }

    private (string Cert, string Key) SelfSigned(string name)
    {
        var cert = Path.Combine(_dir, name + ".crt");
        var key = Path.Combine(_dir, name + ".key");
        Openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert);
        return (cert, key);
    }

    /// <summary>A certificate issued by a throw-away CA (full chain in the file), with or without an OCSP responder URL.</summary>
    private (string Cert, string Key) Issued(string name, string? ocspUri)
    {
        var caKey = Path.Combine(_dir, name + "-ca.key");
        var caCert = Path.Combine(_dir, name + "-ca.crt");
        Openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
            "-subj", "/CN=Test CA " + name, "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", caKey, "-out", caCert);
        var key = Path.Combine(_dir, name + ".key");
        var csr = Path.Combine(_dir, name + ".csr");
        Openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost", "-keyout", key, "-out", csr);
        var ext = Path.Combine(_dir, name + ".ext");
        File.WriteAllText(ext, "subjectAltName=DNS:localhost\n" + (ocspUri is null ? "" : $"authorityInfoAccess=OCSP;URI:{ocspUri}\n"));
        var leaf = Path.Combine(_dir, name + "-leaf.crt");
        Openssl("x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", leaf);
        var chain = Path.Combine(_dir, name + ".crt");
        File.WriteAllText(chain, File.ReadAllText(leaf) + File.ReadAllText(caCert));
        return (chain, key);
    }

    private static void Openssl(params string[] arguments)
    {
        var (code, _, error) = Run("openssl", arguments, []);
        Assert.True(code == 0, "openssl " + string.Join(' ', arguments) + ": " + error);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static (int Code, string Output, string Error) Run(string file, IEnumerable<string> arguments, Dictionary<string, string> environment, string? stdin = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Write(stdin ?? string.Empty);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error);
    }

    private static List<string> Directive(string config, string name) =>
        Regex.Matches(config, $@"(?m)^\s*{Regex.Escape(name)}\s+(?<value>[^;]*);").Select(m => m.Groups["value"].Value.Trim()).ToList();

    private static List<string> HeaderNames(string block) =>
        AddHeader().Matches(block).Select(m => m.Groups["name"].Value).Where(n => n != "Retry-After").ToList();

    [GeneratedRegex(@"(?m)^\s*add_header\s+(?<name>[A-Za-z-]+)\s", RegexOptions.CultureInvariant)]
    private static partial Regex AddHeader();

    /// <summary>A location of the server block and its body, up to its closing brace at the location's indentation.</summary>
    [GeneratedRegex(@"(?ms)^        location\s+(?:[=~^]+\s+)?(?<name>\S+)[^\n]*\{\n(?<body>.*?)\n        \}$", RegexOptions.CultureInvariant)]
    private static partial Regex LocationBlock();

    /// <summary>An upstream that answers every request 404 and remembers the last request's headers.</summary>
    private sealed class NotFoundBackend : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private volatile string _last = string.Empty;

        public NotFoundBackend()
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = Task.Run(AcceptAsync);
        }

        public int Port { get; }

        public string LastRequestHeaders => _last;

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }

                _ = Task.Run(() => ServeAsync(client));
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                try
                {
                    var stream = client.GetStream();
                    var buffer = new byte[64 * 1024];
                    var received = new StringBuilder();
                    while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        var n = await stream.ReadAsync(buffer);
                        if (n == 0)
                        {
                            return;
                        }

                        received.Append(Encoding.ASCII.GetString(buffer, 0, n));
                    }

                    _last = received.ToString();
                    await stream.WriteAsync("HTTP/1.1 404 Not Found\r\nContent-Type: application/problem+json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"u8.ToArray());
                }
                catch (IOException)
                {
                    // nginx closed the connection: nothing to answer.
                }
            }
        }
    }
}
