using System.Net;

namespace Mislata.Infrastructure.ApiKeys;

/// <summary>The outcome of presenting an API key: a usable record, or the (log-only) reason it was refused.</summary>
public sealed record ApiKeyCheck(ApiKeyRecord? Record, string? Refusal, bool AddressAllowed)
{
    public bool Authenticated => Record is not null;
}

/// <summary>
/// The one check of a presented <c>qapi_</c> key, shared by every service that accepts API keys (api, identity's
/// management API): well-formed, known, not revoked, not expired, and from an allowed address.
/// </summary>
public sealed class ApiKeyAuthenticator(ApiKeyDirectory directory, TimeProvider time)
{
    /// <summary><c>X-Api-Key</c>, else a Bearer credential; null when neither is present.</summary>
    public static string? ReadCredential(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var apiKey = request.Headers["X-Api-Key"].ToString();
        if (apiKey.Length > 0)
        {
            return apiKey.Trim();
        }

        // Bearer, or DPoP for a sender-constrained access token (RFC 9449 §7.1; the proof is checked once the token verified).
        var authorization = request.Headers.Authorization.ToString();
        return (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || authorization.StartsWith("DPoP ", StringComparison.OrdinalIgnoreCase))
            && authorization[(authorization.IndexOf(' ', StringComparison.Ordinal) + 1)..].Trim() is { Length: > 0 } credential
            ? credential
            : null;
    }

    public static bool IsApiKey(string credential) => credential.StartsWith(ApiKeySecret.Marker, StringComparison.Ordinal);

    public async Task<ApiKeyCheck> AuthenticateAsync(string presented, IPAddress? remote, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(presented);
        if (!ApiKeySecret.LooksLikeKey(presented))
        {
            return new ApiKeyCheck(null, "malformed_api_key", false);
        }

        var record = await directory.FindAsync(presented, cancellationToken);
        if (record is null || record.Revoked)
        {
            return new ApiKeyCheck(null, record is null ? "unknown_api_key" : "revoked_api_key", false);
        }

        if (record.ExpiresAt is { } expiresAt && expiresAt <= time.GetUtcNow())
        {
            return new ApiKeyCheck(null, "expired_api_key", false);
        }

        return record.AllowsAddress(remote)
            ? new ApiKeyCheck(record, null, true)
            : new ApiKeyCheck(record, "The API key is not allowed from this address.", false);
    }
}
