using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Primitives;

namespace Mislata.Crypto.Payloads;

/// <summary>The schemes (<c>a</c>) of CRYPTO.md.</summary>
public static class PayloadSchemes
{
    public const string MlKem512 = "ML-KEM-512+A256GCM";
    public const string MlKem768 = "ML-KEM-768+A256GCM";
    public const string MlKem1024 = "ML-KEM-1024+A256GCM";
    public const string RsaOaep256 = "RSA-OAEP-256+A256GCM";
    public const string A256Gcm = "A256GCM";

    public static IReadOnlyList<string> All { get; } = [MlKem512, MlKem768, MlKem1024, RsaOaep256, A256Gcm];
}

/// <summary>How the plaintext is given back on decrypt (<c>e</c>).</summary>
public static class PlaintextEncodings
{
    public const string Utf8 = "utf8";
    public const string Base64 = "base64";
}

/// <summary>A parsed, structurally valid <c>encryptedPayload</c>. Header fields can be read before decrypting.</summary>
public sealed record EncryptedPayload(
    int Version,
    string Scheme,
    Guid KeyId,
    int KeyVersion,
    string Encoding,
    ReadOnlyMemory<byte> EncapsulatedKey,
    ReadOnlyMemory<byte> Nonce,
    ReadOnlyMemory<byte> Ciphertext,
    ReadOnlyMemory<byte> Tag);

/// <summary>The result of a decryption. The caller zeroes <see cref="Plaintext"/> when done.</summary>
public sealed record DecryptedPayload(byte[] Plaintext, string Encoding, Guid KeyId, int KeyVersion);

/// <summary>
/// The public <c>encryptedPayload</c> format (CRYPTO.md): base64 of UTF-8 JSON {v,a,k,kv,ek?,n,c,t,e}. Parsing is strict
/// (→ <see cref="CryptoError.InvalidPayload"/>); any authentication failure is one generic
/// <see cref="CryptoError.DecryptionFailed"/>.
/// </summary>
public static class EncryptedPayloadCodec
{
    public const int FormatVersion = 1;
    private const int CekLength = 32;
    private static readonly string[] Fields = ["v", "a", "k", "kv", "ek", "n", "c", "t", "e"];

    /// <summary>
    /// Encrypts under <paramref name="key"/> (ML-KEM or RSA encryption key: its public part is used; AES-256-GCM: the key).
    /// <paramref name="random"/> (the entropy service) supplies the nonce, the ML-KEM encapsulation randomness and the RSA CEK.
    /// </summary>
    public static string Encrypt(KeyMaterial key, Guid keyId, int keyVersion, ReadOnlySpan<byte> plaintext, string encoding, string? context, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.PublicKey is not null
            ? Encrypt(key.PublicKey, keyId, keyVersion, plaintext, encoding, context, random)
            : EncryptCore(key.Algorithm, key.KeyType, null, key, keyId, keyVersion, plaintext, encoding, context, random);
    }

    /// <summary>Encrypts with the public key only (what a third party does).</summary>
    public static string Encrypt(PublicKey key, Guid keyId, int keyVersion, ReadOnlySpan<byte> plaintext, string encoding, string? context, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(key);
        return EncryptCore(key.Algorithm, key.KeyType, key, null, keyId, keyVersion, plaintext, encoding, context, random);
    }

