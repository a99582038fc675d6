using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Payloads;
using Org.BouncyCastle.Crypto.Kems;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;

// `rate …`: the timed multi-threaded sign/verify loop of bench/run-ops.sh (RawRate.cs); anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "rate")
{
    RawRate.Run(args[1..]);
    return;
}

var config = ManualConfig.CreateEmpty()
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(2).WithIterationCount(5).WithLaunchCount(1))
    .AddColumnProvider(BenchmarkDotNet.Columns.DefaultColumnProviders.Instance)
    .AddLogger(BenchmarkDotNet.Loggers.ConsoleLogger.Default)
    .AddExporter(BenchmarkDotNet.Exporters.Json.JsonExporter.Brief)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(Pairs).Assembly).Run(args, config);

/// <summary>Each wrapper operation next to the raw library call it wraps ("Raw" prefix). Names: {Operation}_{Wrapper|Raw}.</summary>
public class Pairs
{
    private static readonly Guid Id = Guid.NewGuid();
    private readonly byte[] _msg = Encoding.UTF8.GetBytes(new string('x', 256));
    private readonly AlgorithmRegistry _r = AlgorithmRegistry.Default;
    private KeyMaterial _kem = null!, _aes = null!, _rsaEnc = null!, _mldsa = null!, _ecdsa = null!, _ed = null!, _hmac = null!, _rsaSig = null!;
    private string _kemPayload = null!, _aesPayload = null!, _rsaPayload = null!;
    private byte[] _mldsaSig = null!, _ecdsaSig = null!, _edSig = null!;
    private MLKemPublicKeyParameters _bcKemPub = null!;
    private MLKemPrivateKeyParameters _bcKemPriv = null!;
    private byte[] _bcKemCt = null!;
    private MLDsaPrivateKeyParameters _bcDsaPriv = null!;
    private MLDsaPublicKeyParameters _bcDsaPub = null!;
    private ECDsa _netEc = null!;
    private byte[] _aesKey = null!;
    private readonly SecureRandom _sr = new();

    [GlobalSetup]
    public void Setup()
    {
        var os = OsRandomSource.Instance;
        _kem = _r.Generate("ML-KEM-768", KeyType.Encryption, os);
        _aes = _r.Generate("AES-256-GCM", KeyType.Symmetric, os);
        _rsaEnc = _r.Generate("RSA-2048", KeyType.Encryption, os);
        _rsaSig = _r.Generate("RSA-2048", KeyType.Signing, os);
        _mldsa = _r.Generate("ML-DSA-65", KeyType.Signing, os);
        _ecdsa = _r.Generate("ECDSA-P256", KeyType.Signing, os);
        _ed = _r.Generate("Ed25519", KeyType.Signing, os);
        _hmac = _r.Generate("HMAC-SHA256", KeyType.Hmac, os);
        _kemPayload = EncryptedPayloadCodec.Encrypt(_kem, Id, 1, _msg, "utf8", null, os);
        _aesPayload = EncryptedPayloadCodec.Encrypt(_aes, Id, 1, _msg, "utf8", null, os);
        _rsaPayload = EncryptedPayloadCodec.Encrypt(_rsaEnc, Id, 1, _msg, "utf8", null, os);
        _mldsaSig = _r.GetSigner("ML-DSA-65").Sign(_mldsa, _msg, [], os);
        _ecdsaSig = _r.GetSigner("ECDSA-P256").Sign(_ecdsa, _msg, [], os);
        _edSig = _r.GetSigner("Ed25519").Sign(_ed, _msg, [], os);
        _bcKemPriv = MLKemPrivateKeyParameters.FromSeed(MLKemParameters.ml_kem_768, RandomNumberGenerator.GetBytes(64));
        _bcKemPub = _bcKemPriv.GetPublicKey();
        (_bcKemCt, _) = RawKemEncaps();
        _bcDsaPriv = MLDsaPrivateKeyParameters.FromSeed(MLDsaParameters.ml_dsa_65, RandomNumberGenerator.GetBytes(32));
        _bcDsaPub = _bcDsaPriv.GetPublicKey();
        _netEc = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _aesKey = RandomNumberGenerator.GetBytes(32);
    }

