using System.Formats.Asn1;
using System.Text.Json;
using Mislata.Crypto.Entropy;

namespace Mislata.Crypto.Algorithms;

/// <summary>Shared plumbing of every algorithm: restore from storage, import (BYOK), public-key encodings.</summary>
internal abstract class KeyAlgorithm(AlgorithmInfo info) : IKeyAlgorithm
{
    public AlgorithmInfo Info { get; } = info;

    public abstract KeyMaterial Generate(KeyType type, IRandomSource random);

    /// <summary>Rebuilds a key from its storage body, validating lengths and consistency.</summary>
    internal abstract KeyMaterial Restore(KeyType type, PrivateForm form, ReadOnlySpan<byte> body);

    /// <summary>Validates a raw public key (length, curve, point, modulus).</summary>
    internal virtual PublicKey ImportPublicRaw(KeyType type, ReadOnlySpan<byte> raw) =>
        throw CryptoException.Mismatch(Info.Name, "have a public key");

    internal abstract KeyMaterial ImportRaw(KeyType type, ReadOnlySpan<byte> raw);

    internal abstract KeyMaterial ImportPkcs8(KeyType type, ReadOnlySpan<byte> der);

    internal abstract KeyMaterial ImportJwk(KeyType type, JsonElement jwk);

    /// <summary>SubjectPublicKeyInfo DER.</summary>
    internal virtual byte[] ExportSpki(PublicKey key) => throw CryptoException.Mismatch(Info.Name, "export a public key");

    /// <summary>Writes the algorithm-specific JWK members (kty, alg and key members); kid/use are added by the exporter.</summary>
    internal virtual void WriteJwk(Utf8JsonWriter writer, PublicKey key) => throw CryptoException.Mismatch(Info.Name, "export a JWK");

    internal KeyMaterial CheckType(KeyMaterial key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Algorithm == Info.Name ? key : throw CryptoException.Mismatch(key.Algorithm, "be used as " + Info.Name);
    }

    internal PublicKey CheckType(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Algorithm == Info.Name ? key : throw CryptoException.Mismatch(key.Algorithm, "be used as " + Info.Name);
    }

    internal static byte[] BuildSpki(string oid, ReadOnlySpan<byte> raw)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(oid);
            }

            writer.WriteBitString(raw);
        }

        return writer.Encode();
    }

    /// <summary>Reads PKCS#8 PrivateKeyInfo and returns (algorithm OID, privateKey OCTET STRING content).</summary>
    internal static (string Oid, byte[] PrivateKey) ReadPkcs8(ReadOnlySpan<byte> der)
    {
        try
        {
            var reader = new AsnReader(der.ToArray(), AsnEncodingRules.DER);
            var seq = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            if (!seq.TryReadInt32(out var version) || version is not (0 or 1))
            {
                throw CryptoException.InvalidKey();
            }

            var alg = seq.ReadSequence();
            var oid = alg.ReadObjectIdentifier();
            var key = seq.ReadOctetString();
            return (oid, key);
        }
        catch (AsnContentException)
        {
            throw CryptoException.InvalidKey("The PKCS#8 structure is malformed.");
        }
    }

    internal static byte[] JwkBytes(JsonElement jwk, string member)
    {
        if (jwk.ValueKind != JsonValueKind.Object || !jwk.TryGetProperty(member, out var value) || value.ValueKind != JsonValueKind.String)
        {
            throw CryptoException.InvalidKey($"The JWK has no '{member}'.");
        }

        return Base64Url.TryDecode(value.GetString()!, out var bytes) ? bytes : throw CryptoException.InvalidKey($"The JWK member '{member}' is not base64url.");
    }

    internal static string? JwkString(JsonElement jwk, string member) =>
        jwk.ValueKind == JsonValueKind.Object && jwk.TryGetProperty(member, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    internal static void RequireJwk(JsonElement jwk, string member, string expected)
    {
        if (JwkString(jwk, member) != expected)
        {
            throw CryptoException.InvalidKey($"The JWK '{member}' must be '{expected}'.");
        }
    }
}

/// <summary>Strict unpadded base64url (RFC 7515 §2).</summary>
internal static class Base64Url
{
    public static string Encode(ReadOnlySpan<byte> data) => System.Buffers.Text.Base64Url.EncodeToString(data);

    public static bool TryDecode(string text, out byte[] bytes)
    {
        bytes = [];
        if (text.Contains('=', StringComparison.Ordinal))
        {
            return false;
        }

        try
        {
            bytes = System.Buffers.Text.Base64Url.DecodeFromChars(text);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
