using System.Security.Cryptography;
using System.Text.Json;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Primitives;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace Mislata.Crypto.Algorithms;

/// <summary>ML-DSA (FIPS 204), pure, hedged, with a context string ≤ 255 bytes. Private keys are stored as the 32-byte seed ξ.</summary>
internal sealed class MlDsaAlgorithm : KeyAlgorithm, ISignatureAlgorithm
{
    internal const int SeedLength = 32;
    private readonly MLDsaParameters _parameters;
    private readonly string _oid;
    private readonly int _k;
    private readonly int _l;
    private readonly int _eta;

    public MlDsaAlgorithm(string name)
        : base(new AlgorithmInfo(name, AlgorithmFamily.MlDsa, [KeyType.Signing], null, name))
    {
        (_parameters, _oid, PublicKeyLength, PrivateKeyLength, SignatureLength) = name switch
        {
            AlgorithmNames.MlDsa44 => (MLDsaParameters.ml_dsa_44, "2.16.840.1.101.3.4.3.17", 1312, 2560, 2420),
            AlgorithmNames.MlDsa65 => (MLDsaParameters.ml_dsa_65, "2.16.840.1.101.3.4.3.18", 1952, 4032, 3309),
            AlgorithmNames.MlDsa87 => (MLDsaParameters.ml_dsa_87, "2.16.840.1.101.3.4.3.19", 2592, 4896, 4627),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        (_k, _l, _eta) = name switch
        {
            AlgorithmNames.MlDsa44 => (4, 4, 2),
            AlgorithmNames.MlDsa65 => (6, 5, 4),
            _ => (8, 7, 2),
        };
    }

    public int PublicKeyLength { get; }

    public int PrivateKeyLength { get; }

    public int SignatureLength { get; }

    public override KeyMaterial Generate(KeyType type, IRandomSource random)
    {
        var seed = new byte[SeedLength];
        random.Fill(seed);
        return FromSeed(seed);
    }

    internal KeyMaterial FromSeed(byte[] seed)
    {
        if (seed.Length != SeedLength)
        {
            throw CryptoException.InvalidKey("An ML-DSA seed is 32 bytes.");
        }

        var priv = MLDsaPrivateKeyParameters.FromSeed(_parameters, seed);
        var key = new KeyMaterial(Info.Name, KeyType.Signing, PrivateForm.Seed, seed, new PublicKey(Info.Name, KeyType.Signing, priv.GetPublicKeyEncoded()));
        // Stryker disable once Statement : cache priming; without it the parameters are rebuilt from the stored secret on first use (same key, slower)
        key.GetOrCreate(_ => priv);
        return key;
    }

    /// <summary>
    /// An expanded FIPS 204 private key; checked by the range of s1 and s2 and by recomputing t1 and tr = H(pk).
    /// </summary>
    internal KeyMaterial FromExpanded(ReadOnlySpan<byte> sk)
    {
        if (sk.Length != PrivateKeyLength)
        {
            throw CryptoException.InvalidKey("The ML-DSA private key has the wrong length.");
        }

        if (!SecretVectorsInRange(sk))
        {
            throw CryptoException.InvalidKey("The ML-DSA private key has an s1 or s2 coefficient out of range.");
        }

        var secret = sk.ToArray();
        MLDsaPrivateKeyParameters priv;
        byte[] pk;
        try
        {
            priv = MLDsaPrivateKeyParameters.FromEncoding(_parameters, secret);
            pk = priv.GetPublicKeyEncoded();
        }
        catch (Exception e) when (e is not CryptoException)
        {
            throw CryptoException.InvalidKey();
        }

        var tr = new byte[64];
        var shake = new ShakeDigest(256);
        shake.BlockUpdate(pk);
        shake.OutputFinal(tr);
        if (!CryptographicOperations.FixedTimeEquals(tr, sk.Slice(64, 64)))
        {
            throw CryptoException.InvalidKey("The ML-DSA private key is inconsistent.");
        }

        var key = new KeyMaterial(Info.Name, KeyType.Signing, PrivateForm.Expanded, secret, new PublicKey(Info.Name, KeyType.Signing, pk));
        // Stryker disable once Statement : cache priming; without it the parameters are rebuilt from the stored secret on first use (same key, slower)
        key.GetOrCreate(_ => priv);
        return key;
    }

    internal override KeyMaterial Restore(KeyType type, PrivateForm form, ReadOnlySpan<byte> body) => form switch
    {
        PrivateForm.Seed => FromSeed(body.ToArray()),
        PrivateForm.Expanded => FromExpanded(body),
        _ => throw CryptoException.InvalidKey(),
    };

    internal override PublicKey ImportPublicRaw(KeyType type, ReadOnlySpan<byte> raw) =>
        raw.Length == PublicKeyLength
            ? new PublicKey(Info.Name, type, raw.ToArray())
            : throw CryptoException.InvalidKey("The ML-DSA public key has the wrong length.");

    internal override KeyMaterial ImportRaw(KeyType type, ReadOnlySpan<byte> raw) =>
        raw.Length == SeedLength ? FromSeed(raw.ToArray()) : FromExpanded(raw);

    internal override KeyMaterial ImportPkcs8(KeyType type, ReadOnlySpan<byte> der)
    {
        var (oid, inner) = ReadPkcs8(der);
        if (oid != _oid)
        {
            throw CryptoException.InvalidKey("The PKCS#8 algorithm does not match the key's algorithm.");
        }

        var (seed, expanded) = MlKemAlgorithm.ReadSeedOrExpanded(inner);
        if (seed is not null)
        {
            var key = FromSeed(seed);
            if (expanded is not null && !CryptographicOperations.FixedTimeEquals(expanded, Private(key).GetEncoded()))
            {
                // Stryker disable once Statement : unobservable hygiene (zeroing of a key that is never returned: the caller gets the exception)
                key.Dispose();
                throw CryptoException.InvalidKey("The PKCS#8 seed and expanded key disagree.");
            }

            return key;
        }

        return FromExpanded(expanded!);
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

    public byte[] Sign(KeyMaterial key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, IRandomSource random) =>
        SignCore(key, message, context, random);

    /// <summary>Hedged when <paramref name="random"/> is given (rnd = 32 bytes from it), deterministic (rnd = 0³²) when null.</summary>
    internal byte[] SignCore(KeyMaterial key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, IRandomSource? random)
    {
        CheckType(key);
        if (context.Length > 255)
        {
            throw new CryptoException(CryptoError.InvalidArgument, "The context is longer than 255 bytes.");
        }

        var signer = new MLDsaSigner(_parameters, deterministic: random is null);
        ICipherParameters p = Private(key);
        if (random is not null)
        {
            p = new ParametersWithRandom(p, BcRandom.Create(random));
        }

        signer.Init(true, new ParametersWithContext(p, context));
        signer.BlockUpdate(message);
        return signer.GenerateSignature();
    }

    public bool Verify(PublicKey key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, ReadOnlySpan<byte> signature)
    {
        CheckType(key);
        if (context.Length > 255 || signature.Length != SignatureLength || key.Raw.Length != PublicKeyLength)
        {
            return false;
        }

        try
        {
            var pub = key.GetOrCreate(k => MLDsaPublicKeyParameters.FromEncoding(_parameters, k.RawArray));
            // Stryker disable once Boolean : the deterministic flag only chooses the signing randomness; verification ignores it
            var verifier = new MLDsaSigner(_parameters, deterministic: true);
            verifier.Init(false, new ParametersWithContext(pub, context));
            verifier.BlockUpdate(message);
            return verifier.VerifySignature(signature.ToArray());
        }
        catch (Exception e) when (e is not CryptoException)
        {
            return false;
        }
    }

    /// <summary>
    /// FIPS 204 skDecode: sk = ρ (32) ‖ K (32) ‖ tr (64) ‖ s1 (ℓ polynomials) ‖ s2 (k polynomials) ‖ t0, each coefficient
    /// of s1 and s2 packed little-endian as η − c in bitlen(2η) bits; a coefficient outside [−η, η] (an encoding above
    /// 2η) makes the key invalid. BouncyCastle decodes such a key without complaint, and its public key still matches.
    /// </summary>
    internal bool SecretVectorsInRange(ReadOnlySpan<byte> sk)
    {
        var bits = _eta == 2 ? 3 : 4;
        var packed = sk.Slice(128, (_l + _k) * 32 * bits);
        var mask = (1 << bits) - 1;
        var max = 2 * _eta;
        var bad = 0;
        for (var i = 0; i < packed.Length; i += bits)
        {
            // bits bytes hold eight coefficients (3 bytes for η = 2, 4 bytes for η = 4).
            var word = 0L;
            for (var b = 0; b < bits; b++)
            {
                word |= (long)packed[i + b] << (8 * b);
            }

            for (var c = 0; c < 8; c++)
            {
                bad |= (int)((word >> (c * bits)) & mask) > max ? 1 : 0;
            }
        }

        return bad == 0;
    }

    // Stryker disable once Conditional,Equality : unreachable; every ML-DSA KeyMaterial is created by FromSeed/FromExpanded, which prime this cache
    private MLDsaPrivateKeyParameters Private(KeyMaterial key) =>
        key.GetOrCreate(k => k.Form == PrivateForm.Seed
            ? MLDsaPrivateKeyParameters.FromSeed(_parameters, k.Secret.ToArray())
            : MLDsaPrivateKeyParameters.FromEncoding(_parameters, k.Secret.ToArray()));
}
