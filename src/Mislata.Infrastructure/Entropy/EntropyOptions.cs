using System.ComponentModel.DataAnnotations;
using Mislata.Crypto.Entropy;

namespace Mislata.Infrastructure.Entropy;

/// <summary>
/// The entropy service: the QRNG source (<c>QAPI_QRNG_URL</c> or <c>QAPI_QRNG_DEVICE</c>, at most one; none = OS
/// entropy only), the worker's Redis pool watermarks and the api DRBG's reseed policy (section <c>Entropy</c>).
/// </summary>
public sealed class EntropyOptions : IValidatableObject
{
    public const string Section = "Entropy";
    public const string UrlVariable = "QAPI_QRNG_URL";
    public const string DeviceVariable = "QAPI_QRNG_DEVICE";

    /// <summary>HTTP QRNG endpoint; <c>{bytes}</c> in it is replaced by the request size.</summary>
    public string QrngUrl { get; set; } = string.Empty;

    /// <summary>A QRNG character device (or a file/FIFO that behaves as one).</summary>
    public string QrngDevice { get; set; } = string.Empty;

    /// <summary>Dot-separated path to the bytes in a JSON response (e.g. <c>data</c>); empty = the root.</summary>
    public string QrngJsonPath { get; set; } = string.Empty;

    public QrngResponseFormat QrngFormat { get; set; } = QrngResponseFormat.Auto;

    /// <summary>Bytes per pool block: each block is health-tested, sealed and stored as one Redis list element.</summary>
    [Range(64, 65536)]
    public int BlockSize { get; set; } = 1024;

    /// <summary>The worker refills when the pool holds fewer blocks than this…</summary>
    [Range(1, 100_000)]
    public int LowWatermark { get; set; } = 32;

    /// <summary>…up to this many blocks (the pool is trimmed to it).</summary>
    [Range(2, 100_000)]
    public int HighWatermark { get; set; } = 128;

    /// <summary>How often the worker checks the pool level, and an api with an empty local buffer looks again.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan FillInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The api DRBG reseeds after this many output bytes…</summary>
    [Range(1024, long.MaxValue)]
    public long ReseedAfterBytes { get; set; } = 1 << 20;

    /// <summary>…or after this long.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ReseedInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Pool blocks an api process keeps decrypted in memory for its reseeds (each reseed takes 32 bytes).</summary>
    [Range(1, 64)]
    public int LocalBlocks { get; set; } = 2;

    /// <summary>The configured QRNG source's kind (<c>http-qrng</c>, <c>device-qrng</c>), or null when none is configured.</summary>
    public string? ConfiguredSource =>
        QrngUrl.Length > 0 ? "http-qrng" : QrngDevice.Length > 0 ? "device-qrng" : null;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (LowWatermark >= HighWatermark)
        {
            yield return new ValidationResult("Entropy:LowWatermark must be below Entropy:HighWatermark.");
        }

        if (QrngUrl.Length > 0 && QrngDevice.Length > 0)
        {
            yield return new ValidationResult($"{UrlVariable} and {DeviceVariable} are both set: configure one QRNG source.");
        }

        if (QrngUrl.Length > 0 && !(Uri.TryCreate(QrngUrl.Replace("{bytes}", "1", StringComparison.Ordinal), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
        {
            yield return new ValidationResult($"{UrlVariable} is not an absolute http(s) URL.");
        }
    }
}
