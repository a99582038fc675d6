using System.Text;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;

namespace Mislata.Crypto.Tests.Algorithms;

/// <summary>Storage form, disposal, caching and symmetric-key rules of <see cref="KeyMaterial"/> (issue 9).</summary>
public sealed class KeyMaterialRuleTests
{
    private static readonly AlgorithmRegistry Registry = AlgorithmRegistry.Default;

    private sealed class Probe : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    private static byte[] Stored(byte version, KeyType type, byte form, string algorithm, byte[] body, int? nameLength = null)
    {
        var name = Encoding.ASCII.GetBytes(algorithm);
        return [version, (byte)type, form, (byte)(nameLength ?? name.Length), .. name, .. body];
    }

    private static CryptoError RestoreError(byte[] stored) =>
        Assert.Throws<CryptoException>(() => KeyMaterial.FromStorage(stored)).Error;

    [Fact]
    public void Storage_form_round_trips_a_symmetric_key()
    {
        var secret = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        using var key = KeyMaterial.FromStorage(Stored(1, KeyType.Symmetric, 4, AlgorithmNames.Aes256Gcm, secret));
        Assert.Equal(Stored(1, KeyType.Symmetric, 4, AlgorithmNames.Aes256Gcm, secret), key.ExportForStorage());
    }

    [Fact]
    public void A_name_length_beyond_the_stored_bytes_is_invalid_key_material()
    {
        var stored = Stored(1, KeyType.Symmetric, 4, AlgorithmNames.Aes256Gcm, new byte[32], nameLength: 200);
        Assert.Equal(CryptoError.InvalidKeyMaterial, RestoreError(stored));
    }

