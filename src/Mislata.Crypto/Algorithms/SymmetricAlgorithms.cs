using System.Security.Cryptography;
using System.Text.Json;
using Mislata.Crypto.Entropy;

namespace Mislata.Crypto.Algorithms;

/// <summary>Shared shape of AES and HMAC keys: raw bytes, no public part.</summary>
internal abstract class SymmetricAlgorithm(AlgorithmInfo info, int generatedLength, int minLength, int maxLength) : KeyAlgorithm(info)
{
    public int KeyLength => generatedLength;

    public override KeyMaterial Generate(KeyType type, IRandomSource random)
    {
        var key = new byte[generatedLength];
        random.Fill(key);
        return new KeyMaterial(Info.Name, Info.DefaultKeyType, PrivateForm.Symmetric, key, null);
    }

    internal override KeyMaterial Restore(KeyType type, PrivateForm form, ReadOnlySpan<byte> body) =>
        form == PrivateForm.Symmetric ? ImportRaw(type, body) : throw CryptoException.InvalidKey();

    internal override KeyMaterial ImportRaw(KeyType type, ReadOnlySpan<byte> raw) =>
        raw.Length >= minLength && raw.Length <= maxLength
            ? new KeyMaterial(Info.Name, Info.DefaultKeyType, PrivateForm.Symmetric, raw.ToArray(), null)
            : throw CryptoException.InvalidKey($"A {Info.Name} key is {(minLength == maxLength ? $"{minLength}" : $"{minLength}..{maxLength}")} bytes.");

    internal override KeyMaterial ImportPkcs8(KeyType type, ReadOnlySpan<byte> der) =>
        throw CryptoException.InvalidKey("Symmetric keys are imported as raw or jwk (kty oct).");

    internal override KeyMaterial ImportJwk(KeyType type, JsonElement jwk)
    {
        RequireJwk(jwk, "kty", "oct");
        var k = JwkBytes(jwk, "k");
        try
        {
            return ImportRaw(type, k);
        }
        finally
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the decoded JWK "k" bytes, copied into the key
            CryptographicOperations.ZeroMemory(k);
        }
    }
}

/// <summary>AES-256-GCM symmetric keys; encryption goes through <see cref="Payloads.EncryptedPayloadCodec"/>.</summary>
internal sealed class AesGcmAlgorithm() : SymmetricAlgorithm(
    new AlgorithmInfo(AlgorithmNames.Aes256Gcm, AlgorithmFamily.Aes, [KeyType.Symmetric], "A256GCM", null), 32, 32, 32);

/// <summary>HMAC-SHA256/512; verification compares in constant time.</summary>
internal sealed class HmacAlgorithm(string name) : SymmetricAlgorithm(
    new AlgorithmInfo(name, AlgorithmFamily.Hmac, [KeyType.Hmac], null, null),
    name == AlgorithmNames.HmacSha256 ? 32 : 64,
    name == AlgorithmNames.HmacSha256 ? 32 : 64,
    1024), IMacAlgorithm
{
    public int MacLength => Info.Name == AlgorithmNames.HmacSha256 ? 32 : 64;

    public byte[] Compute(KeyMaterial key, ReadOnlySpan<byte> message)
    {
        CheckType(key);
        return Primitives.Hmac.Compute(Hash, key.Secret, message);
    }

    public bool Verify(KeyMaterial key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> mac)
    {
        CheckType(key);
        return Primitives.Hmac.Verify(Hash, key.Secret, message, mac, MacLength);
    }

    private HashAlgorithmName Hash => Info.Name == AlgorithmNames.HmacSha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA512;
}
