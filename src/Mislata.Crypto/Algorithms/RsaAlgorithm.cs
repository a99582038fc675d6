using System.Security.Cryptography;
using System.Text.Json;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Primitives;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Encodings;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Pkcs;

namespace Mislata.Crypto.Algorithms;

/// <summary>
/// RSA-2048/3072/4096: OAEP-SHA256 (MGF1-SHA256, no label) key transport for encryption keys, PSS-SHA256 (salt 32)
/// for signing keys. Generation on BouncyCastle fed by the entropy service; operations on .NET. Stored as PKCS#8.
/// </summary>
internal sealed class RsaAlgorithm(string name, int bits)
    : KeyAlgorithm(new AlgorithmInfo(name, AlgorithmFamily.Rsa, [KeyType.Encryption, KeyType.Signing], "RSA-OAEP-256+A256GCM", null)),
      ISignatureAlgorithm, IKeyTransportAlgorithm
{
    public int Bits { get; } = bits;

    public override KeyMaterial Generate(KeyType type, IRandomSource random)
    {
        var generator = new RsaKeyPairGenerator();
        generator.Init(new RsaKeyGenerationParameters(Org.BouncyCastle.Math.BigInteger.ValueOf(65537), BcRandom.Create(random), Bits, 100));
        var pair = generator.GenerateKeyPair();
        var der = PrivateKeyInfoFactory.CreatePrivateKeyInfo(pair.Private).GetDerEncoded();
        try
        {
            return ImportPkcs8(type, der);
        }
        finally
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer)
            CryptographicOperations.ZeroMemory(der);
        }
    }

    internal override KeyMaterial Restore(KeyType type, PrivateForm form, ReadOnlySpan<byte> body) =>
        form == PrivateForm.Pkcs8 ? ImportPkcs8(type, body) : throw CryptoException.InvalidKey();

    internal override PublicKey ImportPublicRaw(KeyType type, ReadOnlySpan<byte> raw)
    {
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportRSAPublicKey(raw, out var read);
            if (read != raw.Length || rsa.KeySize != Bits)
            {
                throw CryptoException.InvalidKey($"The RSA public key is not {Bits} bits.");
            }

            var p = rsa.ExportParameters(false);
            if (p.Exponent!.Length > 4 || (p.Exponent[^1] & 1) == 0 || (p.Exponent.Length == 1 && p.Exponent[0] < 3))
            {
                throw CryptoException.InvalidKey("The RSA public exponent is invalid.");
            }

            return new PublicKey(Info.Name, type, raw.ToArray());
        }
        catch (CryptographicException)
        {
            throw CryptoException.InvalidKey("The RSA public key is malformed.");
        }
    }

    internal override KeyMaterial ImportRaw(KeyType type, ReadOnlySpan<byte> raw)
    {
        // raw private RSA = PKCS#1 RSAPrivateKey.
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportRSAPrivateKey(raw, out var read);
            return read == raw.Length ? FromRsa(type, rsa) : throw CryptoException.InvalidKey("Trailing bytes after the RSA key.");
        }
        catch (CryptographicException)
        {
            throw CryptoException.InvalidKey("The RSA private key is malformed.");
        }
    }

    internal override KeyMaterial ImportPkcs8(KeyType type, ReadOnlySpan<byte> der)
    {
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportPkcs8PrivateKey(der, out var read);
            return read == der.Length ? FromRsa(type, rsa) : throw CryptoException.InvalidKey("Trailing bytes after the PKCS#8 key.");
        }
        catch (CryptographicException)
        {
            throw CryptoException.InvalidKey("The PKCS#8 RSA key is malformed.");
        }
    }

    internal override KeyMaterial ImportJwk(KeyType type, JsonElement jwk)
    {
        RequireJwk(jwk, "kty", "RSA");
        var p = new RSAParameters
        {
            Modulus = JwkBytes(jwk, "n"),
            Exponent = JwkBytes(jwk, "e"),
            D = JwkBytes(jwk, "d"),
            P = JwkBytes(jwk, "p"),
            Q = JwkBytes(jwk, "q"),
            DP = JwkBytes(jwk, "dp"),
            DQ = JwkBytes(jwk, "dq"),
            InverseQ = JwkBytes(jwk, "qi"),
        };
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportParameters(p);
            return FromRsa(type, rsa);
        }
        catch (CryptographicException)
        {
            throw CryptoException.InvalidKey("The RSA JWK is invalid.");
        }
        finally
        {
            foreach (var secret in new[] { p.D, p.P, p.Q, p.DP, p.DQ, p.InverseQ })
            {
                // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer: the JWK members decoded by this method)
                CryptographicOperations.ZeroMemory(secret);
            }
        }
    }

    private KeyMaterial FromRsa(KeyType type, RSA rsa)
    {
        if (rsa.KeySize != Bits)
        {
            // Stryker disable once Statement : ImportPublicRaw just below repeats the size check with the same InvalidKeyMaterial error
            throw CryptoException.InvalidKey($"The RSA key is not {Bits} bits.");
        }

        var pub = ImportPublicRaw(type, rsa.ExportRSAPublicKey());
        return new KeyMaterial(Info.Name, type, PrivateForm.Pkcs8, rsa.ExportPkcs8PrivateKey(), pub);
    }

    internal override byte[] ExportSpki(PublicKey key)
    {
        using var rsa = RSA.Create();
        rsa.ImportRSAPublicKey(key.Raw, out _);
        return rsa.ExportSubjectPublicKeyInfo();
    }

    internal override void WriteJwk(Utf8JsonWriter writer, PublicKey key)
    {
        using var rsa = RSA.Create();
        rsa.ImportRSAPublicKey(key.Raw, out _);
        var p = rsa.ExportParameters(false);
        writer.WriteString("kty", "RSA");
        writer.WriteString("alg", key.KeyType == KeyType.Signing ? "PS256" : "RSA-OAEP-256");
        writer.WriteString("n", Base64Url.Encode(p.Modulus));
        writer.WriteString("e", Base64Url.Encode(p.Exponent));
    }

    private static RSA Private(KeyMaterial key)
    {
        var rsa = RSA.Create();
        rsa.ImportPkcs8PrivateKey(key.Secret, out _);
        return rsa;
    }

    private static RSA Public(PublicKey key)
    {
        var rsa = RSA.Create();
        rsa.ImportRSAPublicKey(key.Raw, out _);
        return rsa;
    }

    public byte[] Sign(KeyMaterial key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, IRandomSource random)
    {
        CheckType(key);
        if (key.KeyType != KeyType.Signing)
        {
            throw CryptoException.Mismatch(Info.Name + " encryption key", "sign");
        }

        if (!context.IsEmpty)
        {
            throw new CryptoException(CryptoError.InvalidArgument, "RSA-PSS signatures take no context.");
        }

        using var rsa = Private(key);
        return rsa.SignData(message.ToArray(), HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
    }

    public bool Verify(PublicKey key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, ReadOnlySpan<byte> signature)
    {
        CheckType(key);
        if (key.KeyType != KeyType.Signing || !context.IsEmpty || signature.Length != Bits / 8)
        {
            return false;
        }

        try
        {
            using var rsa = Public(key);
            return rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    public byte[] WrapKey(PublicKey key, ReadOnlySpan<byte> contentKey)
    {
        CheckType(key);
        if (key.KeyType != KeyType.Encryption)
        {
            throw CryptoException.Mismatch(Info.Name + " signing key", "encrypt");
        }

        using var rsa = Public(key);
        return rsa.Encrypt(contentKey.ToArray(), RSAEncryptionPadding.OaepSHA256);
    }

    public byte[] UnwrapKey(KeyMaterial key, ReadOnlySpan<byte> wrapped) => UnwrapKey(key, wrapped, []);

    /// <summary>OAEP decryption with an optional label. .NET has no OAEP label, so a non-empty label (Wycheproof only) goes to BouncyCastle.</summary>
    internal byte[] UnwrapKey(KeyMaterial key, ReadOnlySpan<byte> wrapped, byte[] label)
    {
        CheckType(key);
        if (key.KeyType != KeyType.Encryption)
        {
            throw CryptoException.Mismatch(Info.Name + " signing key", "decrypt");
        }

        if (wrapped.Length != Bits / 8)
        {
            throw CryptoException.DecryptionFailed();
        }

        try
        {
            // Stryker disable once Block : with an empty label the BouncyCastle OAEP-SHA256 path computes the same decryption and maps its failures to the same DecryptionFailed
            if (label.Length == 0)
            {
                using var rsa = Private(key);
                return rsa.Decrypt(wrapped.ToArray(), RSAEncryptionPadding.OaepSHA256);
            }

            var oaep = new OaepEncoding(new RsaEngine(), new Sha256Digest(), new Sha256Digest(), label);
            oaep.Init(false, Org.BouncyCastle.Security.PrivateKeyFactory.CreateKey(key.Secret.ToArray()));
            return oaep.ProcessBlock(wrapped.ToArray(), 0, wrapped.Length);
        }
        catch (Exception e) when (e is CryptographicException or Org.BouncyCastle.Crypto.InvalidCipherTextException or Org.BouncyCastle.Crypto.DataLengthException)
        {
            throw CryptoException.DecryptionFailed();
        }
    }
}
