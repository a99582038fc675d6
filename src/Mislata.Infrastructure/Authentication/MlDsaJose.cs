using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;

namespace Mislata.Infrastructure.Authentication;

/// <summary>
/// ML-DSA-65 in JOSE (the IETF JOSE/COSE ML-DSA draft): JWS <c>alg</c> <c>ML-DSA-65</c>, the signature is pure
/// ML-DSA (FIPS 204, empty context) over the JWS signing input, and the public key is published as a JWK of key type
/// <c>AKP</c> with the raw public key in <c>pub</c> (base64url).
/// </summary>
public static class MlDsaJose
{
    public const string Algorithm = AlgorithmNames.MlDsa65;

    public const string KeyType = "AKP";

    /// <summary>The JWK of a public key: <c>{kty, alg, pub, kid, use}</c> (never the private part).</summary>
    public static Dictionary<string, string> ToJwk(MlDsa65SecurityKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["kty"] = KeyType,
            ["alg"] = Algorithm,
            ["pub"] = Base64Url.EncodeToString(key.PublicKey.Raw),
            ["kid"] = key.KeyId,
            ["use"] = "sig",
        };
    }

    /// <summary>
    /// The key of an AKP JWK whose <c>alg</c> is ML-DSA-65, <c>pub</c> decodes to a public key of the right length and
    /// <c>use</c>, when present, is <c>sig</c>; anything else (another key type, a private part) is not taken.
    /// </summary>
    public static bool TryFromJwk(JsonElement jwk, [NotNullWhen(true)] out MlDsa65SecurityKey? key)
    {
        key = null;
        if (jwk.ValueKind != JsonValueKind.Object
            || Text(jwk, "kty") != KeyType || Text(jwk, "alg") != Algorithm
            || Text(jwk, "pub") is not { } pub || Text(jwk, "kid") is not { Length: > 0 } kid
            || (jwk.TryGetProperty("use", out _) && Text(jwk, "use") != "sig")
            || jwk.TryGetProperty("priv", out _))
        {
            return false;
        }

        try
        {
            key = new MlDsa65SecurityKey(PublicKey.FromRaw(Algorithm, Crypto.Algorithms.KeyType.Signing, Base64Url.DecodeFromChars(pub)), null, kid);
            return true;
        }
        catch (Exception e) when (e is FormatException or Crypto.CryptoException)
        {
            return false;
        }
    }

    private static string? Text(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>
/// An ML-DSA-65 key for Microsoft.IdentityModel: with its private part it signs JWTs (identity), with only the public
/// part it verifies them (api, identity's own validation). Its <see cref="SecurityKey.CryptoProviderFactory"/> knows the
/// algorithm, so the standard token handlers sign and verify with it unchanged.
/// </summary>
public sealed class MlDsa65SecurityKey : AsymmetricSecurityKey
{
    private readonly KeyMaterial? _private;

    public MlDsa65SecurityKey(PublicKey publicKey, KeyMaterial? privateKey, string keyId)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        if (publicKey.Algorithm != MlDsaJose.Algorithm || (privateKey is not null && privateKey.Algorithm != MlDsaJose.Algorithm))
        {
            throw new ArgumentException("The key is not an ML-DSA-65 key.", nameof(publicKey));
        }

        PublicKey = publicKey;
        _private = privateKey;
        KeyId = keyId;
        CryptoProviderFactory = new CryptoProviderFactory { CustomCryptoProvider = MlDsaCryptoProvider.Instance, CacheSignatureProviders = false };
    }

    public PublicKey PublicKey { get; }

    internal KeyMaterial Private => _private ?? throw new InvalidOperationException("This ML-DSA key has no private part: it can only verify.");

    [Obsolete("HasPrivateKey is obsolete in the base class; use PrivateKeyStatus.")]
    public override bool HasPrivateKey => _private is not null;

    public override PrivateKeyStatus PrivateKeyStatus => _private is null ? PrivateKeyStatus.DoesNotExist : PrivateKeyStatus.Exists;

    /// <summary>ML-DSA-65 is NIST security category 3; the size reported is that of the raw public key in bits.</summary>
    public override int KeySize => PublicKey.Raw.Length * 8;
}

/// <summary>Creates the signature providers of <see cref="MlDsa65SecurityKey"/> for the algorithm <c>ML-DSA-65</c>.</summary>
internal sealed class MlDsaCryptoProvider : ICryptoProvider
{
    public static MlDsaCryptoProvider Instance { get; } = new();

    public bool IsSupportedAlgorithm(string algorithm, params object[] args) =>
        algorithm == MlDsaJose.Algorithm && args is [MlDsa65SecurityKey, ..];

    public object Create(string algorithm, params object[] args)
    {
        if (!IsSupportedAlgorithm(algorithm, args))
        {
            throw new NotSupportedException($"'{algorithm}' is not supported for this key.");
        }

        var key = (MlDsa65SecurityKey)args[0];
        var willSign = args is [_, bool sign, ..] && sign;
        return new MlDsaSignatureProvider(key, willSign);
    }

    public void Release(object cryptoInstance)
    {
        if (cryptoInstance is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }
}

/// <summary>Signs and verifies the JWS signing input with pure ML-DSA-65 (empty context). A bad signature is false, never an exception.</summary>
internal sealed class MlDsaSignatureProvider : SignatureProvider
{
    private static readonly ISignatureAlgorithm Signer = AlgorithmRegistry.Default.GetSigner(MlDsaJose.Algorithm);
    private readonly MlDsa65SecurityKey _key;

    public MlDsaSignatureProvider(MlDsa65SecurityKey key, bool willCreateSignatures)
        : base(key, MlDsaJose.Algorithm)
    {
        if (willCreateSignatures && key.PrivateKeyStatus != PrivateKeyStatus.Exists)
        {
            throw new InvalidOperationException("This ML-DSA key has no private part: it can only verify.");
        }

        _key = key;
        WillCreateSignatures = willCreateSignatures;
    }

    public override byte[] Sign(byte[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Signer.Sign(_key.Private, input, [], OsRandomSource.Instance);
    }

    public override byte[] Sign(byte[] input, int offset, int count)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Signer.Sign(_key.Private, input.AsSpan(offset, count), [], OsRandomSource.Instance);
    }

    public override bool Sign(ReadOnlySpan<byte> data, Span<byte> destination, out int bytesWritten)
    {
        var signature = Signer.Sign(_key.Private, data, [], OsRandomSource.Instance);
        bytesWritten = 0;
        if (!signature.AsSpan().TryCopyTo(destination))
        {
            return false;
        }

        bytesWritten = signature.Length;
        return true;
    }

    public override bool Verify(byte[] input, byte[] signature)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(signature);
        return Signer.Verify(_key.PublicKey, input, [], signature);
    }

    public override bool Verify(byte[] input, int inputOffset, int inputLength, byte[] signature, int signatureOffset, int signatureLength)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(signature);
        return Signer.Verify(_key.PublicKey, input.AsSpan(inputOffset, inputLength), [], signature.AsSpan(signatureOffset, signatureLength));
    }

    protected override void Dispose(bool disposing)
    {
    }
}
