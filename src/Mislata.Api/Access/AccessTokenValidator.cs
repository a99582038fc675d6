using Microsoft.Extensions.Options;
using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using System.Security.Cryptography;
using Microsoft.Extensions.Caching.Memory;
using Mislata.Infrastructure.Authentication;

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
    private HashSet<string> _kids = [];
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
            _keys = Parse(json);
            _kids = [.. _keys.Select(k => k.KeyId).Where(k => k is not null)];
            _fetchedAt = time.GetUtcNow();
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or ArgumentException or System.Text.Json.JsonException or InvalidOperationException)
        {
            LogRefreshFailed(logger, options.JwksUri.ToString(), ex);
        }
        finally
        {
            _refresh.Release();
        }
    }

    /// <summary>True while the JWKS last fetched still publishes <paramref name="keyId"/> (a retired key is gone from it).</summary>
    public bool Publishes(string keyId) => _kids.Contains(keyId);

    /// <summary>
    /// The signing keys of a JWKS: RSA and EC keys as Microsoft.IdentityModel reads them, and ML-DSA-65 keys (<c>kty</c>
    /// <c>AKP</c>) as <see cref="MlDsa65SecurityKey"/>, which verify with Mislata's ML-DSA (not the platform's, which this
    /// OpenSSL may lack).
    /// </summary>
    public static IReadOnlyList<SecurityKey> Parse(string json)
    {
        var mlDsa = new List<SecurityKey>();
        using (var document = System.Text.Json.JsonDocument.Parse(json))
        {
            if (document.RootElement.TryGetProperty("keys", out var keys) && keys.ValueKind == System.Text.Json.JsonValueKind.Array)
            {
                foreach (var jwk in keys.EnumerateArray())
                {
                    if (MlDsaJose.TryFromJwk(jwk, out var key))
                    {
                        mlDsa.Add(key);
                    }
                }
            }
        }

        var ids = mlDsa.Select(k => k.KeyId).ToHashSet(StringComparer.Ordinal);
        return [.. new JsonWebKeySet(json).GetSigningKeys().Where(k => k.KeyId is null || !ids.Contains(k.KeyId)), .. mlDsa];
    }

    [LoggerMessage(EventId = 5300, Level = LogLevel.Warning, Message = "Could not refresh the JWKS from {JwksUri}; keeping the keys already known")]
    private static partial void LogRefreshFailed(ILogger logger, string jwksUri, Exception exception);
}

/// <summary>
/// Validates identity's access tokens locally (signature with an asymmetric algorithm, issuer, audience, lifetime,
/// <c>typ</c> <c>at+jwt</c> of RFC 9068 so that an ID token or any other JWT of the issuer is never taken for an access
/// token, and an <c>iat</c> for the revocation check): no call to identity per request. ES256 and ML-DSA-65 (the
/// algorithm an application chose) are both accepted. A token that verified is remembered, by its SHA-256, until it
/// expires or its signing key leaves the JWKS (bounded: <see cref="CacheEntries"/>), so an ML-DSA verification is paid
/// once per token, not per request; revocation is still checked per request by the caller.
/// </summary>
public sealed class AccessTokenValidator(JwksCache jwks, AccessTokenOptions options, TimeProvider time) : IDisposable
{
    public const int CacheEntries = 10_000;

    private static readonly string[] Algorithms =
    [
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSsaPssSha256, MlDsaJose.Algorithm,
    ];

    private readonly MemoryCache _verified = new(new MemoryCacheOptions { SizeLimit = CacheEntries });

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

        var digest = Convert.ToBase64String(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(token)));
        if (_verified.TryGetValue(digest, out Verified? known) && known!.ExpiresAt > time.GetUtcNow() && jwks.Publishes(known.KeyId))
        {
            await jwks.GetKeysAsync(unknownKey: false, cancellationToken); // keeps the JWKS fresh, so a retired key is noticed
            if (jwks.Publishes(known.KeyId))
            {
                return known.Identity;
            }
        }

        var result = await ValidateWithAsync(token, await jwks.GetKeysAsync(unknownKey: false, cancellationToken));
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException)
        {
            result = await ValidateWithAsync(token, await jwks.GetKeysAsync(unknownKey: true, cancellationToken));
        }

        // Without an issue time a token could not be revoked (AccessRevocations): not an access token of identity's.
        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt || !jwt.TryGetPayloadValue<long>("iat", out _))
        {
            return null;
        }

        var keyId = jwt.SigningKey?.KeyId ?? jwt.Kid;
        if (!string.IsNullOrEmpty(keyId))
        {
            var expiresAt = new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero);
            _verified.Set(digest, new Verified(result.ClaimsIdentity, keyId, expiresAt), new MemoryCacheEntryOptions { Size = 1, AbsoluteExpiration = expiresAt });
        }

        return result.ClaimsIdentity;
    }

    public void Dispose() => _verified.Dispose();

    private sealed record Verified(ClaimsIdentity Identity, string KeyId, DateTimeOffset ExpiresAt);

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
            ClockSkew = Skew,
            LifetimeValidator = WithinLifetime,
        });

    private static readonly TimeSpan Skew = TimeSpan.FromSeconds(30);

    /// <summary>The lifetime check on this validator's clock (the same one the remembered tokens expire by); an expiry is required.</summary>
    private bool WithinLifetime(DateTime? notBefore, DateTime? expires, SecurityToken token, TokenValidationParameters parameters)
    {
        var now = time.GetUtcNow().UtcDateTime;
        return expires is { } exp && exp > now - Skew && (notBefore is not { } nbf || nbf <= now + Skew) && (notBefore is not { } start || start <= exp);
    }
}
