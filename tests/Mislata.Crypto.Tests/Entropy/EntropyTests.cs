using System.Net;
using System.Text;
using Mislata.Crypto.Entropy;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Macs;
using Org.BouncyCastle.Crypto.Prng.Drbg;
using Xunit.Abstractions;

namespace Mislata.Crypto.Tests.Entropy;

public sealed class EntropyTests(ITestOutputHelper output)
{
    [Fact]
    public void Cutoffs_follow_SP800_90B_for_the_documented_claim()
    {
        var options = new HealthTestOptions();
        output.WriteLine($"H={options.ClaimedMinEntropyBits} alpha=2^-{options.AlphaExponent} W={options.AptWindow}: RCT C={options.RepetitionCutoff}, APT C={options.AdaptiveProportionCutoff}");
        Assert.Equal(5, options.RepetitionCutoff); // 1 + ceil(20/6)
        Assert.InRange(options.AdaptiveProportionCutoff, 20, 30);
        Assert.Equal(21, new HealthTestOptions(ClaimedMinEntropyBits: 1).RepetitionCutoff); // the standard's H = 1 example
        foreach (var h in new[] { 1.0, 2.0, 4.0, 6.0, 8.0 })
        {
            // Independent check of C: P(B ≥ C − 1 + 1) = P(count ≥ C) ≤ α while P(count ≥ C − 1) > α.
            var c = new HealthTestOptions(ClaimedMinEntropyBits: h).AdaptiveProportionCutoff;
            Assert.True(UpperTail(512, Math.Pow(2, -h), c) <= Math.Pow(2, -20));
            Assert.True(UpperTail(512, Math.Pow(2, -h), c - 1) > Math.Pow(2, -20));
        }
    }

    /// <summary>P(X ≥ k), X ~ B(n, p), summing log-space terms computed directly from log-factorials.</summary>
    private static double UpperTail(int n, double p, int k)
    {
        var logFact = new double[n + 1];
        for (var i = 1; i <= n; i++)
        {
            logFact[i] = logFact[i - 1] + Math.Log(i);
        }

        var sum = 0.0;
        for (var i = k; i <= n; i++)
        {
            sum += Math.Exp(logFact[n] - logFact[i] - logFact[n - i] + (i * Math.Log(p)) + ((n - i) * Math.Log(1 - p)));
        }

        return sum;
    }

    [Fact]
    public async Task Stuck_source_is_detected_by_the_repetition_count_test_within_its_cutoff()
    {
        var tests = new ContinuousHealthTests(new HealthTestOptions());
        var block = new byte[1024];
        await new SimulatedQrngSource(SimulatedQrngMode.Stuck).ReadAsync(block, CancellationToken.None);
        Assert.Equal(HealthTestFailure.RepetitionCount, tests.Process(block));
        Assert.Equal(tests.Options.RepetitionCutoff - 1, tests.FailedAtSample);
    }

    [Fact]
    public async Task Biased_source_is_detected_by_the_adaptive_proportion_test_within_one_window()
    {
        // RCT also catches long runs of the biased value, so the APT is checked on its own here with runs broken up.
        var tests = new ContinuousHealthTests(new HealthTestOptions(ClaimedMinEntropyBits: 6));
        var block = new byte[512];
        await new SimulatedQrngSource(SimulatedQrngMode.Biased).ReadAsync(block, CancellationToken.None);
        var failure = tests.Process(block);
        Assert.NotEqual(HealthTestFailure.None, failure);
        Assert.InRange(tests.FailedAtSample, 0, 511);

        var aptOnly = new ContinuousHealthTests(new HealthTestOptions());
        var interleaved = new byte[512];
        for (var i = 0; i < interleaved.Length; i++)
        {
            interleaved[i] = i % 2 == 0 ? (byte)0xA5 : (byte)(i % 251);
        }

        Assert.Equal(HealthTestFailure.AdaptiveProportion, aptOnly.Process(interleaved));
        Assert.Equal(2 * (aptOnly.Options.AdaptiveProportionCutoff - 1), aptOnly.FailedAtSample);
    }

    [Fact]
    public async Task Healthy_source_passes()
    {
        using var pool = new EntropyPool(new SimulatedQrngSource(SimulatedQrngMode.Healthy));
        Assert.Equal(16, await pool.RefillAsync(16, CancellationToken.None));
        Assert.True(pool.Health.Healthy);
    }

