using Microsoft.AspNetCore.Http;

namespace Mislata.Infrastructure.Authentication;

/// <summary>
/// The resource-server rule of DPoP (RFC 9449 §7), one for the api and identity (userinfo, management API): a token
/// bound to a key (<c>cnf.jkt</c>) is accepted only with the <c>DPoP</c> authorization scheme and exactly one proof for
/// this request (<c>htm</c>, <c>htu</c> = the public origin and the path, as the client addresses it through the
/// gateway), made with that key, carrying the token's hash (<c>ath</c>), a fresh <c>iat</c> and an unused <c>jti</c>;
/// an unbound token must not come with the <c>DPoP</c> scheme. An unbound Bearer token costs no Redis call. Errors of
/// Redis propagate: the caller answers 503, never accepts an unchecked proof.
/// </summary>
public static class DpopResourceRequest
{
    public const string UnboundToken = "dpop_unbound_token";
    public const string BoundTokenAsBearer = "dpop_bound_token_as_bearer";
    public const string ProofMissing = "dpop_proof_missing";
    public const string ProofInvalid = "dpop_proof_invalid";
    public const string ProofOfOtherKey = "dpop_proof_other_key";
    public const string ProofReplayed = "dpop_proof_replayed";

    public static bool UsesDpopScheme(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Headers.Authorization.ToString().StartsWith(DpopProof.Scheme + " ", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The token after a <c>DPoP</c> authorization scheme, or null.</summary>
    public static string? DpopToken(HttpRequest request) =>
        UsesDpopScheme(request) && request.Headers.Authorization.ToString()[(DpopProof.Scheme.Length + 1)..].Trim() is { Length: > 0 } token ? token : null;

    /// <summary>The URL of this request as the client addressed it: the public origin (scheme, host, port) and the path.</summary>
    public static Uri PublicUrl(Uri publicOrigin, HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(publicOrigin);
        ArgumentNullException.ThrowIfNull(request);
        return new(publicOrigin.GetLeftPart(UriPartial.Authority) + (request.PathBase + request.Path).ToUriComponent());
    }

    /// <summary>Null when the request may go on; otherwise one of this class's refusal codes (401).</summary>
    /// <param name="confirmation">The token's <c>cnf</c> claim (JSON), null for an unbound token.</param>
    public static async Task<string?> RefusalAsync(HttpRequest request, string token, string? confirmation, Uri publicOrigin, DpopReplayStore replay, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(replay);
        var dpopScheme = UsesDpopScheme(request);
        var bound = DpopProof.ThumbprintOf(confirmation);
        if (bound is null)
        {
            return dpopScheme ? UnboundToken : null;
        }

        if (!dpopScheme)
        {
            return BoundTokenAsBearer;
        }

        var proofs = request.Headers[DpopProof.HeaderName];
        if (proofs.Count != 1)
        {
            return ProofMissing;
        }

        var proof = DpopProof.Validate(proofs[0], request.Method, PublicUrl(publicOrigin, request), token, now);
        if (!proof.IsValid)
        {
            return ProofInvalid;
        }

        if (!DpopProof.SameKey(proof.Thumbprint, bound))
        {
            return ProofOfOtherKey;
        }

        return await replay.TryUseAsync(proof) ? null : ProofReplayed;
    }

    /// <summary>The error of RFC 9449 §7.1 for a refusal: <c>invalid_dpop_proof</c> when the proof is at fault, else <c>invalid_token</c>.</summary>
    public static string ErrorOf(string refusal) => refusal is ProofMissing or ProofInvalid or ProofReplayed ? DpopProof.InvalidProof : "invalid_token";

    /// <summary>Why, in words, for an <c>error_description</c>.</summary>
    public static string Describe(string refusal) => refusal switch
    {
        UnboundToken => "The access token is not DPoP-bound: present it with the Bearer scheme.",
        BoundTokenAsBearer => "The access token is DPoP-bound: present it with the DPoP scheme and a DPoP proof.",
        ProofMissing => "Exactly one DPoP proof is required with a DPoP-bound access token.",
        ProofOfOtherKey => "The DPoP proof is not made with the key the access token is bound to.",
        ProofReplayed => "The DPoP proof was already used.",
        _ => "The DPoP proof is not valid for this request and access token.",
    };
}
