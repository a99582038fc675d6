using System.ComponentModel.DataAnnotations;

namespace Mislata.Client;

/// <summary>
/// Where the API is and how to authenticate: exactly one of <see cref="ApiKey"/>, <see cref="ClientCredentials"/> or
/// <see cref="TokenProvider"/>.
/// </summary>
public sealed class MislataClientOptions
{
    /// <summary>The gateway's base address, e.g. <c>https://kms.example.com/</c> (the client adds <c>/api/v1/…</c>).</summary>
    [Required]
    public Uri? BaseAddress { get; set; }

    /// <summary>A <c>qapi_…</c> API key, sent as <c>X-Api-Key</c>.</summary>
    public string? ApiKey { get; set; }

    /// <summary>OAuth 2.0 client credentials: the token is fetched from the identity service, cached and renewed before expiry.</summary>
    public ClientCredentialsOptions? ClientCredentials { get; set; }

    /// <summary>A caller-supplied bearer token source (a token of an OIDC login, a workload identity …); called for every request.</summary>
    public Func<CancellationToken, ValueTask<string>>? TokenProvider { get; set; }

    /// <summary>Retries of a call that answered 429 or 503 (or failed to connect): only idempotent calls are retried. Default 3; 0 turns retries off.</summary>
    [Range(0, 10)]
    public int MaxRetries { get; set; } = 3;

    /// <summary>First backoff delay (exponential with jitter); a <c>Retry-After</c> header wins.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between two attempts (caps the backoff and a <c>Retry-After</c>).</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one call, all attempts included.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>Adjusts the primary handler (a private CA, a proxy, client certificates).</summary>
    public Action<SocketsHttpHandler>? ConfigureHandler { get; set; }

    /// <summary>Called before each retry with the attempt number (1-based), the delay and the status that caused it (null for a connection failure).</summary>
    public Action<int, TimeSpan, int?>? OnRetry { get; set; }

    internal void Validate()
    {
        if (BaseAddress is null || !BaseAddress.IsAbsoluteUri)
        {
            throw new InvalidOperationException("MislataClientOptions.BaseAddress must be an absolute URI.");
        }

        var ways = (ApiKey is null ? 0 : 1) + (ClientCredentials is null ? 0 : 1) + (TokenProvider is null ? 0 : 1);
        if (ways != 1)
        {
            throw new InvalidOperationException("Configure exactly one of ApiKey, ClientCredentials or TokenProvider.");
        }

        if (ClientCredentials is { } cc && (string.IsNullOrEmpty(cc.ClientId) || string.IsNullOrEmpty(cc.ClientSecret)))
        {
            throw new InvalidOperationException("ClientCredentials needs ClientId and ClientSecret.");
        }
    }
}

/// <summary>An OAuth confidential client of the identity service.</summary>
public sealed class ClientCredentialsOptions
{
    /// <summary>The application's client id.</summary>
    public string ClientId { get; set; } = string.Empty;

    /// <summary>The application's client secret.</summary>
    public string ClientSecret { get; set; } = string.Empty;

    /// <summary>Space-separated scopes to ask for (null: the client's default).</summary>
    public string? Scope { get; set; }

    /// <summary>The token endpoint; default <c>{BaseAddress}/connect/token</c> (the identity service behind the same gateway).</summary>
    public Uri? TokenEndpoint { get; set; }

    /// <summary>How long before its expiry a cached token is renewed. Default 60 s (or a fifth of a shorter lifetime).</summary>
    public TimeSpan RenewBefore { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A DPoP key (RFC 9449): when set, tokens are bound to it and sent as <c>Authorization: DPoP</c> with a fresh proof
    /// per request (and the server's nonce at the token endpoint when it asks for one). Null: Bearer tokens.
    /// </summary>
    public Authentication.DpopKey? DpopKey { get; set; }
}
