using System.Buffers.Text;
using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text.Json;
using Mislata.Crypto;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;

namespace Mislata.Core.Licensing;

/// <summary>The public half of a vendor signing key pair: an ML-DSA-65 key and an Ed25519 key under one key id.</summary>
public sealed record VendorPublicKey(string KeyId, PublicKey MlDsa65, PublicKey Ed25519)
{
    public const string FileFormat = "mislata-license-vendor-public-key";

    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["format"] = FileFormat,
        ["keyId"] = KeyId,
        ["ml-dsa-65"] = Base64Url.EncodeToString(MlDsa65.Raw),
        ["ed25519"] = Base64Url.EncodeToString(Ed25519.Raw),
    }, LicenceJson.Indented);

    /// <summary>Reads a public key file; throws <see cref="FormatException"/> when it is not one.</summary>
    public static VendorPublicKey FromJson(string json)
    {
        var fields = LicenceJson.ReadStrings(json, FileFormat);
        try
        {
            return new VendorPublicKey(
                LicenceJson.KeyId(fields["keyId"]),
                PublicKey.FromRaw(AlgorithmNames.MlDsa65, KeyType.Signing, Base64Url.DecodeFromChars(fields["ml-dsa-65"])),
                PublicKey.FromRaw(AlgorithmNames.Ed25519, KeyType.Signing, Base64Url.DecodeFromChars(fields["ed25519"])));
        }
        catch (Exception e) when (e is CryptoException or KeyNotFoundException or FormatException)
        {
            throw new FormatException("not a valid vendor public key file", e);
        }
    }
}

/// <summary>
/// A vendor signing key pair (vendor side only: it signs licences). The private file holds both private keys; keep it
/// offline, never in a repository or on an installation.
/// </summary>
public sealed class VendorKeyPair : IDisposable
{
    public const string FileFormat = "mislata-license-vendor-private-key";

    private VendorKeyPair(string keyId, KeyMaterial mlDsa, KeyMaterial ed25519)
    {
        KeyId = keyId;
        MlDsa65 = mlDsa;
        Ed25519 = ed25519;
        PublicKey = new VendorPublicKey(keyId, mlDsa.PublicKey!, ed25519.PublicKey!);
    }

    public string KeyId { get; }

    public VendorPublicKey PublicKey { get; }

    internal KeyMaterial MlDsa65 { get; }

    internal KeyMaterial Ed25519 { get; }

    public static VendorKeyPair Generate(string keyId, IRandomSource? random = null)
    {
        random ??= OsRandomSource.Instance;
        LicenceJson.KeyId(keyId);
        return new VendorKeyPair(
            keyId,
            AlgorithmRegistry.Default.Get(AlgorithmNames.MlDsa65).Generate(KeyType.Signing, random),
            AlgorithmRegistry.Default.Get(AlgorithmNames.Ed25519).Generate(KeyType.Signing, random));
    }

    public string ToPrivateJson()
    {
        var mlDsa = MlDsa65.ExportForStorage();
        var ed = Ed25519.ExportForStorage();
        try
        {
            return JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["format"] = FileFormat,
                ["keyId"] = KeyId,
                ["ml-dsa-65"] = Base64Url.EncodeToString(mlDsa),
                ["ed25519"] = Base64Url.EncodeToString(ed),
            }, LicenceJson.Indented);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mlDsa);
            CryptographicOperations.ZeroMemory(ed);
        }
    }

    /// <summary>Reads a private key file; throws <see cref="FormatException"/> when it is not one.</summary>
    public static VendorKeyPair FromPrivateJson(string json)
    {
        var fields = LicenceJson.ReadStrings(json, FileFormat);
        byte[]? mlDsa = null;
        byte[]? ed = null;
        try
        {
            mlDsa = Base64Url.DecodeFromChars(fields["ml-dsa-65"]);
            ed = Base64Url.DecodeFromChars(fields["ed25519"]);
            var mlDsaKey = KeyMaterial.FromStorage(mlDsa);
            var edKey = KeyMaterial.FromStorage(ed);
            if (mlDsaKey.Algorithm != AlgorithmNames.MlDsa65 || edKey.Algorithm != AlgorithmNames.Ed25519)
            {
                mlDsaKey.Dispose();
                edKey.Dispose();
                throw new FormatException("the private key file holds keys of the wrong algorithms");
            }

            return new VendorKeyPair(LicenceJson.KeyId(fields["keyId"]), mlDsaKey, edKey);
        }
        catch (Exception e) when (e is CryptoException or KeyNotFoundException)
        {
            throw new FormatException("not a valid vendor private key file", e);
        }
        finally
        {
            if (mlDsa is not null)
            {
                CryptographicOperations.ZeroMemory(mlDsa);
            }

            if (ed is not null)
            {
                CryptographicOperations.ZeroMemory(ed);
            }
        }
    }

    public void Dispose()
    {
        MlDsa65.Dispose();
        Ed25519.Dispose();
    }
}

/// <summary>
/// The vendor public keys an installation trusts. Production uses <see cref="BuiltInLicenceTrustAnchors"/> only; tests
/// replace this registration in their own test host. No configuration value can add a key.
/// </summary>
public interface ILicenceTrustAnchors
{
    VendorPublicKey? Find(string keyId);

    IReadOnlyCollection<VendorPublicKey> All { get; }
}

/// <summary>A fixed set of trusted vendor keys.</summary>
public class LicenceTrustAnchors : ILicenceTrustAnchors
{
    private readonly FrozenDictionary<string, VendorPublicKey> _keys;

    public LicenceTrustAnchors(IEnumerable<VendorPublicKey> keys) =>
        _keys = keys.ToFrozenDictionary(k => k.KeyId, StringComparer.Ordinal);

    public IReadOnlyCollection<VendorPublicKey> All => _keys.Values;

    public VendorPublicKey? Find(string keyId) => _keys.GetValueOrDefault(keyId);
}

/// <summary>
/// The vendor keys compiled into this release: the files <c>Licensing/VendorKeys/*.public.json</c> embedded in the
/// assembly. A new vendor key is added by a new release (old keys stay, so licences issued earlier keep verifying).
/// </summary>
public sealed class BuiltInLicenceTrustAnchors() : LicenceTrustAnchors(Load())
{
    private const string ResourcePrefix = "Mislata.Core.Licensing.VendorKeys.";

    private static List<VendorPublicKey> Load()
    {
        var assembly = typeof(BuiltInLicenceTrustAnchors).Assembly;
        var keys = new List<VendorPublicKey>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".public.json", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            keys.Add(VendorPublicKey.FromJson(reader.ReadToEnd()));
        }

        return keys;
    }
}

internal static class LicenceJson
{
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>A key id: 1 to 64 of lower-case letters, digits, '-' and '.'.</summary>
    public static string KeyId(string? value) =>
        value is { Length: > 0 and <= 64 } && value.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.')
            ? value
            : throw new FormatException("a key id is 1 to 64 lower-case letters, digits, '-' or '.'");

    /// <summary>The string members of a flat JSON object whose <c>format</c> is <paramref name="format"/>.</summary>
    public static Dictionary<string, string> ReadStrings(string json, string format)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 4 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException("not a JSON object");
            }

            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Value.ValueKind == JsonValueKind.String)
                {
                    fields[property.Name] = property.Value.GetString()!;
                }
            }

            return fields.TryGetValue("format", out var f) && f == format ? fields : throw new FormatException("the file is not a " + format);
        }
        catch (JsonException e)
        {
            throw new FormatException("not valid JSON", e);
        }
    }
}
