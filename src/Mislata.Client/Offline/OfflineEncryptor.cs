using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mislata.Client.Contracts;
using Org.BouncyCastle.Crypto.Kems;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mislata.Client.Offline;

/// <summary>
/// A key version's exported public part: enough to encrypt without calling the API. Fetch it once with
/// <c>GET /keys/{id}/public?format=raw</c> (<see cref="FromPublicKey"/>) and ship it with the producer.
/// </summary>
public sealed record OfflinePublicKey(Guid KeyId, int Version, string Algorithm, byte[] RawPublicKey)
{
    /// <summary>From the API's answer to <c>GET /keys/{id}/public?format=raw</c>.</summary>
    public static OfflinePublicKey FromPublicKey(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new OfflinePublicKey(key.KeyId, key.Version, key.Algorithm, key.RawBytes());
    }
}

/// <summary>
/// Encrypts to an exported public key following CRYPTO.md, producing exactly the <c>encryptedPayload</c> that
/// <c>POST /decrypt</c> accepts: ML-KEM-512/768/1024 (FIPS 203 encapsulation, HKDF-SHA256 content key) or RSA
/// (OAEP-SHA-256 key transport), then AES-256-GCM. Only the platform, which holds the private key, can decrypt.
/// </summary>
public static class OfflineEncryptor
{
    private const int FormatVersion = 1;

    /// <summary>
    /// Encrypts <paramref name="plaintext"/>; <paramref name="encoding"/> (<c>utf8</c> or <c>base64</c>) is how
    /// <c>/decrypt</c> will give it back; <paramref name="context"/> must be given again to decrypt.
    /// </summary>
    public static string Encrypt(OfflinePublicKey key, ReadOnlySpan<byte> plaintext, string encoding = ValueEncoding.Base64, string? context = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (encoding is not (ValueEncoding.Utf8 or ValueEncoding.Base64))
        {
            throw new ArgumentException("utf8 or base64", nameof(encoding));
        }

        if (key.Version < 1)
        {
            throw new ArgumentException("key version must be ≥ 1", nameof(key));
        }

        var cek = new byte[32];
        byte[] ek;
        string scheme;
        try
        {
            switch (key.Algorithm)
            {
                case "ML-KEM-512" or "ML-KEM-768" or "ML-KEM-1024":
                    scheme = key.Algorithm + "+A256GCM";
                    var parameters = key.Algorithm switch
                    {
                        "ML-KEM-512" => MLKemParameters.ml_kem_512,
                        "ML-KEM-768" => MLKemParameters.ml_kem_768,
                        _ => MLKemParameters.ml_kem_1024,
                    };
                    var publicKey = MLKemPublicKeyParameters.FromEncoding(parameters, key.RawPublicKey);
                    var encapsulator = new MLKemEncapsulator(parameters);
                    encapsulator.Init(new Org.BouncyCastle.Crypto.Parameters.ParametersWithRandom(publicKey, new SecureRandom()));
                    ek = new byte[encapsulator.EncapsulationLength];
                    var sharedSecret = new byte[encapsulator.SecretLength];
                    encapsulator.Encapsulate(ek, sharedSecret);
                    HKDF.DeriveKey(HashAlgorithmName.SHA256, sharedSecret, cek, salt: [], info: Encoding.ASCII.GetBytes("mislata/v1/" + scheme));
                    CryptographicOperations.ZeroMemory(sharedSecret);
                    break;
                case "RSA-2048" or "RSA-3072" or "RSA-4096":
                    scheme = "RSA-OAEP-256+A256GCM";
                    RandomNumberGenerator.Fill(cek);
                    using (var rsa = RSA.Create())
                    {
                        rsa.ImportRSAPublicKey(key.RawPublicKey, out _);
                        ek = rsa.Encrypt(cek, RSAEncryptionPadding.OaepSHA256);
                    }

                    break;
                default:
                    throw new NotSupportedException($"offline encryption is for ML-KEM and RSA keys, not {key.Algorithm}");
            }

            var kid = key.KeyId.ToString("D");
            var nonce = RandomNumberGenerator.GetBytes(12);
            var ciphertext = new byte[plaintext.Length];
            var tag = new byte[16];
            using (var aes = new AesGcm(cek, 16))
            {
                aes.Encrypt(nonce, plaintext, ciphertext, tag, AssociatedData(scheme, kid, key.Version, encoding, context));
            }

            var buffer = new ArrayBufferWriter<byte>(256 + ek.Length * 2 + plaintext.Length * 2);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteNumber("v", FormatVersion);
                writer.WriteString("a", scheme);
                writer.WriteString("k", kid);
                writer.WriteNumber("kv", key.Version);
                writer.WriteBase64String("ek", ek);
                writer.WriteBase64String("n", nonce);
                writer.WriteBase64String("c", ciphertext);
                writer.WriteBase64String("t", tag);
                writer.WriteString("e", encoding);
                writer.WriteEndObject();
            }

            return Convert.ToBase64String(buffer.WrittenSpan);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(cek);
        }
    }

    /// <summary>UTF-8 text, given back as <c>utf8</c> by <c>/decrypt</c>.</summary>
    public static string EncryptText(OfflinePublicKey key, string plaintext, string? context = null) =>
        Encrypt(key, Encoding.UTF8.GetBytes(plaintext), ValueEncoding.Utf8, context);

    /// <summary>CRYPTO.md: ASCII <c>mislata/v1|{a}|{k}|{kv}|{e}|</c> then the UTF-8 of <c>context</c>.</summary>
    internal static byte[] AssociatedData(string scheme, string kid, int version, string encoding, string? context)
    {
        var prefix = Encoding.ASCII.GetBytes($"mislata/v1|{scheme}|{kid}|{version.ToString(System.Globalization.CultureInfo.InvariantCulture)}|{encoding}|");
        return context is null ? prefix : [.. prefix, .. Encoding.UTF8.GetBytes(context)];
    }
}
