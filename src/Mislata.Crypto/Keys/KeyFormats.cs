using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;

namespace Mislata.Crypto.Keys;

/// <summary>Formats of <c>GET /keys/{id}/public?format=</c>.</summary>
public enum PublicKeyFormat
{
    Raw,
    Pem,
    Jwk,
}

/// <summary>Formats of <c>POST /keys/import</c> (BYOK).</summary>
public enum ImportFormat
{
    Pkcs8,
    Raw,
    Jwk,
}

/// <summary>Public-key exports exactly as CRYPTO.md "Public keys" says.</summary>
public static class PublicKeyExporter
{
    /// <summary>JWK <c>kid</c>: <c>{keyId}.{version}</c> with the GUID in lower case.</summary>
    public static string Kid(Guid keyId, int version) => $"{keyId:D}.{version}";

    /// <summary><c>raw</c>: base64 of the standard encoding; <c>pem</c>: SubjectPublicKeyInfo PEM; <c>jwk</c>: RFC 7517 JSON.</summary>
    public static string Export(PublicKey key, PublicKeyFormat format, Guid keyId, int version) => format switch
    {
        PublicKeyFormat.Raw => Convert.ToBase64String(key.Raw),
        PublicKeyFormat.Pem => ExportPem(key),
        PublicKeyFormat.Jwk => ExportJwk(key, keyId, version),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    public static byte[] ExportSpki(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Algorithm(key).ExportSpki(key);
    }

    public static string ExportPem(PublicKey key) => PemEncoding.WriteString("PUBLIC KEY", ExportSpki(key)) + "\n";

    public static string ExportJwk(PublicKey key, Guid keyId, int version)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteJwk(writer, key, keyId, version);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Writes one JWK object (for a JWKS the caller writes the surrounding <c>{"keys":[…]}</c>).</summary>
    public static void WriteJwk(Utf8JsonWriter writer, PublicKey key, Guid keyId, int version)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(key);
        writer.WriteStartObject();
        Algorithm(key).WriteJwk(writer, key);
        writer.WriteString("kid", Kid(keyId, version));
        writer.WriteString("use", AlgorithmInfo.JwkUse(key.KeyType));
        writer.WriteEndObject();
    }

    private static KeyAlgorithm Algorithm(PublicKey key) => (KeyAlgorithm)AlgorithmRegistry.Default.Get(key.Algorithm);
}

/// <summary>BYOK import with validation; any defect → <see cref="CryptoError.InvalidKeyMaterial"/>, never a library exception.</summary>
public static class KeyImporter
{
    /// <summary>
    /// Imports private (or symmetric) key material. <paramref name="material"/> is base64 (or PEM) for
    /// <c>pkcs8</c>/<c>raw</c>, JSON text for <c>jwk</c>. Raw means: FIPS 203 64-byte seed or expanded dk, FIPS 204
    /// 32-byte seed or expanded sk, FIPS 205 SK (64 B), Ed25519 32-byte seed, EC private scalar, PKCS#1 RSAPrivateKey,
    /// or the symmetric key bytes. Asymmetric imports pass a pairwise-consistency test before being accepted.
    /// </summary>
    public static KeyMaterial Import(string algorithm, KeyType type, ImportFormat format, string material)
    {
        ArgumentNullException.ThrowIfNull(material);
        if (!AlgorithmRegistry.Default.TryGet(algorithm, out var info) || !info.Supports(type))
        {
            throw CryptoException.Mismatch(algorithm ?? string.Empty, $"be imported as a {type} key");
        }

        var a = (KeyAlgorithm)AlgorithmRegistry.Default.Get(algorithm);
        KeyMaterial key;
        if (format == ImportFormat.Jwk)
        {
            try
            {
                using var doc = JsonDocument.Parse(material);
                key = a.ImportJwk(type, doc.RootElement);
            }
            catch (JsonException)
            {
                throw CryptoException.InvalidKey("The JWK is not valid JSON.");
            }
        }
        else
        {
            var bytes = Decode(material);
            try
            {
                key = format == ImportFormat.Pkcs8 ? a.ImportPkcs8(type, bytes) : a.ImportRaw(type, bytes);
            }
            finally
            {
                // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the decoded import material
                CryptographicOperations.ZeroMemory(bytes);
            }
        }

        if (key.KeyType != type)
        {
            key.Dispose();
            throw CryptoException.InvalidKey("The key type does not match.");
        }

        try
        {
            PairwiseConsistency(key);
        }
        catch
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the refused key is never returned
            key.Dispose();
            throw;
        }

        return key;
    }

    private static byte[] Decode(string material)
    {
        var text = material.Trim();
        if (text.StartsWith("-----BEGIN", StringComparison.Ordinal))
        {
            if (!PemEncoding.TryFind(text, out var fields) || text[fields.Label] is not ("PRIVATE KEY" or "RSA PRIVATE KEY"))
            {
                throw CryptoException.InvalidKey("The PEM is not a private key.");
            }

            text = text[fields.Base64Data].ToString();
        }

        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw CryptoException.InvalidKey("The key material is not valid base64.");
        }
    }

    /// <summary>FIPS 140-3 style pairwise-consistency test: the private key must match its public key.</summary>
    private static void PairwiseConsistency(KeyMaterial key)
    {
        var algorithm = AlgorithmRegistry.Default.Get(key.Algorithm);
        var probe = "mislata pairwise consistency"u8;
        bool ok;
        try
        {
            switch (algorithm)
            {
                case ISignatureAlgorithm signer when key.KeyType == KeyType.Signing:
                    ok = signer.Verify(key.PublicKey!, probe, [], signer.Sign(key, probe, [], OsRandomSource.Instance));
                    break;
                case IKemAlgorithm kem:
                    var (ct, ss) = kem.Encapsulate(key.PublicKey!, OsRandomSource.Instance);
                    ok = CryptographicOperations.FixedTimeEquals(ss, kem.Decapsulate(key, ct));
                    break;
                case IKeyTransportAlgorithm transport when key.KeyType == KeyType.Encryption:
                    ok = transport.UnwrapKey(key, transport.WrapKey(key.PublicKey!, probe)).AsSpan().SequenceEqual(probe);
                    break;
                default:
                    ok = true;
                    break;
            }
        }
        catch (CryptoException)
        {
            ok = false;
        }
        catch (CryptographicException)
        {
            ok = false;
        }

        if (!ok)
        {
            throw CryptoException.InvalidKey("The private key does not match its public key.");
        }
    }
}
