using System.Net;
using System.Net.Http.Headers;

namespace Mislata.Client.Authentication;

/// <summary>
/// Puts the configured credential on every request: <c>X-Api-Key</c>, or <c>Authorization: Bearer</c> from a token
/// source. A 401 to a cached client-credentials token (revoked, or the identity service's keys rotated) renews the
/// token once and sends the request again.
/// </summary>
internal sealed class MislataAuthenticationHandler(MislataClientOptions options, ClientCredentialsTokenSource? tokens) : DelegatingHandler
{
    public const string ApiKeyHeader = "X-Api-Key";

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (options.ApiKey is { } apiKey)
        {
            request.Headers.Remove(ApiKeyHeader);
            request.Headers.TryAddWithoutValidation(ApiKeyHeader, apiKey);
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        if (options.TokenProvider is { } provider)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await provider(cancellationToken).ConfigureAwait(false));
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var source = tokens ?? throw new InvalidOperationException("no credential configured");
        var token = await source.GetTokenAsync(cancellationToken).ConfigureAwait(false);
        // A DPoP-bound token goes with the DPoP scheme; DpopProofHandler adds each attempt's proof.
        var scheme = options.ClientCredentials?.DpopKey is null ? "Bearer" : "DPoP";
        request.Headers.Authorization = new AuthenticationHeaderValue(scheme, token);
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }

        response.Dispose();
        source.Invalidate(token);
        request.Headers.Authorization = new AuthenticationHeaderValue(scheme, await source.GetTokenAsync(cancellationToken).ConfigureAwait(false));
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }
}
