using System.Security.Claims;
using Mislata.Infrastructure.Authentication;
using StackExchange.Redis;

namespace Mislata.Api.Access;

/// <summary>
/// DPoP at the api (RFC 9449 §7, the rule of <see cref="DpopResourceRequest"/>) for access tokens that verified, with
/// the public origin of <c>QAPI_PUBLIC_URL</c> and used <c>jti</c>s in Redis under <c>mislata:dpop:</c>, shared by the
/// replicas; a Redis error propagates (503). Each request's proof is checked: the verified-token cache of
/// <see cref="AccessTokenValidator"/> remembers signatures, never proofs.
/// </summary>
public sealed class DpopProofGate(IConnectionMultiplexer redis, AccessTokenOptions options, TimeProvider time)
{
    public const string ReplayPrefix = "mislata:dpop:";

    /// <summary>Refusal reasons start with this; their challenge is <see cref="ChallengeFor"/>.</summary>
    public const string RefusalPrefix = "dpop_";

    private readonly DpopReplayStore _replay = new(redis, ReplayPrefix);

    public static bool UsesDpopScheme(HttpRequest request) => DpopResourceRequest.UsesDpopScheme(request);

    /// <summary>Null when the request may go on; otherwise why it is refused (401).</summary>
    public Task<string?> RefusalAsync(HttpRequest request, string token, ClaimsIdentity identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return DpopResourceRequest.RefusalAsync(request, token, identity.FindFirst(DpopProof.ConfirmationClaim)?.Value, new Uri(options.Issuer!), _replay, time.GetUtcNow());
    }

    /// <summary>The <c>WWW-Authenticate</c> challenge of a refusal (RFC 9449 §7.1).</summary>
    public static string ChallengeFor(string refusal) =>
        $"DPoP algs=\"{string.Join(' ', DpopProof.Algorithms)}\", error=\"{DpopResourceRequest.ErrorOf(refusal)}\"";
}