    private (byte[], byte[]) RawKemEncaps()
    {
        var enc = new MLKemEncapsulator(MLKemParameters.ml_kem_768);
        enc.Init(new ParametersWithRandom(_bcKemPub, _sr));
        var ct = new byte[enc.EncapsulationLength];
        var ss = new byte[32];
        enc.Encapsulate(ct, ss);
        return (ct, ss);
    }

    // ---- encrypt / decrypt per scheme (raw = the primitive calls the scheme is made of) ----
    [Benchmark] public string EncryptMlKem768_Wrapper() => EncryptedPayloadCodec.Encrypt(_kem, Id, 1, _msg, "utf8", null, OsRandomSource.Instance);

    [Benchmark] public byte[] EncryptMlKem768_Raw()
    {
        var (_, ss) = RawKemEncaps();
        var cek = HKDF.DeriveKey(HashAlgorithmName.SHA256, ss, 32, [], "mislata/v1/ML-KEM-768+A256GCM"u8.ToArray());
        return RawGcm(cek);
    }

    [Benchmark] public byte[] DecryptMlKem768_Wrapper() => EncryptedPayloadCodec.Decrypt(_kem, _kemPayload, null).Plaintext;

    [Benchmark] public byte[] DecryptMlKem768_Raw()
    {
        var dec = new MLKemDecapsulator(MLKemParameters.ml_kem_768);
        dec.Init(_bcKemPriv);
        var ss = new byte[32];
        dec.Decapsulate(_bcKemCt, ss);
        return RawGcm(HKDF.DeriveKey(HashAlgorithmName.SHA256, ss, 32, [], "mislata/v1/ML-KEM-768+A256GCM"u8.ToArray()));
    }

    [Benchmark] public string EncryptA256Gcm_Wrapper() => EncryptedPayloadCodec.Encrypt(_aes, Id, 1, _msg, "utf8", null, OsRandomSource.Instance);

    [Benchmark] public byte[] EncryptA256Gcm_Raw() => RawGcm(_aesKey);

    [Benchmark] public byte[] DecryptA256Gcm_Wrapper() => EncryptedPayloadCodec.Decrypt(_aes, _aesPayload, null).Plaintext;

    [Benchmark] public byte[] DecryptA256Gcm_Raw() => RawGcm(_aesKey);

    [Benchmark] public byte[] DecryptRsaOaep_Wrapper() => EncryptedPayloadCodec.Decrypt(_rsaEnc, _rsaPayload, null).Plaintext;

    [Benchmark] public byte[] DecryptRsaOaep_Raw()
    {
        using var rsa = RSA.Create();
        rsa.ImportPkcs8PrivateKey(_rsaEnc.ExportForStorage().AsSpan(4 + 8), out _);
        var ek = EncryptedPayloadCodec.Parse(_rsaPayload).EncapsulatedKey.ToArray();
        return RawGcm(rsa.Decrypt(ek, RSAEncryptionPadding.OaepSHA256));
    }

    private byte[] RawGcm(byte[] key)
    {
        using var gcm = new AesGcm(key, 16);
        var nonce = RandomNumberGenerator.GetBytes(12);
        var ct = new byte[_msg.Length];
        var tag = new byte[16];
        gcm.Encrypt(nonce, _msg, ct, tag);
        return ct;
    }

    // ---- sign / verify ----
    [Benchmark] public byte[] SignMlDsa65_Wrapper() => _r.GetSigner("ML-DSA-65").Sign(_mldsa, _msg, [], OsRandomSource.Instance);

    [Benchmark] public byte[] SignMlDsa65_Raw()
    {
        var s = new MLDsaSigner(MLDsaParameters.ml_dsa_65, false);
        s.Init(true, new ParametersWithRandom(_bcDsaPriv, _sr));
        s.BlockUpdate(_msg);
        return s.GenerateSignature();
    }

