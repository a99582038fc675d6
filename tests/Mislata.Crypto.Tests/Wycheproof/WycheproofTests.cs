using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text.Json;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;
using Mislata.Crypto.Primitives;
using Xunit.Abstractions;

namespace Mislata.Crypto.Tests.Wycheproof;

/// <summary>
/// Every vector of every Wycheproof file, run through Mislata.Crypto's own entry points (registry algorithms, key
/// import, AES-GCM/HMAC/HKDF primitives); each file's line names the entry point. An invalid vector passes only when
/// that call rejects it (<see cref="WycheproofRun.Verify"/>: false or an error; <see cref="WycheproofRun.Compute"/>: an
/// error, never output). A library exception escaping a wrapper fails the test: only <see cref="CryptoException"/> may.
/// </summary>
public sealed class WycheproofTests(ITestOutputHelper output)
{
    private static readonly AlgorithmRegistry Registry = AlgorithmRegistry.Default;

    [Fact]
    public void Aes_gcm()
    {
        // Decrypt first: a modified tag or an empty IV must make it throw. A valid vector must also encrypt to the file's
        // ciphertext and tag.
        var run = new WycheproofRun("aes_gcm_test.json", "AesGcmPrimitive.Decrypt + Encrypt", output);
        foreach (var (_, t) in run.Tests())
        {
            var key = Hex.Get(t, "key");
            var iv = Hex.Get(t, "iv");
            var aad = Hex.Get(t, "aad");
            var msg = Hex.Get(t, "msg");
            var ct = Hex.Get(t, "ct");
            var tag = Hex.Get(t, "tag");
            run.Compute(t, () =>
            {
                var plaintext = new byte[ct.Length];
                AesGcmPrimitive.Decrypt(key, iv, ct, tag, plaintext, aad);
                var ct2 = new byte[msg.Length];
                var tag2 = new byte[tag.Length];
                AesGcmPrimitive.Encrypt(key, iv, msg, ct2, tag2, aad);
                return plaintext.AsSpan().SequenceEqual(msg) && ct2.AsSpan().SequenceEqual(ct) && tag2.AsSpan().SequenceEqual(tag);
            });
        }

        run.Finish();
    }

    [Theory]
    [InlineData("hmac_sha256_test.json", "SHA256")]
    [InlineData("hmac_sha384_test.json", "SHA384")]
    [InlineData("hmac_sha512_test.json", "SHA512")]
    public void Hmac_sha2(string file, string hash)
    {
        var run = new WycheproofRun(file, "Hmac.Verify", output);
        var name = new HashAlgorithmName(hash);
        foreach (var (g, t) in run.Tests())
        {
            var tagBytes = g.GetProperty("tagSize").GetInt32() / 8;
            var key = Hex.Get(t, "key");
            var msg = Hex.Get(t, "msg");
            var tag = Hex.Get(t, "tag");
            run.Verify(t, () => Hmac.Verify(name, key, msg, tag, tagBytes));
        }

        run.Finish();
    }

    [Fact]
    public void Hmac_sha256_and_512_through_registry_keys()
    {
        // Full-length vectors of the offered algorithms also through IMacAlgorithm with imported raw keys.
        foreach (var (file, alg) in new[] { ("hmac_sha256_test.json", AlgorithmNames.HmacSha256), ("hmac_sha512_test.json", AlgorithmNames.HmacSha512) })
        {
            var mac = Registry.GetMac(alg);
            var run = new WycheproofRun(file, $"KeyImporter.Import + IMacAlgorithm {alg}.Verify", output);
            foreach (var (g, t) in run.Tests())
            {
                var key = Hex.Get(t, "key");
                if (g.GetProperty("tagSize").GetInt32() != g.GetProperty("keySize").GetInt32() || key.Length < (alg == AlgorithmNames.HmacSha256 ? 32 : 64))
                {
                    run.NotApplicable();
                    continue;
                }

                using var material = KeyImporter.Import(alg, KeyType.Hmac, ImportFormat.Raw, Convert.ToBase64String(key));
                run.Verify(t, () => mac.Verify(material, Hex.Get(t, "msg"), Hex.Get(t, "tag")));
            }

            run.Finish("truncated tags or keys shorter than the algorithm's key size: covered by Hmac_sha2");
        }
    }

