using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Mislata.Infrastructure.Authentication;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// Verifies access tokens the way the api does: only the published JWKS, with Microsoft.IdentityModel (ES256) and
/// Mislata's ML-DSA-65 key type (AKP keys); the independent ML-DSA check is <see cref="PostQuantumTokenTests"/>.
/// </summary>
public static class Jwks
{
    public static async Task<(string Issuer, IReadOnlyList<SecurityKey> Keys)> DiscoverAsync(MislataStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        using var client = stack.Gateway.CreateClient();
        var discovery = JsonDocument.Parse(await client.GetStringAsync(new Uri("/.well-known/openid-configuration", UriKind.Relative))).RootElement;
        var issuer = discovery.GetProperty("issuer").GetString()!;
        var jwksUri = new Uri(discovery.GetProperty("jwks_uri").GetString()!);
        var json = await client.GetStringAsync(new Uri(jwksUri.PathAndQuery, UriKind.Relative));
        var mlDsa = new List<SecurityKey>();
        foreach (var jwk in JsonDocument.Parse(json).RootElement.GetProperty("keys").EnumerateArray())
        {
            if (MlDsaJose.TryFromJwk(jwk, out var key))
            {
                mlDsa.Add(key);
            }
        }

        // Microsoft.IdentityModel reads an AKP key as a JsonWebKey it cannot verify with: the ML-DSA-65 key replaces it.
        var ids = mlDsa.Select(k => k.KeyId).ToHashSet(StringComparer.Ordinal);
        return (issuer, [.. new JsonWebKeySet(json).GetSigningKeys().Where(k => !ids.Contains(k.KeyId)), .. mlDsa]);
    }

    public static async Task<TokenValidationResult> ValidateAsync(MislataStack stack, string accessToken)
    {
        var (issuer, keys) = await DiscoverAsync(stack);
        return await new JsonWebTokenHandler().ValidateTokenAsync(accessToken, new TokenValidationParameters
        {
            ValidIssuer = issuer,
            ValidAudience = "mislata-api",
            IssuerSigningKeys = keys,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidAlgorithms = ["ES256", MlDsaJose.Algorithm],
            ClockSkew = TimeSpan.FromSeconds(30),
        });
    }
}
