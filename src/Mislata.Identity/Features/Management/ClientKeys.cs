using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace Mislata.Identity.Features.Management;

/// <summary>The public keys of a <c>private_key_jwt</c> client: checked on the way in, written back without anything private.</summary>
internal static class ClientKeys
{
    public const int MaximumKeys = 5;

    private static readonly string[] PrivateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];

    /// <summary>Null error when <paramref name="jwks"/> is a JWK Set of 1–5 public RSA (≥ 2,048 bits) or EC P-256/P-384 signing keys.</summary>
    public static (JsonWebKeySet? Keys, string? Error) Parse(JsonElement jwks)
    {
        if (jwks.ValueKind != JsonValueKind.Object || !jwks.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Array)
        {
            return (null, "jwks is a JWK Set: {\"keys\": [...]}.");
        }

        var count = keys.GetArrayLength();
        if (count is 0 or > MaximumKeys)
        {
            return (null, $"jwks holds 1 to {MaximumKeys} keys.");
        }

        foreach (var key in keys.EnumerateArray())
        {
            if (key.ValueKind != JsonValueKind.Object)
            {
                return (null, "Each key of jwks is a JWK object.");
            }

            if (PrivateMembers.Any(m => key.TryGetProperty(m, out _)))
            {
                return (null, "jwks holds public keys only: a key has a private part. Keep the private key with the client.");
            }

            if (key.TryGetProperty("use", out var use) && use.ValueKind == JsonValueKind.String && use.GetString() != "sig")
            {
                return (null, "jwks keys are signing keys (use \"sig\").");
            }
        }

        JsonWebKeySet set;
        try
        {
            set = new JsonWebKeySet(jwks.GetRawText());
        }
        catch (ArgumentException)
        {
            return (null, "jwks is not a valid JWK Set.");
        }

        foreach (var key in set.Keys)
        {
            var ok = key.Kty switch
            {
                JsonWebAlgorithmsKeyTypes.RSA => !string.IsNullOrEmpty(key.N) && !string.IsNullOrEmpty(key.E) && Base64UrlEncoder.DecodeBytes(key.N).Length * 8 >= 2048,
                JsonWebAlgorithmsKeyTypes.EllipticCurve => key.Crv is JsonWebKeyECTypes.P256 or JsonWebKeyECTypes.P384 && !string.IsNullOrEmpty(key.X) && !string.IsNullOrEmpty(key.Y),
                _ => false,
            };
            if (!ok)
            {
                return (null, "jwks keys are RSA (2,048 bits or more) or EC P-256/P-384 public keys.");
            }
        }

        return (set, null);
    }

    /// <summary>The public members of the keys, as a JWK Set.</summary>
    public static JsonElement ToJson(JsonWebKeySet set)
    {
        var keys = set.Keys.Select(k => new Dictionary<string, string?>
        {
            ["kty"] = k.Kty, ["kid"] = k.Kid, ["use"] = k.Use, ["alg"] = k.Alg,
            ["n"] = k.N, ["e"] = k.E, ["crv"] = k.Crv, ["x"] = k.X, ["y"] = k.Y,
        }.Where(p => p.Value is not null).ToDictionary(p => p.Key, p => p.Value));
        return JsonSerializer.SerializeToElement(new { keys });
    }
}