    [Fact]
    public void Hkdf_sha256()
    {
        var run = new WycheproofRun("hkdf_sha256_test.json", "Hkdf.Sha256", output);
        foreach (var (_, t) in run.Tests())
        {
            var size = t.GetProperty("size").GetInt32();
            run.Compute(t, () =>
            {
                var okm = new byte[size];
                Hkdf.Sha256(Hex.Get(t, "ikm"), Hex.Get(t, "salt"), Hex.Get(t, "info"), okm);
                return okm.AsSpan().SequenceEqual(Hex.Get(t, "okm"));
            });
        }

        run.Finish();
    }

    [Theory]
    [InlineData("ecdsa_secp256r1_sha256_test.json", AlgorithmNames.EcdsaP256, 32)]
    [InlineData("ecdsa_secp384r1_sha384_test.json", AlgorithmNames.EcdsaP384, 48)]
    public void Ecdsa_der(string file, string algorithm, int field)
    {
        // These files carry DER signatures: verified through the wrapper's DER path; every valid one is also
        // converted to P1363 (the API format) and verified through ISignatureAlgorithm.Verify.
        var run = new WycheproofRun(file, $"PublicKey.FromRaw + EcdsaAlgorithm {algorithm}.VerifyDer (valid ones also ISignatureAlgorithm.Verify, P1363)", output);
        var ecdsa = (EcdsaAlgorithm)Registry.Get(algorithm);
        foreach (var (g, t) in run.Tests())
        {
            var raw = Hex.Get(g.GetProperty("publicKey"), "uncompressed");
            var msg = Hex.Get(t, "msg");
            var sig = Hex.Get(t, "sig");
            run.Verify(t, () =>
            {
                var key = PublicKey.FromRaw(algorithm, KeyType.Signing, raw);
                var ok = ecdsa.VerifyDer(key, msg, sig);
                if (ok)
                {
                    Assert.True(ecdsa.Verify(key, msg, [], DerToP1363(sig, field)), "P1363 form of a valid signature rejected");
                }

                return ok;
            });
        }

        run.Finish();
    }

    private static byte[] DerToP1363(byte[] der, int field)
    {
        var seq = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var r = seq.ReadIntegerBytes().ToArray().SkipWhile(b => b == 0).ToArray();
        var s = seq.ReadIntegerBytes().ToArray().SkipWhile(b => b == 0).ToArray();
        var result = new byte[2 * field];
        r.CopyTo(result, field - r.Length);
        s.CopyTo(result, (2 * field) - s.Length);
        return result;
    }

    [Fact]
    public void Ed25519()
    {
        var run = new WycheproofRun("ed25519_test.json", "PublicKey.FromRaw + ISignatureAlgorithm Ed25519.Verify", output);
        var ed = Registry.GetSigner(AlgorithmNames.Ed25519);
        foreach (var (g, t) in run.Tests())
        {
            var pk = Hex.Get(g.GetProperty("publicKey"), "pk");
            run.Verify(t, () => ed.Verify(PublicKey.FromRaw(AlgorithmNames.Ed25519, KeyType.Signing, pk), Hex.Get(t, "msg"), [], Hex.Get(t, "sig")));
        }

        run.Finish();
    }

    [Fact]
    public void X25519_vectors_are_not_run_while_no_Mislata_algorithm_uses_X25519()
    {
        // The X25519 file would exercise BouncyCastle only: no Mislata entry point does X25519 (no algorithm of the
        // registry, no key agreement anywhere). This fails the day one is added, so that the file gets run through it.
        Assert.DoesNotContain(Registry.All, a => a.Name.Contains("25519", StringComparison.Ordinal) && a.Name != AlgorithmNames.Ed25519);
        Assert.DoesNotContain(typeof(AlgorithmRegistry).Assembly.GetTypes(), t => t.Name.Contains("X25519", StringComparison.Ordinal));
        var line = "wycheproof x25519_test.json: not run (no Mislata entry point uses X25519: it would test BouncyCastle, not Mislata)";
        output.WriteLine(line);
        Console.WriteLine(line);
    }

