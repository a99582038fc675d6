using System.Globalization;
using System.Security.Cryptography.X509Certificates;

namespace Mislata.Testing;

/// <summary>The real nginx gateway, rendered from deploy/nginx/nginx.conf.template, with its own certificate.</summary>
public sealed class GatewayInstance : IAsyncDisposable
{
    private readonly string _folder;

    private GatewayInstance(string folder, int httpPort, int httpsPort, X509Certificate2 certificate)
    {
        _folder = folder;
        HttpPort = httpPort;
        HttpsPort = httpsPort;
        Certificate = certificate;
    }

    public int HttpPort { get; }

    public int HttpsPort { get; }

    public X509Certificate2 Certificate { get; }

    public Uri BaseAddress => new($"https://localhost:{HttpsPort}");

    public string Folder => _folder;

    /// <summary>
    /// Makes the certificate and starts nginx on two free ports with no service behind it yet, so that nginx holds its
    /// ports before the services are given the public URL; a bind conflict (another process took a port in between)
    /// means fresh ports. <see cref="StartAsync"/> then points it at the services.
    /// </summary>
    public static async Task<GatewayInstance> CreateAsync()
    {
        var folder = TestEnvironment.NewFolder("gateway");
        await Processes.StackAsync("tls-cert", Path.Combine(folder, "tls"));
        var certificate = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(folder, "tls", "cert.pem"));
        try
        {
            return await Processes.RetryOnAddressInUseAsync(async () =>
            {
                var gateway = new GatewayInstance(folder, Processes.FreePort(), Processes.FreePort(), certificate);
                // Port 9 (discard) stands for the services until StartAsync names them.
                await gateway.StartAsync([9], [9], [9]);
                return gateway;
            });
        }
        catch
        {
            certificate.Dispose();
            throw;
        }
    }

    /// <summary>Renders the configuration for these services and starts nginx, or reloads it when it runs.</summary>
    public async Task StartAsync(IEnumerable<int> identityPorts, IEnumerable<int> apiPorts, IEnumerable<int> workerPorts)
    {
        static string Addresses(IEnumerable<int> ports) => string.Join(',', ports.Select(p => "127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)));
        await Processes.RunAsync(
            "bash",
            [TestEnvironment.StackScript, "nginx-render", Path.Combine(_folder, "nginx"),
                HttpPort.ToString(CultureInfo.InvariantCulture), HttpsPort.ToString(CultureInfo.InvariantCulture), HttpsPort.ToString(CultureInfo.InvariantCulture),
                Addresses(identityPorts), Addresses(apiPorts), Addresses(workerPorts),
                Path.Combine(_folder, "tls", "cert.pem"), Path.Combine(_folder, "tls", "key.pem")],
            new Dictionary<string, string> { ["NGINX_WORKER_PROCESSES"] = "2" });
        await Processes.StackAsync("nginx-start", Path.Combine(_folder, "nginx"));
    }

    /// <summary>An HTTP client for the gateway that trusts exactly this gateway's self-signed certificate.</summary>
    public HttpClient CreateClient(bool allowRedirects = false)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = allowRedirects,
            UseCookies = false,
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                    cert is not null && cert.GetCertHashString() == Certificate.GetCertHashString(),
            },
        };
        return new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Task StopAsync() => Processes.StackAsync("nginx-stop", Path.Combine(_folder, "nginx"));

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Certificate.Dispose();
    }
}
