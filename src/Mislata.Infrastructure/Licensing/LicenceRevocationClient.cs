using System.Net.Http.Json;
using System.Text.Json;

namespace Mislata.Infrastructure.Licensing;

/// <summary>
/// The optional online revocation check (<c>QAPI_LICENSE_SERVER</c>, off when unset: installations may be air-gapped):
/// <c>GET {server}/v1/licenses/{id}/status</c> → <c>200 {"revoked": true|false}</c>. Anything else — unreachable,
/// another status, another body — is no answer: the current state stands and the failure is logged.
/// </summary>
public sealed partial class LicenceRevocationClient(HttpClient http, IConfiguration configuration, ILogger<LicenceRevocationClient> logger)
{
    public const string ServerVariable = "QAPI_LICENSE_SERVER";

    private readonly Uri? _server = Uri.TryCreate(configuration[ServerVariable], UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http" ? uri : null;

    public bool Enabled => _server is not null;

    /// <summary>True = revoked, false = not revoked, null = no answer.</summary>
    public async Task<bool?> IsRevokedAsync(Guid licenceId, CancellationToken cancellationToken)
    {
        if (_server is null)
        {
            return null;
        }

        try
        {
            using var response = await http.GetAsync(new Uri(_server, $"{_server.AbsolutePath.TrimEnd('/')}/v1/licenses/{licenceId:D}/status"), cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                LogNoAnswer(logger, (int)response.StatusCode, null);
                return null;
            }

            var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
            if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("revoked", out var revoked) && revoked.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                return revoked.GetBoolean();
            }

            LogNoAnswer(logger, (int)response.StatusCode, null);
            return null;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or NotSupportedException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            LogNoAnswer(logger, 0, ex);
            return null;
        }
    }

    [LoggerMessage(EventId = 5630, Level = LogLevel.Warning, Message = "The licence server gave no usable answer (status {Status}); the licence's state stands")]
    private static partial void LogNoAnswer(ILogger logger, int status, Exception? exception);
}
