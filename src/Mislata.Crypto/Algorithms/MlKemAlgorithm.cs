using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text.Json;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Primitives;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Kems;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mislata.Crypto.Algorithms;

/// <summary>ML-KEM (FIPS 203) on BouncyCastle. Private keys are stored as the 64-byte seed d‖z.</summary>
internal sealed class MlKemAlgorithm : KeyAlgorithm, IKemAlgorithm
{
    internal const int SeedLength = 64;
    private readonly MLKemParameters _parameters;
    private readonly int _k;
    private readonly string _oid;

    public MlKemAlgorithm(string name)
        : base(new AlgorithmInfo(name, AlgorithmFamily.MlKem, [KeyType.Encryption], name + "+A256GCM", name))
    {
        (_parameters, _k, _oid) = name switch
        {
            AlgorithmNames.MlKem512 => (MLKemParameters.ml_kem_512, 2, "2.16.840.1.101.3.4.4.1"),
            AlgorithmNames.MlKem768 => (MLKemParameters.ml_kem_768, 3, "2.16.840.1.101.3.4.4.2"),
            AlgorithmNames.MlKem1024 => (MLKemParameters.ml_kem_1024, 4, "2.16.840.1.101.3.4.4.3"),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        CiphertextLength = _k switch { 2 => 768, 3 => 1088, _ => 1568 };
    }

    public int CiphertextLength { get; }

    public int PublicKeyLength => (384 * _k) + 32;

    public int ExpandedPrivateKeyLength => (768 * _k) + 96;

    public override KeyMaterial Generate(KeyType type, IRandomSource random)
    {
        var seed = new byte[SeedLength];
        random.Fill(seed);
        return FromSeed(seed);
    }

    /// <summary>FIPS 203 ML-KEM.KeyGen_internal(d, z) from the 64-byte seed d‖z.</summary>
    internal KeyMaterial FromSeed(byte[] seed)
    {
        if (seed.Length != SeedLength)
        {
            throw CryptoException.InvalidKey("An ML-KEM seed is 64 bytes.");
        }

        var priv = MLKemPrivateKeyParameters.FromSeed(_parameters, seed);
        var key = new KeyMaterial(Info.Name, KeyType.Encryption, PrivateForm.Seed, seed, new PublicKey(Info.Name, KeyType.Encryption, priv.GetPublicKeyEncoded()));
        // Stryker disable once Statement : cache priming; without it the parameters are rebuilt from the stored secret on first use (same key, slower)
        key.GetOrCreate(_ => priv);
        return key;
    }

    /// <summary>An expanded decapsulation key dk = dkPKE ‖ ek ‖ H(ek) ‖ z, checked per FIPS 203 §7.3.</summary>
    internal KeyMaterial FromExpanded(ReadOnlySpan<byte> dk)
    {
        if (dk.Length != ExpandedPrivateKeyLength)
        {
            throw CryptoException.InvalidKey("The ML-KEM decapsulation key has the wrong length.");
        }

        var ek = dk.Slice(384 * _k, PublicKeyLength);
        var hash = dk.Slice((768 * _k) + 32, 32);
        Span<byte> computed = stackalloc byte[32];
        Sha3(ek, computed);
        if (!CryptographicOperations.FixedTimeEquals(computed, hash) || !ModulusOk(ek))
        {
            throw CryptoException.InvalidKey("The ML-KEM decapsulation key fails its hash or modulus check.");
        }

        var secret = dk.ToArray();
        MLKemPrivateKeyParameters priv;
        try
        {
            priv = MLKemPrivateKeyParameters.FromEncoding(_parameters, secret);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or CryptoException)
        {
            throw CryptoException.InvalidKey();
        }

        var key = new KeyMaterial(Info.Name, KeyType.Encryption, PrivateForm.Expanded, secret, new PublicKey(Info.Name, KeyType.Encryption, ek.ToArray()));
        // Stryker disable once Statement : cache priming; without it the parameters are rebuilt from the stored secret on first use (same key, slower)
        key.GetOrCreate(_ => priv);
        return key;
    }

    /// <summary>The expanded FIPS 203 decapsulation key (for tests and export).</summary>
    internal byte[] ExpandedPrivateKey(KeyMaterial key) => Private(key).GetEncoded();

    internal override KeyMaterial Restore(KeyType type, PrivateForm form, ReadOnlySpan<byte> body) => form switch
    {
        PrivateForm.Seed => FromSeed(body.ToArray()),
        PrivateForm.Expanded => FromExpanded(body),
        _ => throw CryptoException.InvalidKey(),
    };

    internal override PublicKey ImportPublicRaw(KeyType type, ReadOnlySpan<byte> raw)
    {
        if (raw.Length != PublicKeyLength || !ModulusOk(raw))
        {
            throw CryptoException.InvalidKey("The ML-KEM encapsulation key has the wrong length or a coefficient ≥ q.");
        }

        return new PublicKey(Info.Name, type, raw.ToArray());
    }

    internal override KeyMaterial ImportRaw(KeyType type, ReadOnlySpan<byte> raw) =>
        raw.Length == SeedLength ? FromSeed(raw.ToArray()) : FromExpanded(raw);

    internal override KeyMaterial ImportPkcs8(KeyType type, ReadOnlySpan<byte> der)
    {
        var (oid, inner) = ReadPkcs8(der);
        if (oid != _oid)
        {
            throw CryptoException.InvalidKey("The PKCS#8 algorithm does not match the key's algorithm.");
        }

        var (seed, expanded) = ReadSeedOrExpanded(inner);
        if (seed is not null)
        {
            var key = FromSeed(seed);
            if (expanded is not null && !CryptographicOperations.FixedTimeEquals(expanded, ExpandedPrivateKey(key)))
            {
                // Stryker disable once Statement : unobservable hygiene (zeroing of a key that is never returned: the caller gets the exception)
                key.Dispose();
                throw CryptoException.InvalidKey("The PKCS#8 seed and expanded key disagree.");
            }

            return key;
        }

        return FromExpanded(expanded!);
    }

    /// <summary>IETF lamps PQC private-key CHOICE: seed [0] IMPLICIT OCTET STRING | expandedKey OCTET STRING | both SEQUENCE.</summary>
    internal static (byte[]? Seed, byte[]? Expanded) ReadSeedOrExpanded(byte[] inner)
    {
        try
        {
            var reader = new AsnReader(inner, AsnEncodingRules.DER);
            var tag = reader.PeekTag();
            (byte[]?, byte[]?) result;
            if (tag.HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                result = (reader.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 0)), null);
            }
            else if (tag.HasSameClassAndValue(Asn1Tag.PrimitiveOctetString))
            {
                result = (null, reader.ReadOctetString());
            }
            else
            {
                var both = reader.ReadSequence();
                result = (both.ReadOctetString(), both.ReadOctetString());
                both.ThrowIfNotEmpty();
            }

            reader.ThrowIfNotEmpty();
            return result;
        }
        catch (AsnContentException)
        {
            throw CryptoException.InvalidKey("The PKCS#8 private key is malformed.");
        }
    }

    internal override KeyMaterial ImportJwk(KeyType type, JsonElement jwk)
    {
        RequireJwk(jwk, "kty", "AKP");
        RequireJwk(jwk, "alg", Info.Name);
        var key = ImportRaw(type, JwkBytes(jwk, "priv"));
        if (JwkString(jwk, "pub") is not null && !JwkBytes(jwk, "pub").AsSpan().SequenceEqual(key.PublicKey!.Raw))
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a key that is never returned: the caller gets the exception)
            key.Dispose();
            throw CryptoException.InvalidKey("The JWK public key does not match its private key.");
        }

        return key;
    }

    internal override byte[] ExportSpki(PublicKey key) => BuildSpki(_oid, key.Raw);

    internal override void WriteJwk(Utf8JsonWriter writer, PublicKey key)
    {
        writer.WriteString("kty", "AKP");
        writer.WriteString("alg", Info.Name);
        writer.WriteString("pub", Base64Url.Encode(key.Raw));
    }

    public (byte[] Ciphertext, byte[] SharedSecret) Encapsulate(PublicKey key, IRandomSource random)
    {
        CheckType(key);
        var pub = key.GetOrCreate(k => MLKemPublicKeyParameters.FromEncoding(_parameters, k.RawArray));
        var encapsulator = new MLKemEncapsulator(_parameters);
        encapsulator.Init(new ParametersWithRandom(pub, BcRandom.Create(random)));
        var ciphertext = new byte[encapsulator.EncapsulationLength];
        var secret = new byte[encapsulator.SecretLength];
        encapsulator.Encapsulate(ciphertext, secret);
        return (ciphertext, secret);
    }

    public byte[] Decapsulate(KeyMaterial key, ReadOnlySpan<byte> ciphertext)
    {
        CheckType(key);
        if (ciphertext.Length != CiphertextLength)
        {
            throw CryptoException.DecryptionFailed();
        }

        var decapsulator = new MLKemDecapsulator(_parameters);
        decapsulator.Init(Private(key));
        var secret = new byte[decapsulator.SecretLength];
        decapsulator.Decapsulate(ciphertext, secret);
        return secret;
    }

    // Stryker disable once Conditional,Equality : unreachable; every ML-KEM KeyMaterial is created by FromSeed/FromExpanded, which prime this cache
    private MLKemPrivateKeyParameters Private(KeyMaterial key) =>
        key.GetOrCreate(k => k.Form == PrivateForm.Seed
            ? MLKemPrivateKeyParameters.FromSeed(_parameters, k.Secret.ToArray())
            : MLKemPrivateKeyParameters.FromEncoding(_parameters, k.Secret.ToArray()));

    private static void Sha3(ReadOnlySpan<byte> data, Span<byte> output)
    {
        var digest = new Sha3Digest(256);
        digest.BlockUpdate(data);
        digest.DoFinal(output);
    }

    /// <summary>FIPS 203 §7.2 modulus check: every 12-bit coefficient of t̂ is below q = 3329.</summary>
    internal bool ModulusOk(ReadOnlySpan<byte> ek)
    {
        var t = ek[..(384 * _k)];
        for (var i = 0; i < t.Length; i += 3)
        {
            var c0 = t[i] | ((t[i + 1] & 0x0F) << 8);
            var c1 = (t[i + 1] >> 4) | (t[i + 2] << 4);
            if (c0 >= 3329 || c1 >= 3329)
            {
                return false;
            }
        }

        return true;
    }
}
