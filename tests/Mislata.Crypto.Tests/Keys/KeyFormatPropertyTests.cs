using System.Formats.Asn1;
using System.Text.Json;
using CsCheck;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mislata.Crypto.Tests.Keys;

/// <summary>
/// Properties of the key formats (KeyFormats.cs, the storage form) over generated keys (CsCheck): every export
/// parses back to the same key, by Mislata's own import and, for the public formats, by an independent parser
/// (BouncyCastle's SubjectPublicKeyInfo reader, a plain JSON reader for JWK).
/// </summary>
public sealed class KeyFormatPropertyTests
{
    /// <summary>The algorithms whose keys come from a seed the generator can vary cheaply (RSA and ECDSA keys do not).</summary>
    private static readonly (string Algorithm, KeyType Type)[] Seeded =
    [
        (AlgorithmNames.MlKem512, KeyType.Encryption), (AlgorithmNames.MlKem768, KeyType.Encryption), (AlgorithmNames.MlKem1024, KeyType.Encryption),
        (AlgorithmNames.MlDsa44, KeyType.Signing), (AlgorithmNames.MlDsa65, KeyType.Signing), (AlgorithmNames.MlDsa87, KeyType.Signing),
        (AlgorithmNames.Ed25519, KeyType.Signing), (AlgorithmNames.Aes256Gcm, KeyType.Symmetric),
        (AlgorithmNames.HmacSha256, KeyType.Hmac), (AlgorithmNames.HmacSha512, KeyType.Hmac),
    ];

    private static readonly Gen<(int Algorithm, string Seed, Guid KeyId, int Version)> Keys =
        Gen.Select(Gen.Int[0, Seeded.Length - 1], Gen.String[1, 24], Gen.Guid, Gen.Int[1, int.MaxValue]);

    private static KeyMaterial Generate(int algorithm, string seed) =>
        AlgorithmRegistry.Default.Generate(Seeded[algorithm].Algorithm, Seeded[algorithm].Type, new DeterministicRandom("keyformat/" + seed));

    [Fact]
    public void The_storage_form_restores_the_same_key()
    {
        Keys.Sample((algorithm, seed, _, _) =>
        {
            using var key = Generate(algorithm, seed);
            var stored = key.ExportForStorage();
            using var restored = KeyMaterial.FromStorage(stored);
            Assert.Equal((key.Algorithm, key.KeyType), (restored.Algorithm, restored.KeyType));
            Assert.Equal(stored, restored.ExportForStorage());
            Assert.Equal(key.PublicKey?.Raw.ToArray(), restored.PublicKey?.Raw.ToArray());
        }, iter: 200);
    }

    [Fact]
    public void A_raw_private_import_of_the_stored_secret_is_the_same_key()
    {
        Keys.Sample((algorithm, seed, _, _) =>
        {
            using var key = Generate(algorithm, seed);
            var stored = key.ExportForStorage();
            var secret = stored[(4 + stored[3])..];
            using var imported = KeyImporter.Import(key.Algorithm, key.KeyType, ImportFormat.Raw, Convert.ToBase64String(secret));
            Assert.Equal(stored, imported.ExportForStorage());
        }, iter: 100);
    }

    [Fact]
    public void Public_exports_parse_back_to_the_same_public_key()
    {
        Keys.Where((algorithm, _, _, _) => Seeded[algorithm].Type is KeyType.Encryption or KeyType.Signing).Sample((algorithm, seed, keyId, version) =>
        {
            using var key = Generate(algorithm, seed);
            var pub = key.PublicKey!;

            // raw: base64 of the standard encoding, imported again by the API's own parser.
            var raw = Convert.FromBase64String(PublicKeyExporter.Export(pub, PublicKeyFormat.Raw, keyId, version));
            Assert.Equal(pub.Raw.ToArray(), PublicKey.FromRaw(pub.Algorithm, pub.KeyType, raw).Raw.ToArray());

            // pem: SubjectPublicKeyInfo, read by BouncyCastle (an independent implementation of the OIDs and encodings).
            var pem = PublicKeyExporter.Export(pub, PublicKeyFormat.Pem, keyId, version);
            Assert.StartsWith("-----BEGIN PUBLIC KEY-----\n", pem, StringComparison.Ordinal);
            var spki = Convert.FromBase64String(pem.Replace("-----BEGIN PUBLIC KEY-----", string.Empty, StringComparison.Ordinal)
                .Replace("-----END PUBLIC KEY-----", string.Empty, StringComparison.Ordinal).Replace("\n", string.Empty, StringComparison.Ordinal));
            var parsed = PublicKeyFactory.CreateKey(spki);
            var encoded = parsed switch
            {
                MLKemPublicKeyParameters k => k.GetEncoded(),
                MLDsaPublicKeyParameters d => d.GetEncoded(),
                Ed25519PublicKeyParameters e => e.GetEncoded(),
                _ => throw new InvalidOperationException("unexpected key type " + parsed.GetType().Name),
            };
            Assert.Equal(pub.Raw.ToArray(), encoded);
            var reader = new AsnReader(spki, AsnEncodingRules.DER).ReadSequence();
            Assert.Equal(AlgorithmOid(pub.Algorithm), reader.ReadSequence().ReadObjectIdentifier());

            // jwk: kid and use as CRYPTO.md says, the key in "pub" (AKP) or "x" (OKP), base64url.
            using var jwk = JsonDocument.Parse(PublicKeyExporter.Export(pub, PublicKeyFormat.Jwk, keyId, version));
            var root = jwk.RootElement;
            Assert.Equal($"{keyId:D}.{version}", root.GetProperty("kid").GetString());
            Assert.Equal(pub.KeyType == KeyType.Signing ? "sig" : "enc", root.GetProperty("use").GetString());
            var member = root.GetProperty("kty").GetString() == "OKP" ? "x" : "pub";
            Assert.Equal(pub.Raw.ToArray(), Base64UrlDecode(root.GetProperty(member).GetString()!));
        }, iter: 100);
    }

    private static string AlgorithmOid(string algorithm) => algorithm switch
    {
        AlgorithmNames.MlKem512 => "2.16.840.1.101.3.4.4.1",
        AlgorithmNames.MlKem768 => "2.16.840.1.101.3.4.4.2",
        AlgorithmNames.MlKem1024 => "2.16.840.1.101.3.4.4.3",
        AlgorithmNames.MlDsa44 => "2.16.840.1.101.3.4.3.17",
        AlgorithmNames.MlDsa65 => "2.16.840.1.101.3.4.3.18",
        AlgorithmNames.MlDsa87 => "2.16.840.1.101.3.4.3.19",
        AlgorithmNames.Ed25519 => "1.3.101.112",
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
    };

    private static byte[] Base64UrlDecode(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
    }
}
