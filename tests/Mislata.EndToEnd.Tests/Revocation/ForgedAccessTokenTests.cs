using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;
using Mislata.EndToEnd.Tests.Identity;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Revocation;

/// <summary>
/// Issue 9: the classic JWT forgeries — an unsigned <c>alg: none</c> token and an HS256 token keyed with identity's
/// published public key (algorithm confusion) — carrying a genuine operator token's claims, are refused by every api
/// replica and by identity's management API.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class ForgedAccessTokenTests(TenancyFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task Alg_none_and_HS256_keyed_with_identitys_public_key_are_refused_by_the_api_and_identity()
    {
        var genuine = await Oidc.OperatorTokenAsync(_stack);
        await Credentials.AssertAcceptedEverywhereAsync(_stack, Credentials.ApplicationProbe(genuine));
        var parts = genuine.Split('.');
        var header = JsonNode.Parse(Base64UrlEncoder.Decode(parts[0]))!.AsObject();
        var payload = parts[1];
        var kid = header["kid"]?.GetValue<string>();

        var forged = new List<string>();
        foreach (var alg in new[] { "none", "None" })
        {
            forged.Add(Token(new JsonObject { ["alg"] = alg, ["typ"] = "at+jwt", ["kid"] = kid }, payload, _ => []));
            forged.Add(Token(new JsonObject { ["alg"] = alg, ["typ"] = "at+jwt" }, payload, _ => []));
        }

        using var client = _stack.Gateway.CreateClient();
        var jwksJson = await client.GetStringAsync(new Uri("/.well-known/jwks", UriKind.Relative));
        foreach (var secret in PublicKeyForms(jwksJson))
        {
            forged.Add(Token(new JsonObject { ["alg"] = "HS256", ["typ"] = "at+jwt", ["kid"] = kid }, payload, input => HMACSHA256.HashData(secret, input)));
            forged.Add(Token(new JsonObject { ["alg"] = "HS256", ["typ"] = "at+jwt" }, payload, input => HMACSHA256.HashData(secret, input)));
        }

        foreach (var token in forged)
        {
            await Credentials.AssertRefusedEverywhereAsync(_stack, Credentials.ApplicationProbe(token), TimeSpan.Zero);
        }
    }

    private static string Token(JsonObject header, string payload, Func<byte[], byte[]> sign)
    {
        var input = Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + payload;
        return input + "." + Base64UrlEncoder.Encode(sign(Encoding.ASCII.GetBytes(input)));
    }

    /// <summary>Every encoding of identity's public key a confused verifier might use as the HMAC secret.</summary>
    private static IEnumerable<byte[]> PublicKeyForms(string jwksJson)
    {
        yield return Encoding.UTF8.GetBytes(jwksJson);
        foreach (var key in JsonDocument.Parse(jwksJson).RootElement.GetProperty("keys").EnumerateArray())
        {
            yield return Encoding.UTF8.GetBytes(key.GetRawText());
            if (key.GetProperty("kty").GetString() == "AKP")
            {
                // An ML-DSA-65 key: its raw public key, as published.
                var pub = key.GetProperty("pub").GetString()!;
                yield return Base64UrlEncoder.DecodeBytes(pub);
                yield return Encoding.ASCII.GetBytes(pub);
                continue;
            }

            var x = Base64UrlEncoder.DecodeBytes(key.GetProperty("x").GetString());
            var y = Base64UrlEncoder.DecodeBytes(key.GetProperty("y").GetString());
            yield return [.. x, .. y];
            yield return [0x04, .. x, .. y];
            using var ecdsa = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = x, Y = y } });
            yield return ecdsa.ExportSubjectPublicKeyInfo();
            yield return Encoding.UTF8.GetBytes(ecdsa.ExportSubjectPublicKeyInfoPem());
        }
    }
}