    [Fact]
    public void A_stored_key_type_its_algorithm_does_not_allow_is_invalid_key_material()
    {
        Assert.Equal(CryptoError.InvalidKeyMaterial, RestoreError(Stored(1, KeyType.Signing, 4, AlgorithmNames.Aes256Gcm, new byte[32])));
        Assert.Equal(CryptoError.InvalidKeyMaterial, RestoreError(Stored(1, KeyType.Symmetric, 4, AlgorithmNames.HmacSha256, new byte[32])));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_symmetric_key_stored_in_another_private_form_is_invalid_key_material(byte form) =>
        Assert.Equal(CryptoError.InvalidKeyMaterial, RestoreError(Stored(1, KeyType.Symmetric, form, AlgorithmNames.Aes256Gcm, new byte[32])));

    [Fact]
    public void A_disposed_key_refuses_use_and_its_secret_is_zeroed()
    {
        var key = Registry.Generate(AlgorithmNames.HmacSha256, KeyType.Hmac, new DeterministicRandom("dispose"));
        var secret = key.Secret;
        Assert.Contains(secret.ToArray(), b => b != 0);
        key.Dispose();
        Assert.All(secret.ToArray(), b => Assert.Equal(0, b));
        Assert.Throws<ObjectDisposedException>(() => Registry.GetMac(AlgorithmNames.HmacSha256).Compute(key, "m"u8));
        Assert.Throws<ObjectDisposedException>(() => key.ExportForStorage());
        key.Dispose(); // idempotent
    }

    [Fact]
    public void Dispose_releases_the_cached_library_object()
    {
        var key = Registry.Generate(AlgorithmNames.HmacSha256, KeyType.Hmac, new DeterministicRandom("cache"));
        var probe = key.GetOrCreate(_ => new Probe());
        Assert.Same(probe, key.GetOrCreate(_ => new Probe()));
        key.Dispose();
        Assert.True(probe.Disposed);
        Assert.Throws<ObjectDisposedException>(() => key.GetOrCreate(_ => new Probe())); // nothing is created for a disposed key
    }

    [Fact]
    public void When_another_caller_cached_first_the_loser_object_is_disposed_and_the_winner_returned()
    {
        using var key = Registry.Generate(AlgorithmNames.HmacSha256, KeyType.Hmac, new DeterministicRandom("race"));
        var winner = new Probe();
        var loser = new Probe();
        // The factory itself caches an object first, as a concurrent caller would.
        var got = key.GetOrCreate(k => k.GetOrCreate(_ => winner) == winner ? loser : loser);
        Assert.Same(winner, got);
        Assert.True(loser.Disposed);
        Assert.False(winner.Disposed);

        using var signing = Registry.Generate(AlgorithmNames.Ed25519, KeyType.Signing, new DeterministicRandom("race-pub"));
        var pub = PublicKey.FromRaw(AlgorithmNames.Ed25519, KeyType.Signing, signing.PublicKey!.Raw);
        var pubWinner = new Probe();
        var pubLoser = new Probe();
        Assert.Same(pubWinner, pub.GetOrCreate(p => p.GetOrCreate(_ => pubWinner) == pubWinner ? pubLoser : pubLoser));
        Assert.True(pubLoser.Disposed);
        Assert.Same(pubWinner, pub.GetOrCreate(_ => new Probe()));
    }

    [Theory]
    [InlineData(AlgorithmNames.Aes256Gcm, KeyType.Symmetric)]
    [InlineData(AlgorithmNames.HmacSha256, KeyType.Hmac)]
    [InlineData(AlgorithmNames.MlKem768, KeyType.Signing)]
    [InlineData(AlgorithmNames.MlDsa65, KeyType.Encryption)]
    public void PublicKey_FromRaw_refuses_symmetric_algorithms_and_disallowed_types(string algorithm, KeyType type) =>
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() => PublicKey.FromRaw(algorithm, type, new byte[32])).Error);

    [Theory]
    [InlineData(AlgorithmNames.Aes256Gcm, false)]
    [InlineData(AlgorithmNames.HmacSha256, false)]
    [InlineData(AlgorithmNames.HmacSha512, false)]
    [InlineData(AlgorithmNames.MlKem512, true)]
    [InlineData(AlgorithmNames.Ed25519, true)]
    [InlineData(AlgorithmNames.Rsa2048, true)]
    public void Only_AES_and_HMAC_are_symmetric(string algorithm, bool asymmetric) =>
        Assert.Equal(asymmetric, Registry.Get(algorithm).Info.IsAsymmetric);

    [Theory]
    [InlineData(AlgorithmNames.HmacSha256, 32, 32)]
    [InlineData(AlgorithmNames.HmacSha512, 64, 64)]
    public void Hmac_keys_are_generated_at_the_hash_length_and_imported_from_that_length_up_to_1024_bytes(string name, int generated, int minimum)
    {
        // A fresh instance (not the static registry's) so that its constructor runs under test.
        var hmac = new HmacAlgorithm(name);
        Assert.Equal(generated, hmac.KeyLength);
        using (var key = hmac.Generate(KeyType.Hmac, new DeterministicRandom("hmac-len")))
        {
            Assert.Equal(generated, key.Secret.Length);
        }

        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(() => hmac.ImportRaw(KeyType.Hmac, new byte[minimum - 1])).Error);
        using (var min = hmac.ImportRaw(KeyType.Hmac, new byte[minimum]))
        {
            Assert.Equal(minimum, min.Secret.Length);
        }

        using (var max = hmac.ImportRaw(KeyType.Hmac, new byte[1024]))
        {
            Assert.Equal(1024, max.Secret.Length);
        }

        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(() => hmac.ImportRaw(KeyType.Hmac, new byte[1025])).Error);
        Assert.Equal(generated, hmac.MacLength);
    }

    [Fact]
    public void Aes_keys_are_exactly_32_bytes_and_encrypt_with_the_A256GCM_scheme()
    {
        var aes = new AesGcmAlgorithm();
        Assert.Equal("A256GCM", aes.Info.PayloadScheme);
        Assert.Equal(32, aes.KeyLength);
        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(() => aes.ImportRaw(KeyType.Symmetric, new byte[31])).Error);
        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(() => aes.ImportRaw(KeyType.Symmetric, new byte[33])).Error);
        using var key = aes.ImportRaw(KeyType.Symmetric, new byte[32]);
        Assert.Equal(KeyType.Symmetric, key.KeyType);
    }

    [Fact]
    public void Symmetric_keys_import_from_an_oct_jwk_only()
    {
        var k = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        var b64u = Convert.ToBase64String(k).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        using (var key = KeyImporter.Import(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, ImportFormat.Jwk, $"{{\"kty\":\"oct\",\"k\":\"{b64u}\"}}"))
        {
            Assert.Equal(k, key.Secret.ToArray());
        }

        using (var key = KeyImporter.Import(AlgorithmNames.HmacSha256, KeyType.Hmac, ImportFormat.Jwk, $"{{\"kty\":\"oct\",\"k\":\"{b64u}\"}}"))
        {
            Assert.Equal(k, key.Secret.ToArray());
        }

        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(() =>
            KeyImporter.Import(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, ImportFormat.Jwk, $"{{\"kty\":\"RSA\",\"k\":\"{b64u}\"}}")).Error);
        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(() =>
            KeyImporter.Import(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, ImportFormat.Jwk, $"{{\"k\":\"{b64u}\"}}")).Error);
        Assert.Equal(CryptoError.InvalidKeyMaterial, Assert.Throws<CryptoException>(() =>
            KeyImporter.Import(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, ImportFormat.Pkcs8, Convert.ToBase64String(k))).Error);
    }

    [Fact]
    public void Generate_refuses_a_key_type_the_algorithm_does_not_allow()
    {
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() =>
            Registry.Generate(AlgorithmNames.MlKem768, KeyType.Signing, new DeterministicRandom("g"))).Error);
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() => Registry.Get(null!)).Error);
        Assert.Equal(CryptoError.AlgorithmMismatch, Assert.Throws<CryptoException>(() => Registry.Get("ml-kem-768")).Error);
    }

    [Fact]
    public void CryptoException_constructors_default_to_invalid_argument_with_a_message()
    {
        var plain = new CryptoException();
        Assert.Equal(CryptoError.InvalidArgument, plain.Error);
        Assert.False(string.IsNullOrEmpty(plain.Message));
        Assert.Equal(CryptoError.InvalidArgument, new CryptoException("m").Error);
        var inner = new InvalidOperationException("inner");
        var wrapped = new CryptoException("m", inner);
        Assert.Equal(CryptoError.InvalidArgument, wrapped.Error);
        Assert.Same(inner, wrapped.InnerException);
    }

    [Fact]
    public void An_algorithm_mismatch_names_the_algorithm_and_the_operation()
    {
        using var key = Registry.Generate(AlgorithmNames.MlDsa44, KeyType.Signing, new DeterministicRandom("mismatch"));
        var ex = Assert.Throws<CryptoException>(() => Mislata.Crypto.Payloads.EncryptedPayloadCodec.Encrypt(key, Guid.NewGuid(), 1, "x"u8, "utf8", null, new DeterministicRandom("m")));
        Assert.Equal(CryptoError.AlgorithmMismatch, ex.Error);
        Assert.Equal("Algorithm ML-DSA-44 cannot encrypt.", ex.Message);
    }
}
