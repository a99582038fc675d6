using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Mislata.Client.Authentication;

/// <summary>
/// A DPoP key (RFC 9449): set it on <see cref="ClientCredentialsOptions.DpopKey"/> and the client's tokens are bound
/// to it — every token request and every API call carries a fresh proof signed with it (ES256), and a stolen token is
/// of no use without the key. Keep one key for the client's lifetime (the token is bound to it).
/// </summary>
public sealed class DpopKey : IDisposable
{
    private readonly ECDsa _key;
    private readonly string _header;

    private DpopKey(ECDsa key)
    {
        _key = key;
        var q = key.ExportParameters(false).Q;
        // RFC 7638 member order, which is also the thumbprint input.
        var jwk = $$"""{"crv":"P-256","kty":"EC","x":"{{B64(q.X!)}}","y":"{{B64(q.Y!)}}"}""";
        Thumbprint = B64(SHA256.HashData(Encoding.UTF8.GetBytes(jwk)));
        _header = B64(Encoding.UTF8.GetBytes($$"""{"typ":"dpop+jwt","alg":"ES256","jwk":{{jwk}}}"""));
    }

    /// <summary>A new P-256 key.</summary>
    public static DpopKey Create() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>The RFC 7638 SHA-256 thumbprint of the public key: the <c>cnf.jkt</c> of the tokens bound to it.</summary>
    public string Thumbprint { get; }

    /// <summary>A proof for one request: <paramref name="url"/> without query or fragment, <c>ath</c> when a token goes with it.</summary>
    public string CreateProof(HttpMethod method, Uri url, string? accessToken = null, string? nonce = null)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(url);
        var claims = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["jti"] = B64(RandomNumberGenerator.GetBytes(16)),
            ["htm"] = method.Method,
            ["htu"] = url.GetLeftPart(UriPartial.Path),
            ["iat"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        };
        if (accessToken is not null)
        {
            claims["ath"] = B64(SHA256.HashData(Encoding.ASCII.GetBytes(accessToken)));
        }

        if (nonce is not null)
        {
            claims["nonce"] = nonce;
        }

        var input = _header + "." + B64(JsonSerializer.SerializeToUtf8Bytes(claims));
        return input + "." + B64(_key.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256));
    }

    public void Dispose() => _key.Dispose();

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>
/// The innermost handler: a request sent with the <c>DPoP</c> scheme gets a fresh proof on every attempt (a retry must
/// not resend a used proof).
/// </summary>
internal sealed class DpopProofHandler(DpopKey key) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Headers.Authorization is { Scheme: "DPoP", Parameter: { } token } && request.RequestUri is { } uri)
        {
            request.Headers.Remove("DPoP");
            request.Headers.TryAddWithoutValidation("DPoP", key.CreateProof(request.Method, uri, token));
        }

        return base.SendAsync(request, cancellationToken);
    }
}