    [Theory]
    [InlineData(SimulatedQrngMode.Stuck, "repetition count")]
    [InlineData(SimulatedQrngMode.Biased, "health test")]
    public async Task Drbg_falls_back_to_os_and_says_so(SimulatedQrngMode mode, string reason)
    {
        using var pool = new EntropyPool(new SimulatedQrngSource(mode));
        Assert.Equal(0, await pool.RefillAsync(8, CancellationToken.None));
        Assert.False(pool.Health.Healthy);
        Assert.Equal(8, pool.Health.RejectedBlocks);
        using var drbg = new MixedDrbg(pool);
        var bytes = new byte[64];
        drbg.Fill(bytes);
        Assert.Equal(MixedDrbg.SourceOs, drbg.Source);
        Assert.Contains(reason, drbg.FallbackReason, StringComparison.Ordinal);
        Assert.NotEqual(new byte[64], bytes);
    }

    [Fact]
    public async Task Drbg_reports_qrng_when_seeded_from_healthy_blocks_and_reseeds_after_n_bytes()
    {
        using var pool = new EntropyPool(new SimulatedQrngSource(SimulatedQrngMode.Healthy), blockSize: 1024);
        await pool.RefillAsync(2, CancellationToken.None);
        using var drbg = new MixedDrbg(pool, new MixedDrbgOptions(ReseedAfterBytes: 100));
        drbg.Fill(new byte[64]);
        Assert.Equal(MixedDrbg.SourceQrng, drbg.Source);
        Assert.Null(drbg.FallbackReason);
        drbg.Fill(new byte[64]);
        drbg.Fill(new byte[64]); // 128 ≥ 100: reseeds from the second block
        Assert.Equal(2, drbg.Reseeds);
        Assert.Equal(MixedDrbg.SourceQrng, drbg.Source);
        drbg.Fill(new byte[64]);
        drbg.Fill(new byte[64]); // pool empty now → OS
        Assert.Equal(MixedDrbg.SourceOs, drbg.Source);
        Assert.Equal("QRNG pool empty", drbg.FallbackReason);

        using var none = new MixedDrbg(null);
        none.Fill(new byte[16]);
        Assert.Equal("no QRNG configured", none.FallbackReason);
    }