    private static string EncryptCore(string algorithm, KeyType type, PublicKey? publicKey, KeyMaterial? symmetric, Guid keyId, int keyVersion, ReadOnlySpan<byte> plaintext, string encoding, string? context, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var scheme = SchemeFor(algorithm, type);
        if (keyVersion < 1)
        {
            throw new CryptoException(CryptoError.InvalidArgument, "The key version must be ≥ 1.");
        }

        if (encoding is not (PlaintextEncodings.Utf8 or PlaintextEncodings.Base64))
        {
            throw new CryptoException(CryptoError.InvalidArgument, "The encoding must be utf8 or base64.");
        }

        var cek = new byte[CekLength];
        byte[]? ek = null;
        try
        {
            switch (scheme)
            {
                case PayloadSchemes.A256Gcm:
                    // The key's own pooled contexts below: the key is not copied.
                    break;
                case PayloadSchemes.RsaOaep256:
                    random.Fill(cek);
                    ek = AlgorithmRegistry.Default.GetKeyTransport(algorithm).WrapKey(publicKey!, cek);
                    break;
                default:
                    var (ct, ss) = AlgorithmRegistry.Default.GetKem(algorithm).Encapsulate(publicKey!, random);
                    ek = ct;
                    DeriveCek(ss, scheme, cek);
                    // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the ML-KEM shared secret, never returned
                    CryptographicOperations.ZeroMemory(ss);
                    break;
            }

            var nonce = new byte[AesGcmPrimitive.NonceLength];
            random.Fill(nonce);
            var ciphertext = new byte[plaintext.Length];
            var tag = new byte[AesGcmPrimitive.TagLength];
            // Stryker disable once String : Guid.ToString("") is the "D" format: same key id text
            var kid = keyId.ToString("D");
            var aad = Aad(scheme, kid, keyVersion, encoding, context);
            if (scheme == PayloadSchemes.A256Gcm)
            {
                AesGcmPrimitive.Encrypt(AesContexts(symmetric!), nonce, plaintext, ciphertext, tag, aad);
            }
            else
            {
                AesGcmPrimitive.Encrypt(cek, nonce, plaintext, ciphertext, tag, aad);
            }

            var buffer = new ArrayBufferWriter<byte>(256 + (plaintext.Length * 4 / 3));
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteNumber("v", FormatVersion);
                writer.WriteString("a", scheme);
                writer.WriteString("k", kid);
                writer.WriteNumber("kv", keyVersion);
                if (ek is not null)
                {
                    writer.WriteBase64String("ek", ek);
                }

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
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the content key, never returned
            CryptographicOperations.ZeroMemory(cek);
        }
    }

    /// <summary>The scheme a key of this algorithm and type encrypts with; otherwise <see cref="CryptoError.AlgorithmMismatch"/>.</summary>
    public static string SchemeFor(string algorithm, KeyType type)
    {
        if (!AlgorithmRegistry.Default.TryGet(algorithm, out var info) ||
            !info.CapabilitiesFor(type).HasFlag(AlgorithmCapabilities.Encrypt) || info.PayloadScheme is null)
        {
            throw CryptoException.Mismatch(algorithm, "encrypt");
        }

        return info.PayloadScheme;
    }

    /// <summary>Strict parsing; every defect → <see cref="CryptoError.InvalidPayload"/>. Does not authenticate anything.</summary>
    public static EncryptedPayload Parse(string encryptedPayload)
    {
        if (string.IsNullOrEmpty(encryptedPayload))
        {
            throw CryptoException.InvalidPayload();
        }

        var json = StrictBase64(encryptedPayload) ?? throw CryptoException.InvalidPayload("The encrypted payload is not valid base64.");
        try
        {
            // Stryker disable once Initializer : the defaults differ only in MaxDepth (64 instead of 2), and any nested value is refused anyway because every field must be a string or a number
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 2 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw CryptoException.InvalidPayload();
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!Fields.Contains(property.Name) || !seen.Add(property.Name))
                {
                    throw CryptoException.InvalidPayload("The encrypted payload has an unknown or repeated field.");
                }
            }

            var v = Int(root, "v");
            if (v != FormatVersion)
            {
                throw CryptoException.InvalidPayload("Unsupported encrypted payload version.");
            }

            var a = Str(root, "a");
            if (!PayloadSchemes.All.Contains(a))
            {
                throw CryptoException.InvalidPayload("Unknown encryption scheme.");
            }

            var k = Str(root, "k");
            if (k.Length != 36 || !Guid.TryParseExact(k, "D", out var keyId) || keyId.ToString("D") != k)
            {
                throw CryptoException.InvalidPayload("The key id is not a lower-case GUID.");
            }

            var kv = Int(root, "kv");
            if (kv < 1)
            {
                throw CryptoException.InvalidPayload("The key version must be ≥ 1.");
            }