    [Theory]
    [InlineData("rsa_oaep_2048_sha256_mgf1sha256_test.json", AlgorithmNames.Rsa2048)]
    [InlineData("rsa_oaep_3072_sha256_mgf1sha256_test.json", AlgorithmNames.Rsa3072)]
    [InlineData("rsa_oaep_4096_sha256_mgf1sha256_test.json", AlgorithmNames.Rsa4096)]
    public void Rsa_oaep(string file, string algorithm)
    {
        var run = new WycheproofRun(file, $"KeyImporter.Import (PKCS#8) + RsaAlgorithm {algorithm}.UnwrapKey", output);
        var rsa = (RsaAlgorithm)Registry.Get(algorithm);
        KeyMaterial? key = null;
        foreach (var (g, t) in run.Tests())
        {
            key ??= KeyImporter.Import(algorithm, KeyType.Encryption, ImportFormat.Pkcs8, Convert.ToBase64String(Hex.Get(g, "privateKeyPkcs8")));
            run.Compute(t, () => rsa.UnwrapKey(key, Hex.Get(t, "ct"), Hex.Get(t, "label")).AsSpan().SequenceEqual(Hex.Get(t, "msg")));
        }

        key?.Dispose();
        run.Finish();
    }

    [Fact]
    public void Rsa_pss_2048_sha256_mgf1_32()
    {
        var run = new WycheproofRun("rsa_pss_2048_sha256_mgf1_32_test.json", "PublicKey.FromRaw (SPKI) + ISignatureAlgorithm RSA-2048.Verify", output);
        var rsa = Registry.GetSigner(AlgorithmNames.Rsa2048);
        foreach (var (g, t) in run.Tests())
        {
            var pub = PublicKey.FromRaw(AlgorithmNames.Rsa2048, KeyType.Signing, Hex.Get(g, "publicKeyAsn"));
            run.Verify(t, () => rsa.Verify(pub, Hex.Get(t, "msg"), [], Hex.Get(t, "sig")));
        }

        run.Finish();
    }

    private static MlKemAlgorithm Kem(int level) => (MlKemAlgorithm)Registry.Get("ML-KEM-" + level);

    [Theory]
    [InlineData(512)]
    [InlineData(768)]
    [InlineData(1024)]
    public void Mlkem_test(int level)
    {
        var run = new WycheproofRun($"mlkem_{level}_test.json", $"MlKemAlgorithm ML-KEM-{level}.FromSeed + Decapsulate", output);
        var kem = Kem(level);
        foreach (var (_, t) in run.Tests())
        {
            run.Compute(t, () =>
            {
                using var key = kem.FromSeed(Hex.Get(t, "seed"));
                if (Hex.Has(t, "ek") && !key.PublicKey!.Raw.SequenceEqual(Hex.Get(t, "ek")))
                {
                    return false;
                }

                return kem.Decapsulate(key, Hex.Get(t, "c")).AsSpan().SequenceEqual(Hex.Get(t, "K"));
            });
        }

        run.Finish();
    }

    [Theory]
    [InlineData(512)]
    [InlineData(768)]
    [InlineData(1024)]
    public void Mlkem_encaps(int level)
    {
        var run = new WycheproofRun($"mlkem_{level}_encaps_test.json", $"PublicKey.FromRaw + MlKemAlgorithm ML-KEM-{level}.Encapsulate", output);
        var kem = Kem(level);
        foreach (var (_, t) in run.Tests())
        {
            run.Compute(t, () =>
            {
                var pub = PublicKey.FromRaw("ML-KEM-" + level, KeyType.Encryption, Hex.Get(t, "ek"));
                var (c, k) = kem.Encapsulate(pub, new FixedRandom(Hex.Get(t, "m")));
                return c.AsSpan().SequenceEqual(Hex.Get(t, "c")) && k.AsSpan().SequenceEqual(Hex.Get(t, "K"));
            });
        }

        run.Finish();
    }

    [Theory]
    [InlineData(512)]
    [InlineData(768)]
    [InlineData(1024)]
    public void Mlkem_keygen_seed(int level)
    {
        var run = new WycheproofRun($"mlkem_{level}_keygen_seed_test.json", $"MlKemAlgorithm ML-KEM-{level}.FromSeed + ExpandedPrivateKey", output);
        var kem = Kem(level);
        foreach (var (_, t) in run.Tests())
        {
            run.Compute(t, () =>
            {
                using var key = kem.FromSeed(Hex.Get(t, "seed"));
                return key.PublicKey!.Raw.SequenceEqual(Hex.Get(t, "ek")) && kem.ExpandedPrivateKey(key).AsSpan().SequenceEqual(Hex.Get(t, "dk"));
            });
        }

        run.Finish();
    }

