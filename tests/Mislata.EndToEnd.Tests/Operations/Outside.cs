using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Org.BouncyCastle.Crypto.Kems;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;

namespace Mislata.EndToEnd.Tests.Operations;

/// <summary>
/// What a third party does with an exported public key and CRYPTO.md alone — BouncyCastle's low-level ML-KEM, ML-DSA,
/// SLH-DSA and Ed25519 and .NET's HKDF, AES-GCM, RSA and ECDSA, never Mislata.Crypto: builds an <c>encryptedPayload</c>
/// and verifies signatures.
/// </summary>
internal static class Outside
{
    /// <summary>An <c>encryptedPayload</c> for an ML-KEM or RSA-OAEP key version, from its public key (SubjectPublicKeyInfo PEM).</summary>
    public static string Encrypt(string algorithm, string publicPem, Guid keyId, int version, byte[] plaintext, string encoding, string? context)
    {
        var cek = new byte[32];
        byte[] ek;
        string scheme;
        if (algorithm.StartsWith("RSA-", StringComparison.Ordinal))
        {
            scheme = "RSA-OAEP-256+A256GCM";
            RandomNumberGenerator.Fill(cek);
            using var rsa = RSA.Create();
            rsa.ImportFromPem(publicPem);
            ek = rsa.Encrypt(cek, RSAEncryptionPadding.OaepSHA256);
        }
        else
        {
            scheme = algorithm + "+A256GCM";
            var publicKey = (MLKemPublicKeyParameters)PublicKeyFactory.CreateKey(Der(publicPem));
            var kem = new MLKemEncapsulator(publicKey.Parameters);
            kem.Init(publicKey);
            ek = new byte[kem.EncapsulationLength];
            var sharedSecret = new byte[kem.SecretLength];
            kem.Encapsulate(ek, sharedSecret);
            HKDF.DeriveKey(HashAlgorithmName.SHA256, sharedSecret, cek, salt: [], info: Encoding.ASCII.GetBytes("mislata/v1/" + scheme));
        }

        var nonce = RandomNumberGenerator.GetBytes(12);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[16];
        var kid = keyId.ToString("D");
        byte[] aad = [.. Encoding.ASCII.GetBytes($"mislata/v1|{scheme}|{kid}|{version}|{encoding}|"), .. Encoding.UTF8.GetBytes(context ?? string.Empty)];
        using (var aes = new AesGcm(cek, 16))
        {
            aes.Encrypt(nonce, plaintext, ciphertext, tag, aad);
        }

        var json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["v"] = 1, ["a"] = scheme, ["k"] = kid, ["kv"] = version, ["ek"] = Convert.ToBase64String(ek),
            ["n"] = Convert.ToBase64String(nonce), ["c"] = Convert.ToBase64String(ciphertext), ["t"] = Convert.ToBase64String(tag), ["e"] = encoding,
        });
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(json));
    }

    /// <summary>Verifies a signature of <c>/sign</c> with the exported public key (PEM), following CRYPTO.md "Signatures".</summary>
    public static bool Verify(string algorithm, string publicPem, byte[] message, string? context, byte[] signature)
    {
        var ctx = Encoding.UTF8.GetBytes(context ?? string.Empty);
        switch (algorithm)
        {
            case var a when a.StartsWith("ML-DSA-", StringComparison.Ordinal):
            {
                var key = (MLDsaPublicKeyParameters)PublicKeyFactory.CreateKey(Der(publicPem));
                var verifier = new MLDsaSigner(key.Parameters, deterministic: true);
                verifier.Init(false, new ParametersWithContext(key, ctx));
                verifier.BlockUpdate(message, 0, message.Length);
                return verifier.VerifySignature(signature);
            }

            case var a when a.StartsWith("SLH-DSA-", StringComparison.Ordinal):
            {
                var key = (SlhDsaPublicKeyParameters)PublicKeyFactory.CreateKey(Der(publicPem));
                var verifier = new SlhDsaSigner(key.Parameters, deterministic: true);
                verifier.Init(false, new ParametersWithContext(key, ctx));
                verifier.BlockUpdate(message, 0, message.Length);
                return verifier.VerifySignature(signature);
            }

            case "Ed25519":
            {
                var verifier = new Ed25519Signer();
                verifier.Init(false, PublicKeyFactory.CreateKey(Der(publicPem)));
                verifier.BlockUpdate(message, 0, message.Length);
                return verifier.VerifySignature(signature);
            }

            case "ECDSA-P256" or "ECDSA-P384":
            {
                using var ec = ECDsa.Create();
                ec.ImportFromPem(publicPem);
                return ec.VerifyData(message, signature, algorithm == "ECDSA-P256" ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA384, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            }

            default:
            {
                using var rsa = RSA.Create();
                rsa.ImportFromPem(publicPem);
                return rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
            }
        }
    }

    /// <summary>A structurally valid A256GCM payload naming <paramref name="keyId"/>: what a decrypt with the wrong kind of key gets.</summary>
    public static string ForeignPayload(Guid keyId, string scheme = "A256GCM", int version = 1)
    {
        var json = $$"""{"v":1,"a":"{{scheme}}","k":"{{keyId:D}}","kv":{{version}},"n":"{{Convert.ToBase64String(new byte[12])}}","c":"AAAA","t":"{{Convert.ToBase64String(new byte[16])}}","e":"utf8"}""";
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(json));
    }

    /// <summary>The payload with one field's first byte changed (still well-formed): must fail as <c>decryption_failed</c>.</summary>
    public static string Flip(string encryptedPayload, string field)
    {
        var json = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(Convert.FromBase64String(encryptedPayload))!;
        var bytes = Convert.FromBase64String(json[field].GetString()!);
        bytes[0] ^= 0x01;
        var changed = json.ToDictionary(e => e.Key, e => e.Key == field ? (object)Convert.ToBase64String(bytes) : e.Value);
        return Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(changed));
    }

    private static byte[] Der(string pem)
    {
        var fields = PemEncoding.Find(pem);
        return Convert.FromBase64String(pem[fields.Base64Data]);
    }
}