            byte[] ek = [];
            if (a == PayloadSchemes.A256Gcm)
            {
                if (seen.Contains("ek"))
                {
                    throw CryptoException.InvalidPayload("A256GCM payloads carry no ek.");
                }
            }
            else
            {
                ek = Bytes(root, "ek");
                var ok = a switch
                {
                    PayloadSchemes.MlKem512 => ek.Length == 768,
                    PayloadSchemes.MlKem768 => ek.Length == 1088,
                    PayloadSchemes.MlKem1024 => ek.Length == 1568,
                    _ => ek.Length is 256 or 384 or 512,
                };
                if (!ok)
                {
                    throw CryptoException.InvalidPayload("The ek has the wrong length for the scheme.");
                }
            }

            var n = Bytes(root, "n");
            var c = Bytes(root, "c");
            var t = Bytes(root, "t");
            if (n.Length != AesGcmPrimitive.NonceLength || t.Length != AesGcmPrimitive.TagLength)
            {
                throw CryptoException.InvalidPayload("The nonce must be 12 bytes and the tag 16 bytes.");
            }

            var e = Str(root, "e");
            if (e is not (PlaintextEncodings.Utf8 or PlaintextEncodings.Base64))
            {
                throw CryptoException.InvalidPayload("The encoding must be utf8 or base64.");
            }