    [Benchmark] public bool VerifyMlDsa65_Wrapper() => _r.GetSigner("ML-DSA-65").Verify(_mldsa.PublicKey!, _msg, [], _mldsaSig);

    [Benchmark] public bool VerifyMlDsa65_Raw()
    {
        var s = new MLDsaSigner(MLDsaParameters.ml_dsa_65, true);
        s.Init(false, _bcDsaPub);
        s.BlockUpdate(_msg);
        return s.VerifySignature(_mldsaSig);
    }

    [Benchmark] public byte[] SignEcdsaP256_Wrapper() => _r.GetSigner("ECDSA-P256").Sign(_ecdsa, _msg, [], OsRandomSource.Instance);

    [Benchmark] public byte[] SignEcdsaP256_Raw() => _netEc.SignData(_msg, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    [Benchmark] public bool VerifyEcdsaP256_Wrapper() => _r.GetSigner("ECDSA-P256").Verify(_ecdsa.PublicKey!, _msg, [], _ecdsaSig);

    [Benchmark] public bool VerifyEcdsaP256_Raw() => _netEc.VerifyData(_msg, _ecdsaSig, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    [Benchmark] public byte[] SignEd25519_Wrapper() => _r.GetSigner("Ed25519").Sign(_ed, _msg, [], OsRandomSource.Instance);

    [Benchmark] public byte[] SignEd25519_Raw()
    {
        var sig = new byte[64];
        Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Sign(_ed.ExportForStorage().AsSpan(4 + 7), _ed.PublicKey!.Raw, _msg, sig);
        return sig;
    }

    [Benchmark] public bool VerifyEd25519_Wrapper() => _r.GetSigner("Ed25519").Verify(_ed.PublicKey!, _msg, [], _edSig);

    [Benchmark] public bool VerifyEd25519_Raw() => Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Verify(_edSig, _ed.PublicKey!.Raw, _msg);

    [Benchmark] public byte[] SignRsa2048Pss_Wrapper() => _r.GetSigner("RSA-2048").Sign(_rsaSig, _msg, [], OsRandomSource.Instance);

    [Benchmark] public byte[] SignRsa2048Pss_Raw()
    {
        using var rsa = RSA.Create();
        rsa.ImportPkcs8PrivateKey(_rsaSig.ExportForStorage().AsSpan(4 + 8), out _);
        return rsa.SignData(_msg, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
    }

    // ---- hmac ----
    [Benchmark] public byte[] HmacSha256_Wrapper() => _r.GetMac("HMAC-SHA256").Compute(_hmac, _msg);

    [Benchmark] public byte[] HmacSha256_Raw() => HMACSHA256.HashData(_aesKey, _msg);

    // ---- keygen ----
    [Benchmark] public KeyMaterial KeygenMlKem768_Wrapper() => _r.Generate("ML-KEM-768", KeyType.Encryption, OsRandomSource.Instance);

    [Benchmark] public object KeygenMlKem768_Raw() => MLKemPrivateKeyParameters.FromSeed(MLKemParameters.ml_kem_768, RandomNumberGenerator.GetBytes(64)).GetPublicKeyEncoded();

    [Benchmark] public KeyMaterial KeygenMlDsa65_Wrapper() => _r.Generate("ML-DSA-65", KeyType.Signing, OsRandomSource.Instance);

    [Benchmark] public object KeygenMlDsa65_Raw() => MLDsaPrivateKeyParameters.FromSeed(MLDsaParameters.ml_dsa_65, RandomNumberGenerator.GetBytes(32)).GetPublicKeyEncoded();

    [Benchmark] public KeyMaterial KeygenEcdsaP256_Wrapper() => _r.Generate("ECDSA-P256", KeyType.Signing, OsRandomSource.Instance);

    [Benchmark] public object KeygenEcdsaP256_Raw()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return ec.ExportPkcs8PrivateKey();
    }
}
