using System.Formats.Asn1;
using System.Security.Cryptography;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;

namespace Mislata.Crypto.Tests.Keys;

/// <summary>BYOK import gate and public-key export argument rules (issue 9).</summary>
public sealed class KeyImporterRuleTests
{
    private static CryptoError ImportError(string algorithm, KeyType type, ImportFormat format, string material) =>
        Assert.Throws<CryptoException>(() => KeyImporter.Import(algorithm, type, format, material)).Error;

    /// <summary>PKCS#1 RSAPrivateKey of a fresh key, with CRT exponent dP changed when <paramref name="breakDp"/>.</summary>
    private static byte[] RsaPkcs1(bool breakDp)
    {
        using var rsa = RSA.Create(2048);
        var p = rsa.ExportParameters(true);
        if (breakDp)
        {
            p.DP![^1] ^= 0x02;
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(0);
            foreach (var part in new[] { p.Modulus!, p.Exponent!, p.D!, p.P!, p.Q!, p.DP!, p.DQ!, p.InverseQ! })
            {
                // RSAParameters are fixed-width: a field may start with zero bytes (about one key in 30), which DER does not allow.
                writer.WriteIntegerUnsigned(part.AsSpan().TrimStart((byte)0));
            }
        }

        return writer.Encode();
    }

    [Fact]
    public void An_rsa_encryption_key_that_fails_the_pairwise_consistency_test_is_refused()
    {
        using (var good = KeyImporter.Import(AlgorithmNames.Rsa2048, KeyType.Encryption, ImportFormat.Raw, Convert.ToBase64String(RsaPkcs1(breakDp: false))))
        {
            Assert.Equal(KeyType.Encryption, good.KeyType);
        }

        Assert.Equal(CryptoError.InvalidKeyMaterial, ImportError(AlgorithmNames.Rsa2048, KeyType.Encryption, ImportFormat.Raw, Convert.ToBase64String(RsaPkcs1(breakDp: true))));
    }

    [Theory]
    [InlineData("no-such-algorithm", KeyType.Symmetric)]
    [InlineData(AlgorithmNames.Aes256Gcm, KeyType.Encryption)]
    [InlineData(AlgorithmNames.MlKem768, KeyType.Signing)]
    public void An_unknown_algorithm_or_a_disallowed_key_type_is_an_algorithm_mismatch(string algorithm, KeyType type) =>
        Assert.Equal(CryptoError.AlgorithmMismatch, ImportError(algorithm, type, ImportFormat.Raw, Convert.ToBase64String(new byte[32])));

    [Theory]
    [InlineData("PUBLIC KEY")]
    [InlineData("CERTIFICATE")]
    [InlineData("ENCRYPTED PRIVATE KEY")]
    public void A_pem_that_is_not_a_private_key_is_refused_even_when_its_bytes_would_fit(string label)
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        using (var raw = KeyImporter.Import(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, ImportFormat.Raw, PemEncoding.WriteString("PRIVATE KEY", bytes)))
        {
            Assert.Equal(bytes, raw.Secret.ToArray());
        }

        Assert.Equal(CryptoError.InvalidKeyMaterial, ImportError(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, ImportFormat.Raw, PemEncoding.WriteString(label, bytes)));
    }

    [Theory]
    [InlineData("not base64!")]
    [InlineData("AAA")]
    [InlineData("-----BEGIN PRIVATE KEY-----\nnot a pem")]
    public void Material_that_is_not_base64_or_a_pem_is_invalid_key_material(string material) =>
        Assert.Equal(CryptoError.InvalidKeyMaterial, ImportError(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, ImportFormat.Raw, material));

    [Fact]
    public void Null_arguments_are_refused_with_ArgumentNullException()
    {
        using var key = AlgorithmRegistry.Default.Generate(AlgorithmNames.Ed25519, KeyType.Signing, new DeterministicRandom("null-export"));
        Assert.Throws<ArgumentNullException>(() => KeyImporter.Import(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, ImportFormat.Raw, null!));
        Assert.Throws<ArgumentNullException>(() => PublicKeyExporter.ExportSpki(null!));
        using var stream = new MemoryStream();
        using var writer = new System.Text.Json.Utf8JsonWriter(stream);
        Assert.Throws<ArgumentNullException>(() => PublicKeyExporter.WriteJwk(null!, key.PublicKey!, Guid.NewGuid(), 1));
        Assert.Throws<ArgumentNullException>(() => PublicKeyExporter.WriteJwk(writer, null!, Guid.NewGuid(), 1));
        writer.Flush();
        Assert.Equal(0, stream.Length); // nothing half-written
    }
}
