using System.Text.Json;

namespace Mislata.Client.Authentication;

/// <summary>
/// OAuth 2.0 client credentials against the identity service's token endpoint. One token is cached per client and
/// renewed <see cref="ClientCredentialsOptions.RenewBefore"/> before it expires; concurrent callers that find it stale
/// wait for the one renewal in flight rather than each asking for a token (single flight).
/// </summary>
internal sealed class ClientCredentialsTokenSource(HttpClient tokenClient, MislataClientOptions options, TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _renewal = new(1, 1);
    private volatile CachedToken? _cached;
    private string? _nonce;

    /// <summary>How many tokens were fetched (for tests and diagnostics).</summary>
    public int Fetches { get; private set; }

    public async ValueTask<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        if (_cached is { } fresh && fresh.RenewAt > time.GetUtcNow())
        {
            return fresh.AccessToken;
        }

        await _renewal.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_cached is { } other && other.RenewAt > time.GetUtcNow())
            {
                return other.AccessToken;
            }

            var token = await FetchAsync(cancellationToken).ConfigureAwait(false);
            _cached = token;
            return token.AccessToken;
        }
        finally
        {
            _renewal.Release();
        }
    }

    /// <summary>Forgets <paramref name="token"/> if it is still the cached one (the API refused it).</summary>
    public void Invalidate(string token)
    {
        if (_cached is { } c && string.Equals(c.AccessToken, token, StringComparison.Ordinal))
        {
            _cached = null;
        }
    }

    private async Task<CachedToken> FetchAsync(CancellationToken cancellationToken)
    {
        var cc = options.ClientCredentials!;
        var endpoint = cc.TokenEndpoint ?? new Uri(options.BaseAddress!, "connect/token");
        // client_secret_post, as every confidential client of the identity service accepts.
        var form = new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["client_id"] = cc.ClientId, ["client_secret"] = cc.ClientSecret };
        if (cc.Scope is { Length: > 0 } scope)
        {
            form["scope"] = scope;
        }

        var started = time.GetUtcNow();
        var response = await SendAsync(endpoint, form, cc.DpopKey, cancellationToken).ConfigureAwait(false);
        if (cc.DpopKey is not null && response.StatusCode == System.Net.HttpStatusCode.BadRequest && response.Headers.Contains("DPoP-Nonce")
            && (await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).Contains("\"use_dpop_nonce\"", StringComparison.Ordinal))
        {
            // RFC 9449 §8: the server wants its nonce in the proof; once more with it.
            response.Dispose();
            response = await SendAsync(endpoint, form, cc.DpopKey, cancellationToken).ConfigureAwait(false);
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            JsonElement root;
            try
            {
                root = JsonDocument.Parse(body).RootElement.Clone();
            }
            catch (JsonException)
            {
                throw new MislataApiException((int)response.StatusCode, Http.MislataTransport.CodeOf(response.StatusCode), "token endpoint answered no JSON");
            }

            if (!response.IsSuccessStatusCode)
            {
                // OAuth errors (invalid_client, invalid_scope …) are reported as unauthorized; the OAuth code is the title.
                var oauthError = root.TryGetProperty("error", out var e) ? e.GetString() : null;
                var description = root.TryGetProperty("error_description", out var d) ? d.GetString() : null;
                var code = (int)response.StatusCode is 400 or 401 ? "unauthorized" : Http.MislataTransport.CodeOf(response.StatusCode);
                throw new MislataApiException((int)response.StatusCode is 400 ? 401 : (int)response.StatusCode, code, oauthError, description);
            }

            Fetches++;
            var accessToken = root.GetProperty("access_token").GetString()
                ?? throw new MislataApiException((int)response.StatusCode, "invalid_response", detail: "no access_token");
            var lifetime = root.TryGetProperty("expires_in", out var exp) && exp.TryGetInt32(out var seconds) ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromMinutes(5);
            var margin = cc.RenewBefore < lifetime / 5 ? cc.RenewBefore : lifetime / 5;
            return new CachedToken(accessToken, started + lifetime - margin);
        }
    }

    private async Task<HttpResponseMessage> SendAsync(Uri endpoint, Dictionary<string, string> form, DpopKey? key, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new FormUrlEncodedContent(form) };
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("DPoP", key.CreateProof(HttpMethod.Post, endpoint, nonce: _nonce));
        }

        try
        {
            var response = await tokenClient.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.Headers.TryGetValues("DPoP-Nonce", out var nonces))
            {
                _nonce = nonces.FirstOrDefault();
            }

            return response;
        }
        catch (HttpRequestException e)
        {
            throw new MislataApiException(0, "unavailable", detail: "token endpoint: " + e.HttpRequestError, inner: e);
        }
    }

    public void Dispose() => _renewal.Dispose();

    private sealed record CachedToken(string AccessToken, DateTimeOffset RenewAt);
}
