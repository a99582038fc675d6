using System.Security.Claims;
using Mislata.Infrastructure.Authentication;
using StackExchange.Redis;

namespace Mislata.Api.Access;

/// <summary>
/// The resource-server side of DPoP (RFC 9449 §7) for access tokens that verified: a token bound to a key
/// (<c>cnf.jkt</c>) is accepted only with the <c>DPoP</c> authorization scheme and exactly one proof for this request
/// (<c>htm</c>, <c>htu</c> = the public URL of <c>QAPI_PUBLIC_URL</c> and the path, as the client sees it through the
/// gateway), made with that key, carrying the token's hash (<c>ath</c>), a fresh <c>iat</c> and a <c>jti</c> not used
/// before. Used <c>jti</c>s are kept in Redis under <c>mislata:dpop:</c>, shared by the replicas; a Redis error
/// propagates (503), a proof is never accepted unchecked. An unbound token costs nothing here (no Redis call) unless it
/// comes with the <c>DPoP</c> scheme, which is refused. Each request's proof is checked: the verified-token cache of
/// <see cref="AccessTokenValidator"/> remembers signatures, never proofs.
/// </summary>
public sealed class DpopProofGate(IConnectionMultiplexer redis, AccessTokenOptions options, TimeProvider time)
{
    public const string ReplayPrefix = "mislata:dpop:";

    /// <summary>Refusal reasons start with this; their challenge is <see cref="ChallengeFor"/>.</summary>
    public const string RefusalPrefix = "dpop_";

    private readonly DpopReplayStore _replay = new(redis, ReplayPrefix);

    public static bool UsesDpopScheme(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Headers.Authorization.ToString().StartsWith(DpopProof.Scheme + " ", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Null when the request may go on; otherwise why it is refused (401).</summary>
    public async Task<string?> RefusalAsync(HttpRequest request, string token, ClaimsIdentity identity)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(identity);
        var dpopScheme = UsesDpopScheme(request);
        var bound = DpopProof.ThumbprintOf(identity.FindFirst(DpopProof.ConfirmationClaim)?.Value);
        if (bound is null)
        {
            return dpopScheme ? "dpop_unbound_token" : null;
        }

        if (!dpopScheme)
        {
            return "dpop_bound_token_as_bearer";
        }

        var proofs = request.Headers[DpopProof.HeaderName];
        if (proofs.Count != 1)
        {
            return "dpop_proof_missing";
        }

        var url = new Uri(new Uri(options.Issuer!).GetLeftPart(UriPartial.Authority) + (request.PathBase + request.Path).ToUriComponent());
        var proof = DpopProof.Validate(proofs[0], request.Method, url, token, time.GetUtcNow());
        if (!proof.IsValid)
        {
            return "dpop_proof_invalid";
        }

        if (!DpopProof.SameKey(proof.Thumbprint, bound))
        {
            return "dpop_proof_other_key";
        }

        return await _replay.TryUseAsync(proof) ? null : "dpop_proof_replayed";
    }

    /// <summary>The <c>WWW-Authenticate</c> challenge of a refusal (RFC 9449 §7.1).</summary>
    public static string ChallengeFor(string refusal) =>
        $"DPoP algs=\"{string.Join(' ', DpopProof.Algorithms)}\", error=\"{(refusal is "dpop_proof_invalid" or "dpop_proof_replayed" or "dpop_proof_missing" ? DpopProof.InvalidProof : "invalid_token")}\"";
}
