using System.Net;
using System.Security.Cryptography;

namespace Mislata.EndToEnd.Tests.Entropy;

/// <summary>
/// A SIMULATED QRNG over HTTP for the tests (<c>GET /random?bytes=N</c> → N octets): healthy (OS CSPRNG bytes) or stuck
/// (one constant byte), switchable while the platform runs. Not a source of quantum entropy.
/// </summary>
public sealed class SimulatedQrngServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _stuck;
    private long _served;

    private SimulatedQrngServer(int port)
    {
        Port = port;
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>The value of <c>QAPI_QRNG_URL</c>.</summary>
    public string Url => $"http://127.0.0.1:{Port}/random?bytes={{bytes}}";

    public bool Stuck
    {
        get => Volatile.Read(ref _stuck) == 1;
        set => Volatile.Write(ref _stuck, value ? 1 : 0);
    }

    public long Served => Interlocked.Read(ref _served);

    public static SimulatedQrngServer Start()
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return new SimulatedQrngServer(Processes.FreePort());
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // The port was taken in between: another one.
            }
        }
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                var bytes = int.TryParse(context.Request.QueryString["bytes"], out var n) && n is > 0 and <= 65536 ? n : 1024;
                var body = new byte[bytes];
                if (Stuck)
                {
                    body.AsSpan().Fill(0x5A);
                }
                else
                {
                    RandomNumberGenerator.Fill(body);
                }

                context.Response.ContentType = "application/octet-stream";
                context.Response.ContentLength64 = body.Length;
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
                Interlocked.Increment(ref _served);
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The client went away.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Close();
        await _loop;
        _stop.Dispose();
    }
}
