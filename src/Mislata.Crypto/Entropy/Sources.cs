using System.Security.Cryptography;
using System.Text.Json;

namespace Mislata.Crypto.Entropy;

/// <summary>A raw entropy source (QRNG over HTTP, a device file, the OS, or a simulation). Fills the buffer completely or throws.</summary>
public interface IEntropySource
{
    /// <summary>"http-qrng", "device-qrng", "os", "simulated-qrng".</summary>
    string Name { get; }

    ValueTask ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken);
}

/// <summary>The OS CSPRNG as an entropy source.</summary>
public sealed class OsEntropySource : IEntropySource
{
    public string Name => "os";

    public ValueTask ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        RandomNumberGenerator.Fill(buffer.Span);
        return ValueTask.CompletedTask;
    }
}

/// <summary>A local hardware RNG exposed as a character device or file (QAPI_QRNG_DEVICE).</summary>
public sealed class DeviceQrngSource(string path) : IEntropySource
{
    public string Name => "device-qrng";

    public async ValueTask ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
            await stream.ReadExactlyAsync(buffer, cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CryptoException(CryptoError.EntropyUnavailable, "The QRNG device could not be read.");
        }
    }
}

/// <summary>How <see cref="HttpQrngSource"/> reads a response body.</summary>
public enum QrngResponseFormat
{
    /// <summary>By Content-Type: application/octet-stream → raw bytes, JSON → array of bytes, or a hex/base64 string.</summary>
    Auto,
    OctetStream,
    JsonByteArray,
    JsonHex,
    JsonBase64,
}

/// <summary>
/// Settings of a QRNG HTTP endpoint. <see cref="RequestUri"/> may contain <c>{bytes}</c> (replaced by the request size).
/// <see cref="JsonPath"/>: dot-separated field path to the data in a JSON body (e.g. <c>data</c> or <c>result.random</c>); empty = the root.
/// </summary>
public sealed record HttpQrngOptions(string RequestUri, string JsonPath = "", QrngResponseFormat Format = QrngResponseFormat.Auto, int MaxBytesPerRequest = 1024);

/// <summary>A quantum RNG over HTTP (QAPI_QRNG_URL). The HttpClient (and its timeouts/resilience) is the caller's.</summary>
public sealed class HttpQrngSource(HttpClient client, HttpQrngOptions options) : IEntropySource
{
    public string Name => "http-qrng";

    public async ValueTask ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var want = Math.Min(options.MaxBytesPerRequest, buffer.Length - filled);
            byte[] chunk;
            try
            {
                using var response = await client.GetAsync(new Uri(options.RequestUri.Replace("{bytes}", want.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal), UriKind.RelativeOrAbsolute), cancellationToken);
                response.EnsureSuccessStatusCode();
                var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
                chunk = Decode(body, response.Content.Headers.ContentType?.MediaType);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or FormatException or InvalidOperationException)
            {
                throw new CryptoException(CryptoError.EntropyUnavailable, "The QRNG endpoint did not deliver usable bytes.");
            }

            if (chunk.Length == 0)
            {
                throw new CryptoException(CryptoError.EntropyUnavailable, "The QRNG endpoint returned no bytes.");
            }

            var n = Math.Min(chunk.Length, buffer.Length - filled);
            chunk.AsSpan(0, n).CopyTo(buffer.Span[filled..]);
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the response body, already copied to the caller
            CryptographicOperations.ZeroMemory(chunk);
            filled += n;
        }
    }

    internal byte[] Decode(byte[] body, string? mediaType)
    {
        var format = options.Format;
        if (format == QrngResponseFormat.Auto && mediaType is "application/octet-stream")
        {
            format = QrngResponseFormat.OctetStream;
        }

        if (format == QrngResponseFormat.OctetStream)
        {
            return body;
        }

        using var doc = JsonDocument.Parse(body);
        var node = doc.RootElement;
        foreach (var part in options.JsonPath.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            node = node.GetProperty(part);
        }

        if (node.ValueKind == JsonValueKind.Array && format is QrngResponseFormat.Auto or QrngResponseFormat.JsonByteArray)
        {
            return node.EnumerateArray().Select(e => e.GetByte()).ToArray();
        }

        var text = node.GetString() ?? throw new FormatException();
        var looksHex = text.Length % 2 == 0 && text.All(Uri.IsHexDigit);
        return format switch
        {
            QrngResponseFormat.JsonHex => Convert.FromHexString(text),
            QrngResponseFormat.JsonBase64 => Convert.FromBase64String(text),
            _ => looksHex ? Convert.FromHexString(text) : Convert.FromBase64String(text),
        };
    }
}

public enum SimulatedQrngMode
{
    /// <summary>OS CSPRNG bytes.</summary>
    Healthy,

    /// <summary>A constant byte (a stuck-at fault).</summary>
    Stuck,

    /// <summary>90 % one value, the rest random (a biased device).</summary>
    Biased,
}

/// <summary>A SIMULATED QRNG for tests and local runs — not a source of quantum entropy.</summary>
public sealed class SimulatedQrngSource(SimulatedQrngMode mode) : IEntropySource
{
    public string Name => "simulated-qrng";

    public SimulatedQrngMode Mode { get; } = mode;

    public ValueTask ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var span = buffer.Span;
        switch (Mode)
        {
            case SimulatedQrngMode.Stuck:
                span.Fill(0x5A);
                break;
            case SimulatedQrngMode.Biased:
                RandomNumberGenerator.Fill(span);
                for (var i = 0; i < span.Length; i++)
                {
                    if (RandomNumberGenerator.GetInt32(10) < 9)
                    {
                        span[i] = 0xA5;
                    }
                }

                break;
            default:
                RandomNumberGenerator.Fill(span);
                break;
        }

        return ValueTask.CompletedTask;
    }
}