    [Fact]
    public void Drbg_reseeds_after_the_interval()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var drbg = new MixedDrbg(null, new MixedDrbgOptions(ReseedInterval: TimeSpan.FromMinutes(1)), time);
        drbg.Fill(new byte[8]);
        drbg.Fill(new byte[8]);
        Assert.Equal(1, drbg.Reseeds);
        time.Advance(TimeSpan.FromMinutes(2));
        drbg.Fill(new byte[8]);
        Assert.Equal(2, drbg.Reseeds);
    }

    /// <summary>
    /// HMAC_DRBG known answers. No CAVP file is bundled, so (as the brief allows) each case is cross-checked against
    /// BouncyCastle's independent HMacSP800Drbg fed the same fixed entropy, nonce, personalisation and additional
    /// input — without and with prediction resistance (PR = a reseed with fresh entropy before each generate).
    /// </summary>
    [Theory]
    [InlineData(false, 0, 0)]
    [InlineData(false, 32, 32)]
    [InlineData(true, 0, 0)]
    [InlineData(true, 32, 32)]
    public void Hmac_drbg_matches_an_independent_implementation(bool predictionResistance, int personalizationLength, int additionalLength)
    {
        var rng = new DeterministicRandom($"drbg/{predictionResistance}/{personalizationLength}");
        byte[] Take(int n)
        {
            var b = new byte[n];
            rng.Fill(b);
            return b;
        }

        // 4 entropy inputs of 32 bytes (instantiate, reseed/PR, PR), nonce 16, like the CAVP SHA-256 layout.
        var entropy = Take(32 * 4);
        var nonce = Take(16);
        var personalization = Take(personalizationLength);
        var add1 = Take(additionalLength);
        var add2 = Take(additionalLength);

        var theirs = new HMacSP800Drbg(new HMac(new Sha256Digest()), 256, new FixedEntropy(entropy), personalization, nonce);
        var expected1 = new byte[128];
        var expected2 = new byte[128];
        if (predictionResistance)
        {
            theirs.Generate(expected1, 0, 128, Null(add1), true);
            theirs.Generate(expected2, 0, 128, Null(add2), true);
        }
        else
        {
            theirs.Reseed(null);
            theirs.Generate(expected1, 0, 128, Null(add1), false);
            theirs.Generate(expected2, 0, 128, Null(add2), false);
        }

        using var ours = new HmacDrbg();
        ours.Instantiate(entropy.AsSpan(0, 32), nonce, personalization);
        var got1 = new byte[128];
        var got2 = new byte[128];
        if (predictionResistance)
        {
            ours.Reseed(entropy.AsSpan(32, 32), add1);
            ours.Generate(got1, []);
            ours.Reseed(entropy.AsSpan(64, 32), add2);
            ours.Generate(got2, []);
        }
        else
        {
            ours.Reseed(entropy.AsSpan(32, 32), []);
            ours.Generate(got1, add1);
            ours.Generate(got2, add2);
        }

        output.WriteLine($"PR={predictionResistance} ReturnedBits={Convert.ToHexStringLower(got2)}");
        Assert.Equal(Convert.ToHexString(expected1), Convert.ToHexString(got1));
        Assert.Equal(Convert.ToHexString(expected2), Convert.ToHexString(got2));
    }

    // SP 800-90A: an empty additional input is "Null" (no update step).
    private static byte[]? Null(byte[] b) => b.Length == 0 ? null : b;

    private sealed class FixedEntropy(byte[] data) : Org.BouncyCastle.Crypto.IEntropySource
    {
        private int _offset;

        public bool IsPredictionResistant => true;

        public int EntropySize => 256;

        public byte[] GetEntropy()
        {
            var chunk = data.AsSpan(_offset, 32).ToArray();
            _offset += 32;
            return chunk;
        }

        public int GetEntropy(Span<byte> output)
        {
            data.AsSpan(_offset, 32).CopyTo(output);
            _offset += 32;
            return 32;
        }
    }

    [Theory]
    [InlineData("application/octet-stream", "", QrngResponseFormat.Auto)]
    [InlineData("application/json", "", QrngResponseFormat.Auto)]
    [InlineData("application/json", "data", QrngResponseFormat.Auto)]
    [InlineData("application/json", "result.hex", QrngResponseFormat.JsonHex)]
    [InlineData("application/json", "result.b64", QrngResponseFormat.JsonBase64)]
    public async Task Http_qrng_source_reads_every_supported_shape(string mediaType, string path, QrngResponseFormat format)
    {
        byte[] expected = [1, 2, 3, 250, 255, 0, 7, 8];
        var body = (mediaType, path) switch
        {
            ("application/octet-stream", _) => expected,
            (_, "") => Encoding.UTF8.GetBytes("[1,2,3,250,255,0,7,8]"),
            (_, "data") => Encoding.UTF8.GetBytes("{\"data\":[1,2,3,250,255,0,7,8]}"),
            (_, "result.hex") => Encoding.UTF8.GetBytes("{\"result\":{\"hex\":\"010203faff000708\"}}"),
            _ => Encoding.UTF8.GetBytes("{\"result\":{\"b64\":\"" + Convert.ToBase64String(expected) + "\"}}"),
        };
        using var handler = new StubHandler(body, mediaType);
        using var client = new HttpClient(handler) { BaseAddress = new Uri("http://qrng.test/") };
        var source = new HttpQrngSource(client, new HttpQrngOptions("random?bytes={bytes}", path, format));
        var buffer = new byte[8];
        await source.ReadAsync(buffer, CancellationToken.None);
        Assert.Equal(expected, buffer);
        Assert.Equal("http://qrng.test/random?bytes=8", handler.LastUri);
    }

    [Fact]
    public async Task Http_qrng_failure_is_typed_and_the_pool_reports_it()
    {
        using var handler = new StubHandler([], "application/json", HttpStatusCode.ServiceUnavailable);
        using var client = new HttpClient(handler) { BaseAddress = new Uri("http://qrng.test/") };
        using var pool = new EntropyPool(new HttpQrngSource(client, new HttpQrngOptions("random")));
        Assert.Equal(0, await pool.RefillAsync(1, CancellationToken.None));
        Assert.True(pool.Health.SourceError);
        using var drbg = new MixedDrbg(pool);
        drbg.Fill(new byte[4]);
        Assert.Equal("QRNG source unavailable", drbg.FallbackReason);
    }

    [Fact]
    public async Task Device_source_reads_a_file()
    {
        var path = Path.GetTempFileName();
        await File.WriteAllBytesAsync(path, [9, 8, 7, 6]);
        var buffer = new byte[4];
        await new DeviceQrngSource(path).ReadAsync(buffer, CancellationToken.None);
        Assert.Equal(new byte[] { 9, 8, 7, 6 }, buffer);
        File.Delete(path);
        await Assert.ThrowsAsync<CryptoException>(() => new DeviceQrngSource(path).ReadAsync(buffer, CancellationToken.None).AsTask());
    }

    private sealed class StubHandler(byte[] body, string mediaType, HttpStatusCode status = HttpStatusCode.OK) : HttpMessageHandler
    {
        public string? LastUri { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            LastUri = request.RequestUri!.ToString();
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(mediaType);
            return Task.FromResult(new HttpResponseMessage(status) { Content = content });
        }
    }
}
