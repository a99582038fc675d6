using System.Security.Cryptography;
using System.Text.Json;
using Mislata.Crypto.Entropy;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Math;

namespace Mislata.Crypto.Algorithms;

/// <summary>ECDSA P-256/SHA-256 and P-384/SHA-384 on .NET; signatures are IEEE P1363 r‖s. Private keys stored as PKCS#8.</summary>
internal sealed class EcdsaAlgorithm : KeyAlgorithm, ISignatureAlgorithm
{
    private readonly ECCurve _curve;
    private readonly HashAlgorithmName _hash;
    private readonly X9ECParameters _bcCurve;
    private readonly string _crv;

    public EcdsaAlgorithm(string name)
        : base(new AlgorithmInfo(name, AlgorithmFamily.Ecdsa, [KeyType.Signing], null, name == AlgorithmNames.EcdsaP256 ? "ES256" : "ES384"))
    {
        (_curve, _hash, _bcCurve, _crv, FieldLength) = name switch
        {
            AlgorithmNames.EcdsaP256 => (ECCurve.NamedCurves.nistP256, HashAlgorithmName.SHA256, ECNamedCurveTable.GetByName("P-256"), "P-256", 32),
            AlgorithmNames.EcdsaP384 => (ECCurve.NamedCurves.nistP384, HashAlgorithmName.SHA384, ECNamedCurveTable.GetByName("P-384"), "P-384", 48),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
    }

    public int FieldLength { get; }

    public override KeyMaterial Generate(KeyType type, IRandomSource random)
    {
        // Rejection sampling of d in [1, n-1] from the entropy service (FIPS 186-5 A.2.2).
        var buffer = new byte[FieldLength];
        try
        {
            while (true)
            {
                random.Fill(buffer);
                var d = new BigInteger(1, buffer);
                if (d.SignValue > 0 && d.CompareTo(_bcCurve.N) < 0)
                {
                    return FromScalar(buffer);
                }
            }
        }
        finally
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer)
            CryptographicOperations.ZeroMemory(buffer);
        }
    }

    /// <summary>Builds a key from the private scalar, computing Q = dG with BouncyCastle (validated by .NET on import).</summary>
    internal KeyMaterial FromScalar(ReadOnlySpan<byte> scalar)
    {
        if (scalar.Length != FieldLength)
        {
            throw CryptoException.InvalidKey("The EC private scalar has the wrong length.");
        }

        var d = new BigInteger(1, scalar.ToArray());
        if (d.SignValue <= 0 || d.CompareTo(_bcCurve.N) >= 0)
        {
            throw CryptoException.InvalidKey("The EC private scalar is out of range.");
        }

        // OpenSSL derives Q = dG when only d is given (an order of magnitude faster than BouncyCastle's multiply).
        return FromParameters(new ECParameters { Curve = _curve, D = scalar.ToArray() });
    }

    private KeyMaterial FromParameters(ECParameters parameters)
    {
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportParameters(parameters);
            // Stryker disable once Boolean : only Q is read from the export; exporting D as well changes nothing
            var exported = ec.ExportParameters(false);
            return new KeyMaterial(Info.Name, KeyType.Signing, PrivateForm.Pkcs8, ec.ExportPkcs8PrivateKey(), new PublicKey(Info.Name, KeyType.Signing, Sec1(exported.Q)));
        }
        catch (CryptographicException)
        {
            throw CryptoException.InvalidKey("The EC key is invalid.");
        }
        finally
        {
            // Stryker disable once Statement,Equality,Block : unobservable hygiene (zeroing of a private buffer: D is a copy made by FromScalar)
            if (parameters.D is not null)
            {
                CryptographicOperations.ZeroMemory(parameters.D);
            }
        }
    }

    private static byte[] Sec1(ECPoint q) => [0x04, .. q.X!, .. q.Y!];

    internal override KeyMaterial Restore(KeyType type, PrivateForm form, ReadOnlySpan<byte> body) =>
        form == PrivateForm.Pkcs8 ? ImportPkcs8(type, body) : throw CryptoException.InvalidKey();

    internal override PublicKey ImportPublicRaw(KeyType type, ReadOnlySpan<byte> raw)
    {
        if (raw.Length != 1 + (2 * FieldLength) || raw[0] != 0x04)
        {
            throw CryptoException.InvalidKey("The EC public key must be an uncompressed SEC1 point on " + _crv + ".");
        }

        try
        {
            var point = _bcCurve.Curve.DecodePoint(raw.ToArray());
            if (point.IsInfinity || !point.IsValid())
            {
                throw CryptoException.InvalidKey("The EC public key is not a valid point.");
            }
        }
        catch (ArgumentException)
        {
            throw CryptoException.InvalidKey("The EC public key is not on the curve.");
        }

        return new PublicKey(Info.Name, type, raw.ToArray());
    }

    internal override KeyMaterial ImportRaw(KeyType type, ReadOnlySpan<byte> raw) => FromScalar(raw);

    internal override KeyMaterial ImportPkcs8(KeyType type, ReadOnlySpan<byte> der)
    {
        ECParameters p;
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportPkcs8PrivateKey(der, out var read);
            if (read != der.Length)
            {
                throw CryptoException.InvalidKey("Trailing bytes after the PKCS#8 key.");
            }

            p = ec.ExportParameters(true);
        }
        catch (CryptographicException)
        {
            throw CryptoException.InvalidKey("The PKCS#8 EC key is malformed.");
        }

        if (!p.Curve.IsNamed || p.Curve.Oid.Value != _curve.Oid.Value)
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer)
            CryptographicOperations.ZeroMemory(p.D);
            throw CryptoException.InvalidKey("The EC key is on the wrong curve.");
        }

        // Recompute Q from d so a PKCS#8 with a forged public key cannot slip through.
        var key = FromScalar(p.D);
        // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer)
        CryptographicOperations.ZeroMemory(p.D);
        return key;
    }

    internal override KeyMaterial ImportJwk(KeyType type, JsonElement jwk)
    {
        RequireJwk(jwk, "kty", "EC");
        RequireJwk(jwk, "crv", _crv);
        var d = JwkBytes(jwk, "d");
        var key = FromScalar(d);
        // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer)
        CryptographicOperations.ZeroMemory(d);
        var expected = key.PublicKey!.Raw;
        if (!JwkBytes(jwk, "x").AsSpan().SequenceEqual(expected.Slice(1, FieldLength)) ||
            !JwkBytes(jwk, "y").AsSpan().SequenceEqual(expected.Slice(1 + FieldLength)))
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a key that is never returned: the caller gets the exception)
            key.Dispose();
            throw CryptoException.InvalidKey("The JWK public point does not match its private key.");
        }

        return key;
    }

    internal override byte[] ExportSpki(PublicKey key)
    {
        using var ec = PublicEcdsa(key);
        return ec.ExportSubjectPublicKeyInfo();
    }

    internal override void WriteJwk(Utf8JsonWriter writer, PublicKey key)
    {
        writer.WriteString("kty", "EC");
        writer.WriteString("alg", Info.JwkAlg);
        writer.WriteString("crv", _crv);
        writer.WriteString("x", Base64Url.Encode(key.Raw.Slice(1, FieldLength)));
        writer.WriteString("y", Base64Url.Encode(key.Raw.Slice(1 + FieldLength)));
    }

    private ECDsa PublicEcdsa(PublicKey key)
    {
        var ec = ECDsa.Create();
        ec.ImportParameters(new ECParameters
        {
            Curve = _curve,
            Q = new ECPoint { X = key.Raw.Slice(1, FieldLength).ToArray(), Y = key.Raw.Slice(1 + FieldLength).ToArray() },
        });
        return ec;
    }

    public byte[] Sign(KeyMaterial key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, IRandomSource random)
    {
        CheckType(key);
        if (!context.IsEmpty)
        {
            throw new CryptoException(CryptoError.InvalidArgument, "ECDSA signatures take no context.");
        }

        // The imported key is cached on the key version (disposed with it): importing PKCS#8 costs more than signing.
        var ec = key.GetOrCreate(static k =>
        {
            var created = ECDsa.Create();
            created.ImportPkcs8PrivateKey(k.Secret, out _);
            return created;
        });
        return ec.SignData(message, _hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    public bool Verify(PublicKey key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, ReadOnlySpan<byte> signature) =>
        context.IsEmpty && signature.Length == 2 * FieldLength && VerifyCore(key, message, signature, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    /// <summary>DER (RFC 3279) signature verification: only for Wycheproof's DER files and interop, not the API format.</summary>
    internal bool VerifyDer(PublicKey key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
        IsStrictDerSignature(signature) && VerifyCore(key, message, signature, DSASignatureFormat.Rfc3279DerSequence);

    /// <summary>SEQUENCE { INTEGER r, INTEGER s } in DER with both integers positive and nothing trailing.</summary>
    private static bool IsStrictDerSignature(ReadOnlySpan<byte> signature)
    {
        try
        {
            var reader = new System.Formats.Asn1.AsnReader(signature.ToArray(), System.Formats.Asn1.AsnEncodingRules.DER);
            var seq = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            var r = seq.ReadIntegerBytes().Span;
            var s = seq.ReadIntegerBytes().Span;
            seq.ThrowIfNotEmpty();
            return (r[0] & 0x80) == 0 && (s[0] & 0x80) == 0;
        }
        catch (System.Formats.Asn1.AsnContentException)
        {
            return false;
        }
    }

    private bool VerifyCore(PublicKey key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature, DSASignatureFormat format)
    {
        CheckType(key);
        try
        {
            var ec = key.GetOrCreate(PublicEcdsa);
            return ec.VerifyData(message, signature, _hash, format);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