    [Theory]
    [InlineData(512)]
    [InlineData(768)]
    [InlineData(1024)]
    public void Mlkem_semi_expanded_decaps(int level)
    {
        var run = new WycheproofRun($"mlkem_{level}_semi_expanded_decaps_test.json", $"MlKemAlgorithm ML-KEM-{level}.FromExpanded + Decapsulate", output);
        var kem = Kem(level);
        foreach (var (_, t) in run.Tests())
        {
            run.Compute(t, () =>
            {
                using var key = kem.FromExpanded(Hex.Get(t, "dk"));
                return key.PublicKey!.Raw.SequenceEqual(Hex.Get(t, "ek")) &&
                    kem.Decapsulate(key, Hex.Get(t, "c")).AsSpan().SequenceEqual(Hex.Get(t, "K"));
            });
        }

        run.Finish();
    }

    private static MlDsaAlgorithm Dsa(int level) => (MlDsaAlgorithm)Registry.Get("ML-DSA-" + level);

    [Theory]
    [InlineData(44)]
    [InlineData(65)]
    [InlineData(87)]
    public void Mldsa_sign_seed(int level)
    {
        var run = new WycheproofRun($"mldsa_{level}_sign_seed_test.json", $"MlDsaAlgorithm ML-DSA-{level}.FromSeed + SignCore + Verify", output);
        var dsa = Dsa(level);
        foreach (var (g, t) in run.Tests())
        {
            if (!Hex.Has(t, "msg"))
            {
                run.NotApplicable();
                continue;
            }

            run.Compute(t, () => SignAndCompare(dsa, () => dsa.FromSeed(Hex.Get(g, "privateSeed")), g, t));
            if (Hex.Has(g, "privateKeyPkcs8") && t.GetProperty("result").GetString() == "valid")
            {
                using var imported = KeyImporter.Import("ML-DSA-" + level, KeyType.Signing, ImportFormat.Pkcs8, Convert.ToBase64String(Hex.Get(g, "privateKeyPkcs8")));
                Assert.True(imported.PublicKey!.Raw.SequenceEqual(Hex.Get(g, "publicKey")));
            }
        }

        run.Finish("external-μ vectors: the API signs messages (pure ML-DSA), it offers no external-μ interface");
    }

    [Theory]
    [InlineData(44)]
    [InlineData(65)]
    [InlineData(87)]
    public void Mldsa_sign_noseed(int level)
    {
        var run = new WycheproofRun($"mldsa_{level}_sign_noseed_test.json", $"MlDsaAlgorithm ML-DSA-{level}.FromExpanded + SignCore + Verify", output);
        var dsa = Dsa(level);
        foreach (var (g, t) in run.Tests())
        {
            if (!Hex.Has(t, "msg"))
            {
                run.NotApplicable();
                continue;
            }

            run.Compute(t, () => SignAndCompare(dsa, () => dsa.FromExpanded(Hex.Get(g, "privateKey")), g, t));
        }

        run.Finish("external-μ vectors: the API signs messages (pure ML-DSA), it offers no external-μ interface");
    }

    private static bool SignAndCompare(MlDsaAlgorithm dsa, Func<KeyMaterial> load, JsonElement g, JsonElement t)
    {
        using var key = load();
        if (Hex.Has(g, "publicKey") && !key.PublicKey!.Raw.SequenceEqual(Hex.Get(g, "publicKey")))
        {
            return false;
        }

        var rnd = Hex.Has(t, "rnd") ? new FixedRandom(Hex.Get(t, "rnd")) : null;
        var sig = dsa.SignCore(key, Hex.Get(t, "msg"), Hex.Get(t, "ctx"), rnd);
        return sig.AsSpan().SequenceEqual(Hex.Get(t, "sig")) && dsa.Verify(key.PublicKey!, Hex.Get(t, "msg"), Hex.Get(t, "ctx"), sig);
    }

    [Theory]
    [InlineData(44)]
    [InlineData(65)]
    [InlineData(87)]
    public void Mldsa_verify(int level)
    {
        var run = new WycheproofRun($"mldsa_{level}_verify_test.json", $"PublicKey.FromRaw + ISignatureAlgorithm ML-DSA-{level}.Verify", output);
        var dsa = Dsa(level);
        foreach (var (g, t) in run.Tests())
        {
            run.Verify(t, () =>
                dsa.Verify(PublicKey.FromRaw("ML-DSA-" + level, KeyType.Signing, Hex.Get(g, "publicKey")), Hex.Get(t, "msg"), Hex.Get(t, "ctx"), Hex.Get(t, "sig")));
        }

        run.Finish();
    }
}
