using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Abuse;

/// <summary>
/// Clients of the gateway that connect from a chosen loopback address (127.0.0.x; Linux routes all of 127/8 to the
/// loopback interface), so one test can be "another source" than the rest of the suite, which connects from
/// 127.0.0.1 or ::1. The gateway states the address to the services in X-Forwarded-For.
/// </summary>
internal static class SourceAddress
{
    public static HttpClient Client(MislataStack stack, string address, int maxConnections = 2)
    {
        var source = IPAddress.Parse(address);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            MaxConnectionsPerServer = maxConnections,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                    cert is not null && cert.GetCertHashString() == stack.Gateway.Certificate.GetCertHashString(),
            },
            ConnectCallback = ConnectFrom(source),
        };
        return new HttpClient(handler) { BaseAddress = stack.Gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>Connects to the gateway on the loopback interface from <paramref name="source"/> (a 127/8 address).</summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectFrom(IPAddress source) =>
        async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };

    /// <summary>
    /// A loopback address no other caller of this test run uses (127.1.x.y): browsers of different tests are different
    /// people, so the gateway's per-source limits on sign-in pages count each apart, as they would in production.
    /// </summary>
    public static IPAddress NextPersonal()
    {
        var n = Interlocked.Increment(ref _personal);
        return new IPAddress([127, 1, (byte)(n / 250 % 250), (byte)((n % 250) + 1)]);
    }

    private static int _personal;

    /// <summary>A well-formed API key that no tenant holds (its prefix differs from every other such key).</summary>
    public static string UnknownApiKey() => "qapi_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static HttpRequestMessage WithKey(HttpMethod method, string path, string key)
    {
        var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        request.Headers.Add("X-Api-Key", key);
        return request;
    }

    public static HttpRequestMessage WithBearer(HttpMethod method, string path, string token)
    {
        var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    /// <summary>The response is a 429 problem+json <c>rate_limited</c> with a Retry-After in whole seconds within bounds; its detail.</summary>
    public static async Task<string> AssertRateLimitedAsync(HttpResponseMessage response, int maxRetryAfterSeconds)
    {
        ArgumentNullException.ThrowIfNull(response);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.TooManyRequests, $"{(int)response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal("rate_limited", problem.GetProperty("error").GetString());
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("traceId").GetString()));
        var retryAfter = response.Headers.RetryAfter?.Delta;
        Assert.True(retryAfter is { } d && d >= TimeSpan.FromSeconds(1) && d <= TimeSpan.FromSeconds(maxRetryAfterSeconds),
            $"Retry-After: {response.Headers.RetryAfter}");
        return problem.GetProperty("detail").GetString() ?? string.Empty;
    }

    /// <summary>
    /// The services count failures per minute (UTC): a test that must stay inside one window starts with at least
    /// <paramref name="needed"/> left in it, waiting for the next minute otherwise.
    /// </summary>
    public static async Task StartOfAMinuteWithAsync(TimeSpan needed)
    {
        var now = DateTimeOffset.UtcNow;
        var left = TimeSpan.FromSeconds(60 - now.Second) - TimeSpan.FromMilliseconds(now.Millisecond);
        if (left < needed)
        {
            await Task.Delay(left + TimeSpan.FromMilliseconds(200));
        }
    }
}
