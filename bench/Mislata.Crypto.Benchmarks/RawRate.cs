using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;

/// <summary>
/// <c>rate [--threads N] [--seconds S] [--message-bytes B]</c>: the in-process sign/verify rate of ML-DSA-65 and Ed25519 with
/// N threads (default: one per core) for S seconds each (default 5), through the Mislata.Crypto signer the api calls
/// ("library") and through the BouncyCastle primitives it is made of ("raw"). bench/run-ops.sh compares the HTTP
/// sign/verify rates with these, measured in the same run on the same cores. Prints one JSON object of ops/s.
/// </summary>
public static class RawRate
{
    public static void Run(string[] args)
    {
        var threads = Option(args, "--threads", Environment.ProcessorCount);
        var seconds = Option(args, "--seconds", 5);
        var message = new byte[Option(args, "--message-bytes", 1024)];
        RandomNumberGenerator.Fill(message);

        var registry = AlgorithmRegistry.Default;
        var os = OsRandomSource.Instance;
        var mldsa = registry.Generate("ML-DSA-65", KeyType.Signing, os);
        var ed = registry.Generate("Ed25519", KeyType.Signing, os);
        var mldsaSigner = registry.GetSigner("ML-DSA-65");
        var edSigner = registry.GetSigner("Ed25519");
        var mldsaSignature = mldsaSigner.Sign(mldsa, message, [], os);
        var edSignature = edSigner.Sign(ed, message, [], os);

        var bcPrivate = MLDsaPrivateKeyParameters.FromSeed(MLDsaParameters.ml_dsa_65, RandomNumberGenerator.GetBytes(32));
        var bcPublic = bcPrivate.GetPublicKey();
        var bcSignature = BcSign(bcPrivate, message, new SecureRandom());
        var edPrivate = ed.ExportForStorage().AsSpan(4 + 7).ToArray();
        var edPublic = ed.PublicKey!.Raw.ToArray();

        var results = new Dictionary<string, Dictionary<string, double>>
        {
            ["sign ML-DSA-65"] = new()
            {
                ["library"] = Measure(threads, seconds, () => mldsaSigner.Sign(mldsa, message, [], os)),
                ["raw"] = MeasurePerThread<byte[]>(threads, seconds, () =>
                {
                    var random = new SecureRandom();
                    return () => BcSign(bcPrivate, message, random);
                }),
            },
            ["verify ML-DSA-65"] = new()
            {
                ["library"] = Measure(threads, seconds, () => mldsaSigner.Verify(mldsa.PublicKey!, message, [], mldsaSignature)),
                ["raw"] = MeasurePerThread<bool>(threads, seconds, () =>
                {
                    var verifier = new MLDsaSigner(MLDsaParameters.ml_dsa_65, true);
                    return () =>
                    {
                        verifier.Init(false, bcPublic);
                        verifier.BlockUpdate(message);
                        return verifier.VerifySignature(bcSignature);
                    };
                }),
            },
            ["sign Ed25519"] = new()
            {
                ["library"] = Measure(threads, seconds, () => edSigner.Sign(ed, message, [], os)),
                ["raw"] = Measure(threads, seconds, () =>
                {
                    // The overload with explicit offsets and the public key, as the signer calls it: the four-argument
                    // form with arrays bound to another overload and ran at half the signer's rate.
                    var signature = new byte[64];
                    Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Sign(edPrivate, 0, edPublic, 0, message, 0, message.Length, signature, 0);
                    return signature;
                }),
            },
            ["verify Ed25519"] = new()
            {
                ["library"] = Measure(threads, seconds, () => edSigner.Verify(ed.PublicKey!, message, [], edSignature)),
                ["raw"] = Measure(threads, seconds, () => Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Verify(edSignature, edPublic, message)),
            },
        };

        Console.WriteLine(JsonSerializer.Serialize(new { threads, seconds, messageBytes = message.Length, opsPerSecond = results }));
    }

    private static byte[] BcSign(MLDsaPrivateKeyParameters key, byte[] message, SecureRandom random)
    {
        var signer = new MLDsaSigner(MLDsaParameters.ml_dsa_65, false);
        signer.Init(true, new ParametersWithRandom(key, random));
        signer.BlockUpdate(message);
        return signer.GenerateSignature();
    }

    private static double Measure<T>(int threads, int seconds, Func<T> operation) => MeasurePerThread(threads, seconds, () => operation);

    /// <summary>Operations per second of <paramref name="threads"/> threads calling what <paramref name="perThread"/> makes (one per thread), after a 1 s warm-up.</summary>
    private static double MeasurePerThread<T>(int threads, int seconds, Func<Func<T>> perThread)
    {
        long total = 0;
        using var start = new Barrier(threads + 1);
        var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
        {
            var operation = perThread();
            var warmUpEnd = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
            while (Stopwatch.GetTimestamp() < warmUpEnd)
            {
                GC.KeepAlive(operation());
            }

            start.SignalAndWait();
            long count = 0;
            var end = Stopwatch.GetTimestamp() + (seconds * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < end)
            {
                GC.KeepAlive(operation());
                count++;
            }

            Interlocked.Add(ref total, count);
        })).ToList();
        workers.ForEach(t => t.Start());
        start.SignalAndWait();
        var started = Stopwatch.GetTimestamp();
        workers.ForEach(t => t.Join());
        return Math.Round(Interlocked.Read(ref total) / Stopwatch.GetElapsedTime(started).TotalSeconds, 1);
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
