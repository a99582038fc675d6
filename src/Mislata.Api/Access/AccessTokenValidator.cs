using Microsoft.Extensions.Options;
using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mislata.Api.Access;

/// <summary>
/// Where access tokens come from: the issuer (<c>QAPI_PUBLIC_URL</c>, as identity's discovery document states it)
/// and the JWKS (<c>QAPI_JWKS_URL</c>, default <c>{QAPI_IDENTITY_URL}/.well-known/jwks</c> on the private network).
/// Without a JWKS source only API keys are accepted.
/// </summary>
public sealed class AccessTokenOptions
{
    public const string Audience = "mislata-api";

    public string? Issuer { get; set; }

    public Uri? JwksUri { get; set; }

    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>An unknown <c>kid</c> triggers a refresh at most this often.</summary>
    public TimeSpan MinimumRefreshInterval { get; set; } = TimeSpan.FromSeconds(10);

    public static AccessTokenOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new AccessTokenOptions { Issuer = configuration["QAPI_PUBLIC_URL"]?.TrimEnd('/') };
        var jwks = configuration["QAPI_JWKS_URL"];
        if (string.IsNullOrWhiteSpace(jwks) && configuration["QAPI_IDENTITY_URL"] is { Length: > 0 } identity)
        {
            jwks = identity.TrimEnd('/') + "/.well-known/jwks";
        }

        if (!string.IsNullOrWhiteSpace(jwks))
        {
            if (!Uri.TryCreate(jwks, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new OptionsValidationException(nameof(AccessTokenOptions), typeof(AccessTokenOptions), ["QAPI_JWKS_URL / QAPI_IDENTITY_URL is not an absolute http(s) URL."]);
            }

            options.JwksUri = uri;
            if (string.IsNullOrWhiteSpace(options.Issuer))
            {
                throw new OptionsValidationException(nameof(AccessTokenOptions), typeof(AccessTokenOptions), ["QAPI_PUBLIC_URL is not set: it is the issuer of access tokens."]);
            }
        }

        return options;
    }
}

/// <summary>The signing keys of identity, fetched over the private network and cached; refreshed periodically and on an unknown key id (rate-limited).</summary>
public sealed partial class JwksCache(HttpClient http, AccessTokenOptions options, TimeProvider time, ILogger<JwksCache> logger)
{
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private IReadOnlyList<SecurityKey> _keys = [];
    private DateTimeOffset _fetchedAt = DateTimeOffset.MinValue;
    private DateTimeOffset _attemptedAt = DateTimeOffset.MinValue;

    public async Task<IReadOnlyList<SecurityKey>> GetKeysAsync(bool unknownKey, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var stale = now - _fetchedAt > options.RefreshInterval;
        var mayRetry = now - _attemptedAt > options.MinimumRefreshInterval;
        if ((stale || unknownKey) && mayRetry)
        {
            await RefreshAsync(cancellationToken);
        }

        return _keys;
    }

    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        if (options.JwksUri is null || !await _refresh.WaitAsync(0, cancellationToken))
        {
            return;
        }

        try
        {
            _attemptedAt = time.GetUtcNow();
            var json = await http.GetStringAsync(options.JwksUri, cancellationToken);
            var set = new JsonWebKeySet(json);
            _keys = [.. set.GetSigningKeys()];
            _fetchedAt = time.GetUtcNow();
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or ArgumentException or System.Text.Json.JsonException)
        {
            LogRefreshFailed(logger, options.JwksUri.ToString(), ex);
        }
        finally
        {
            _refresh.Release();
        }
    }

    [LoggerMessage(EventId = 5300, Level = LogLevel.Warning, Message = "Could not refresh the JWKS from {JwksUri}; keeping the keys already known")]
    private static partial void LogRefreshFailed(ILogger logger, string jwksUri, Exception exception);
}

/// <summary>
/// Validates identity's access tokens locally (signature with an asymmetric algorithm, issuer, audience, lifetime,
/// <c>typ</c> <c>at+jwt</c> of RFC 9068 so that an ID token or any other JWT of the issuer is never taken for an access
/// token, and an <c>iat</c> for the revocation check): no call to identity per request.
/// </summary>
public sealed class AccessTokenValidator(JwksCache jwks, AccessTokenOptions options)
{
    private static readonly string[] Algorithms =
    [
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSsaPssSha256,
    ];

    /// <summary>RFC 9068 §2.1 (the media type may be written with its <c>application/</c> prefix).</summary>
    private static readonly string[] Types = ["at+jwt", "application/at+jwt"];

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };

    public bool Enabled => options.JwksUri is not null;

    /// <summary>The token's claims, or null when it is not a valid access token for this API.</summary>
    public async Task<ClaimsIdentity?> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        if (!Enabled || token.Length > 16 * 1024 || !_handler.CanReadToken(token))
        {
            return null;
        }

        var result = await ValidateWithAsync(token, await jwks.GetKeysAsync(unknownKey: false, cancellationToken));
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException)
        {
            result = await ValidateWithAsync(token, await jwks.GetKeysAsync(unknownKey: true, cancellationToken));
        }

        // Without an issue time a token could not be revoked (AccessRevocations): not an access token of identity's.
        return result.IsValid && result.SecurityToken is JsonWebToken jwt && jwt.TryGetPayloadValue<long>("iat", out _) ? result.ClaimsIdentity : null;
    }

    private async Task<TokenValidationResult> ValidateWithAsync(string token, IReadOnlyList<SecurityKey> keys) =>
        await _handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuers = [options.Issuer!, options.Issuer + "/"],
            ValidAudience = AccessTokenOptions.Audience,
            IssuerSigningKeys = keys,
            ValidAlgorithms = Algorithms,
            ValidTypes = Types,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = true,
            ClockSkew = TimeSpan.FromSeconds(30),
        });
}
