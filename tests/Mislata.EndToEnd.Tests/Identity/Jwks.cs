using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>Verifies access tokens the way the api does: only the published JWKS, with Microsoft.IdentityModel.</summary>
public static class Jwks
{
    public static async Task<(string Issuer, JsonWebKeySet Keys)> DiscoverAsync(MislataStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        using var client = stack.Gateway.CreateClient();
        var discovery = JsonDocument.Parse(await client.GetStringAsync(new Uri("/.well-known/openid-configuration", UriKind.Relative))).RootElement;
        var issuer = discovery.GetProperty("issuer").GetString()!;
        var jwksUri = new Uri(discovery.GetProperty("jwks_uri").GetString()!);
        var keys = new JsonWebKeySet(await client.GetStringAsync(new Uri(jwksUri.PathAndQuery, UriKind.Relative)));
        return (issuer, keys);
    }

    public static async Task<TokenValidationResult> ValidateAsync(MislataStack stack, string accessToken)
    {
        var (issuer, keys) = await DiscoverAsync(stack);
        return await new JsonWebTokenHandler().ValidateTokenAsync(accessToken, new TokenValidationParameters
        {
            ValidIssuer = issuer,
            ValidAudience = "mislata-api",
            IssuerSigningKeys = keys.GetSigningKeys(),
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidAlgorithms = ["ES256"],
            ClockSkew = TimeSpan.FromSeconds(30),
        });
    }
}