            return new EncryptedPayload(v, a, keyId, kv, e, ek, n, c, t);
        }
        catch (JsonException)
        {
            throw CryptoException.InvalidPayload("The encrypted payload is not valid JSON.");
        }
        catch (InvalidOperationException)
        {
            // A name or value that is not valid UTF-8: System.Text.Json finds it only when it reads the string.
            throw CryptoException.InvalidPayload("The encrypted payload is not valid UTF-8 JSON.");
        }
    }

    /// <summary>Parses and decrypts in one step.</summary>
    public static DecryptedPayload Decrypt(KeyMaterial key, string encryptedPayload, string? context) =>
        Decrypt(key, Parse(encryptedPayload), context);

    /// <summary>
    /// Decrypts with the key version named by <see cref="EncryptedPayload.KeyId"/>/<see cref="EncryptedPayload.KeyVersion"/>.
    /// A key of another algorithm → <see cref="CryptoError.AlgorithmMismatch"/>; anything else → <see cref="CryptoError.DecryptionFailed"/>.
    /// </summary>
    public static DecryptedPayload Decrypt(KeyMaterial key, EncryptedPayload payload, string? context)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(payload);
        if (SchemeFor(key.Algorithm, key.KeyType) != payload.Scheme)
        {
            throw CryptoException.Mismatch(key.Algorithm, "decrypt a " + payload.Scheme + " payload");
        }

        var cek = new byte[CekLength];
        try
        {
            switch (payload.Scheme)
            {
                case PayloadSchemes.A256Gcm:
                    // The key's own pooled contexts below: the key is not copied.
                    break;
                case PayloadSchemes.RsaOaep256:
                    var unwrapped = AlgorithmRegistry.Default.GetKeyTransport(key.Algorithm).UnwrapKey(key, payload.EncapsulatedKey.Span);
                    if (unwrapped.Length != CekLength)
                    {
                        // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the unwrapped content key of a refused payload
                        CryptographicOperations.ZeroMemory(unwrapped);
                        throw CryptoException.DecryptionFailed();
                    }

                    unwrapped.CopyTo(cek, 0);
                    // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the unwrapped content key, copied into the CEK
                    CryptographicOperations.ZeroMemory(unwrapped);
                    break;
                default:
                    var ss = AlgorithmRegistry.Default.GetKem(key.Algorithm).Decapsulate(key, payload.EncapsulatedKey.Span);
                    DeriveCek(ss, payload.Scheme, cek);
                    // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the ML-KEM shared secret, never returned
                    CryptographicOperations.ZeroMemory(ss);
                    break;
            }

            var plaintext = new byte[payload.Ciphertext.Length];
            // Stryker disable once String : Guid.ToString("") is the "D" format: same AAD
            var aad = Aad(payload.Scheme, payload.KeyId.ToString("D"), payload.KeyVersion, payload.Encoding, context);
            if (payload.Scheme == PayloadSchemes.A256Gcm)
            {
                AesGcmPrimitive.Decrypt(AesContexts(key), payload.Nonce.Span, payload.Ciphertext.Span, payload.Tag.Span, plaintext, aad);
            }
            else
            {
                AesGcmPrimitive.Decrypt(cek, payload.Nonce.Span, payload.Ciphertext.Span, payload.Tag.Span, plaintext, aad);
            }

            return new DecryptedPayload(plaintext, payload.Encoding, payload.KeyId, payload.KeyVersion);
        }
        // Stryker disable once Equality : every CryptoException raised inside the try is already DecryptionFailed (tag, OAEP, ek length) and none is a mismatch, so filtering on == or != rethrows the same error
        catch (CryptoException e) when (e.Error != CryptoError.AlgorithmMismatch)
        {
            // One generic failure whatever went wrong (OAEP padding, length, tag).
            throw CryptoException.DecryptionFailed();
        }
        finally
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the content key, never returned
            CryptographicOperations.ZeroMemory(cek);
        }
    }

    /// <summary>An AES-256-GCM key's reusable contexts, cached in the key (freed and cleansed when it is disposed).</summary>
    private static AesGcmPool AesContexts(KeyMaterial key) => key.GetOrCreate(static k => new AesGcmPool(k));

    /// <summary>CEK = HKDF-SHA256(IKM = ss, salt = empty, info = "mislata/v1/" + a, L = 32).</summary>
    internal static void DeriveCek(ReadOnlySpan<byte> sharedSecret, string scheme, Span<byte> cek) =>
        Hkdf.Sha256(sharedSecret, [], Encoding.ASCII.GetBytes("mislata/v1/" + scheme), cek);

    /// <summary>AAD = ASCII "mislata/v1|{a}|{k}|{kv}|{e}|" ‖ UTF-8(context).</summary>
    internal static byte[] Aad(string scheme, string keyId, int keyVersion, string encoding, string? context) =>
        [.. Encoding.ASCII.GetBytes($"mislata/v1|{scheme}|{keyId}|{keyVersion.ToString(CultureInfo.InvariantCulture)}|{encoding}|"), .. Encoding.UTF8.GetBytes(context ?? string.Empty)];

    private static string Str(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var p) || p.ValueKind != JsonValueKind.String)
        {
            throw CryptoException.InvalidPayload($"The field '{name}' is missing or not a string.");
        }

        // Every value is ASCII (scheme names, a GUID, base64, utf8/base64), for which encoders write two escapes at
        // most: "\u002B" for '+' (System.Text.Json) and "\/" for '/' (PHP). Any other escape (e.g. "\u002b") would let
        // a changed byte decode to the same payload.
        var raw = p.GetRawText();
        if (raw.Contains('\\', StringComparison.Ordinal) &&
            raw.Replace("\\u002B", string.Empty, StringComparison.Ordinal).Replace("\\/", string.Empty, StringComparison.Ordinal).Contains('\\', StringComparison.Ordinal))
        {
            throw CryptoException.InvalidPayload($"The field '{name}' has an escape sequence.");
        }

        return p.GetString()!;
    }

    private static int Int(JsonElement root, string name) =>
        root.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.Number && p.TryGetInt32(out var i) && p.GetRawText() == i.ToString(CultureInfo.InvariantCulture)
            ? i
            : throw CryptoException.InvalidPayload($"The field '{name}' is missing or not an integer.");

    private static byte[] Bytes(JsonElement root, string name) =>
        StrictBase64(Str(root, name)) ?? throw CryptoException.InvalidPayload($"The field '{name}' is not valid base64.");

    /// <summary>Canonical standard base64 only (no whitespace, correct padding, zero pad bits).</summary>
    internal static byte[]? StrictBase64(string text)
    {
        // Stryker disable once Block : Convert.TryFromBase64String refuses every text whose length is not a multiple of 4, and the canonical re-encoding check refuses the rest: the early return only saves an allocation
        if (text.Length % 4 != 0)
        {
            return null;
        }

        var bytes = new byte[text.Length / 4 * 3];
        // Stryker disable once Block : when decoding fails, written = 0 and the re-encoding "" differs from any non-empty text, so the canonical check returns null as well
        if (!Convert.TryFromBase64String(text, bytes, out var written))
        {
            return null;
        }

        var result = bytes.AsSpan(0, written).ToArray();
        return Convert.ToBase64String(result) == text ? result : null;
    }
}
