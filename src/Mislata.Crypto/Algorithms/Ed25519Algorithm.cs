using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text.Json;
using Mislata.Crypto.Entropy;
using Ed = Org.BouncyCastle.Math.EC.Rfc8032.Ed25519;

namespace Mislata.Crypto.Algorithms;

/// <summary>Ed25519 (RFC 8032) on BouncyCastle. Private key stored as the 32-byte seed.</summary>
internal sealed class Ed25519Algorithm() : KeyAlgorithm(new AlgorithmInfo(AlgorithmNames.Ed25519, AlgorithmFamily.Ed25519, [KeyType.Signing], null, "EdDSA")), ISignatureAlgorithm
{
    private const string Oid = "1.3.101.112";

    public override KeyMaterial Generate(KeyType type, IRandomSource random)
    {
        var seed = new byte[32];
        random.Fill(seed);
        return FromSeed(seed);
    }

    private KeyMaterial FromSeed(byte[] seed)
    {
        if (seed.Length != 32)
        {
            throw CryptoException.InvalidKey("An Ed25519 private key is 32 bytes.");
        }

        var pub = new byte[32];
        Ed.GeneratePublicKey(seed, 0, pub, 0);
        return new KeyMaterial(Info.Name, KeyType.Signing, PrivateForm.Seed, seed, new PublicKey(Info.Name, KeyType.Signing, pub));
    }

    internal override KeyMaterial Restore(KeyType type, PrivateForm form, ReadOnlySpan<byte> body) =>
        form == PrivateForm.Seed ? FromSeed(body.ToArray()) : throw CryptoException.InvalidKey();

    internal override PublicKey ImportPublicRaw(KeyType type, ReadOnlySpan<byte> raw) =>
        raw.Length == 32 && Ed.ValidatePublicKeyPartial(raw)
            ? new PublicKey(Info.Name, type, raw.ToArray())
            : throw CryptoException.InvalidKey("The Ed25519 public key is not a valid 32-byte point encoding.");

    internal override KeyMaterial ImportRaw(KeyType type, ReadOnlySpan<byte> raw) => FromSeed(raw.ToArray());

    internal override KeyMaterial ImportPkcs8(KeyType type, ReadOnlySpan<byte> der)
    {
        var (oid, inner) = ReadPkcs8(der);
        if (oid != Oid)
        {
            throw CryptoException.InvalidKey("The PKCS#8 algorithm does not match the key's algorithm.");
        }

        try
        {
            // RFC 8410: CurvePrivateKey ::= OCTET STRING inside the PKCS#8 OCTET STRING.
            var reader = new AsnReader(inner, AsnEncodingRules.DER);
            var seed = reader.ReadOctetString();
            reader.ThrowIfNotEmpty();
            return FromSeed(seed);
        }
        catch (AsnContentException)
        {
            throw CryptoException.InvalidKey("The PKCS#8 Ed25519 key is malformed.");
        }
        finally
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer)
            CryptographicOperations.ZeroMemory(inner);
        }
    }

    internal override KeyMaterial ImportJwk(KeyType type, JsonElement jwk)
    {
        RequireJwk(jwk, "kty", "OKP");
        RequireJwk(jwk, "crv", "Ed25519");
        var key = FromSeed(JwkBytes(jwk, "d"));
        if (!JwkBytes(jwk, "x").AsSpan().SequenceEqual(key.PublicKey!.Raw))
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a key that is never returned: the caller gets the exception)
            key.Dispose();
            throw CryptoException.InvalidKey("The JWK public key does not match its private key.");
        }

        return key;
    }

    internal override byte[] ExportSpki(PublicKey key) => BuildSpki(Oid, key.Raw);

    internal override void WriteJwk(Utf8JsonWriter writer, PublicKey key)
    {
        writer.WriteString("kty", "OKP");
        writer.WriteString("alg", Info.JwkAlg);
        writer.WriteString("crv", "Ed25519");
        writer.WriteString("x", Base64Url.Encode(key.Raw));
    }

    public byte[] Sign(KeyMaterial key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, IRandomSource random)
    {
        CheckType(key);
        if (!context.IsEmpty)
        {
            throw new CryptoException(CryptoError.InvalidArgument, "Ed25519 signatures take no context.");
        }

        var signature = new byte[64];
        Ed.Sign(key.Secret, key.PublicKey!.Raw, message, signature);
        return signature;
    }

    public bool Verify(PublicKey key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, ReadOnlySpan<byte> signature)
    {
        CheckType(key);
        if (!context.IsEmpty || signature.Length != 64 || key.Raw.Length != 32)
        {
            return false;
        }

        try
        {
            return Ed.Verify(signature, key.Raw, message);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
