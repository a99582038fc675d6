using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using Mislata.Crypto.Entropy;

namespace Mislata.Crypto.Tests.Entropy;

/// <summary>Entropy sources, HMAC_DRBG limits and SP 800-90B health-test edges (issue 9).</summary>
public sealed class SourceAndDrbgRuleTests
{
    private sealed class Handler(Func<HttpRequestMessage, HttpResponseMessage> respond) : HttpMessageHandler
    {
        public List<string> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add(request.RequestUri!.ToString());
            return Task.FromResult(respond(request));
        }
    }

    private static HttpResponseMessage Octets(byte[] body, HttpStatusCode status = HttpStatusCode.OK) =>
        new(status) { Content = new ByteArrayContent(body) { Headers = { ContentType = new("application/octet-stream") } } };

    private static HttpQrngSource Http(Handler handler, HttpQrngOptions options) =>
        new(new HttpClient(handler) { BaseAddress = new Uri("http://qrng.test/") }, options);

    [Fact]
    public void Sources_report_their_documented_names()
    {
        Assert.Equal("os", new OsEntropySource().Name);
        Assert.Equal("device-qrng", new DeviceQrngSource("/dev/null").Name);
        Assert.Equal("http-qrng", Http(new Handler(_ => Octets([])), new HttpQrngOptions("r")).Name);
        Assert.Equal("simulated-qrng", new SimulatedQrngSource(SimulatedQrngMode.Healthy).Name);
    }

    [Fact]
    public async Task The_os_source_fills_the_whole_buffer()
    {
        var buffer = new byte[64];
        await new OsEntropySource().ReadAsync(buffer, CancellationToken.None);
        Assert.Contains(buffer[32..], b => b != 0);
        Assert.Contains(buffer[..32], b => b != 0);
    }

    [Fact]
    public async Task Http_requests_ask_for_at_most_the_per_request_maximum_and_then_the_remainder()
    {
        var handler = new Handler(r => Octets(RandomNumberGenerator.GetBytes(int.Parse(r.RequestUri!.Query.Split('=')[1], System.Globalization.CultureInfo.InvariantCulture))));
        var buffer = new byte[1500];
        await Http(handler, new HttpQrngOptions("random?bytes={bytes}", MaxBytesPerRequest: 1024)).ReadAsync(buffer, CancellationToken.None);
        Assert.Equal(["http://qrng.test/random?bytes=1024", "http://qrng.test/random?bytes=476"], handler.Requests);
    }

    [Fact]
    public async Task An_endpoint_that_returns_more_bytes_than_asked_fills_only_the_buffer()
    {
        var body = RandomNumberGenerator.GetBytes(64);
        var buffer = new byte[16];
        await Http(new Handler(_ => Octets(body)), new HttpQrngOptions("r")).ReadAsync(buffer, CancellationToken.None);
        Assert.Equal(body[..16], buffer);
    }

    [Fact]
    public async Task A_later_request_answered_with_more_bytes_than_asked_fills_only_the_rest_of_the_buffer()
    {
        var body = RandomNumberGenerator.GetBytes(1024);
        var buffer = new byte[1500];
        await Http(new Handler(_ => Octets(body)), new HttpQrngOptions("r", MaxBytesPerRequest: 1024)).ReadAsync(buffer, CancellationToken.None);
        Assert.Equal([.. body, .. body[..476]], buffer);
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.NotFound)]
    public async Task An_error_status_is_entropy_unavailable_whatever_the_body(HttpStatusCode status)
    {
        var source = Http(new Handler(_ => Octets(RandomNumberGenerator.GetBytes(32), status)), new HttpQrngOptions("r"));
        var ex = await Assert.ThrowsAsync<CryptoException>(() => source.ReadAsync(new byte[16], CancellationToken.None).AsTask());
        Assert.Equal(CryptoError.EntropyUnavailable, ex.Error);
    }

    [Theory]
    [InlineData("\"00ff10\"", new byte[] { 0x00, 0xFF, 0x10 })]
    [InlineData("\"AAECAw==\"", new byte[] { 0, 1, 2, 3 })]
    [InlineData("\"AAAA\"", new byte[] { 0xAA, 0xAA })]
    [InlineData("\"abcd\"", new byte[] { 0xAB, 0xCD })]
    [InlineData("\"AAECAwQF\"", new byte[] { 0, 1, 2, 3, 4, 5 })]
    [InlineData("[1,2,255]", new byte[] { 1, 2, 255 })]
    public void Auto_format_reads_even_length_hex_as_hex_and_anything_else_as_base64(string json, byte[] expected)
    {
        var source = Http(new Handler(_ => Octets([])), new HttpQrngOptions("r"));
        Assert.Equal(expected, source.Decode(System.Text.Encoding.UTF8.GetBytes(json), "application/json"));
    }

    [Fact]
    public async Task Stuck_mode_repeats_one_constant_over_the_whole_buffer()
    {
        var buffer = RandomNumberGenerator.GetBytes(256);
        await new SimulatedQrngSource(SimulatedQrngMode.Stuck).ReadAsync(buffer, CancellationToken.None);
        Assert.All(buffer, b => Assert.Equal(0x5A, b));
    }

    [Fact]
    public async Task Biased_mode_is_about_ninety_percent_one_value_and_random_otherwise()
    {
        var buffer = new byte[8192];
        await new SimulatedQrngSource(SimulatedQrngMode.Biased).ReadAsync(buffer, CancellationToken.None);
        var biased = buffer.Count(b => b == 0xA5);
        Assert.InRange(biased, 8192 * 80 / 100, 8192 * 97 / 100); // expected 90 %, σ ≈ 0.3 %
        Assert.True(buffer.Where(b => b != 0xA5).Distinct().Count() > 100);
    }

    private static HmacDrbg Instantiated()
    {
        var drbg = new HmacDrbg();
        drbg.Instantiate(new byte[32], new byte[16], []);
        return drbg;
    }

    private static void SetReseedCounter(HmacDrbg drbg, long value) =>
        typeof(HmacDrbg).GetField("_reseedCounter", BindingFlags.NonPublic | BindingFlags.Instance)!.SetValue(drbg, value);

    [Fact]
    public void Instantiate_and_reseed_need_at_least_256_bits_of_entropy()
    {
        using var drbg = new HmacDrbg();
        Assert.Equal(CryptoError.InvalidArgument, Assert.Throws<CryptoException>(() => drbg.Instantiate(new byte[31], new byte[16], [])).Error);
        Assert.Equal(CryptoError.InvalidArgument, Assert.Throws<CryptoException>(() => drbg.Reseed(new byte[32], [])).Error); // not instantiated
        drbg.Instantiate(new byte[32], new byte[16], []);
        Assert.Equal(CryptoError.InvalidArgument, Assert.Throws<CryptoException>(() => drbg.Reseed(new byte[31], [])).Error);
        drbg.Reseed(new byte[32], []);
    }

    [Fact]
    public void A_fresh_or_disposed_drbg_refuses_to_generate()
    {
        var drbg = new HmacDrbg();
        Assert.True(drbg.NeedsReseed);
        Assert.Equal(CryptoError.EntropyUnavailable, Assert.Throws<CryptoException>(() => drbg.Generate(new byte[1], [])).Error);
        drbg.Instantiate(new byte[32], new byte[16], []);
        Assert.False(drbg.NeedsReseed);
        drbg.Generate(new byte[1], []);
        drbg.Dispose();
        Assert.True(drbg.NeedsReseed);
        Assert.Equal(CryptoError.EntropyUnavailable, Assert.Throws<CryptoException>(() => drbg.Generate(new byte[1], [])).Error);
    }

    [Fact]
    public void Re_instantiating_starts_from_the_initial_state()
    {
        using var used = Instantiated();
        used.Generate(new byte[64], []);
        used.Instantiate(new byte[32], new byte[16], []);
        using var fresh = Instantiated();
        var a = new byte[32];
        var b = new byte[32];
        used.Generate(a, []);
        fresh.Generate(b, []);
        Assert.Equal(b, a);
    }

    [Fact]
    public void A_request_of_exactly_the_maximum_is_served_and_one_byte_more_is_refused()
    {
        using var drbg = Instantiated();
        drbg.Generate(new byte[HmacDrbg.MaxBytesPerRequest], []);
        Assert.Equal(CryptoError.EntropyUnavailable, Assert.Throws<CryptoException>(() => drbg.Generate(new byte[HmacDrbg.MaxBytesPerRequest + 1], [])).Error);
    }

    [Fact]
    public void The_reseed_counter_allows_exactly_the_reseed_interval_of_generates()
    {
        using var drbg = Instantiated();
        SetReseedCounter(drbg, HmacDrbg.ReseedInterval);
        Assert.False(drbg.NeedsReseed); // the 2^48-th generate is still allowed
        drbg.Generate(new byte[1], []);
        Assert.True(drbg.NeedsReseed);
        Assert.Equal(CryptoError.EntropyUnavailable, Assert.Throws<CryptoException>(() => drbg.Generate(new byte[1], [])).Error);
        drbg.Reseed(new byte[32], []);
        Assert.False(drbg.NeedsReseed);
    }

    [Fact]
    public void Failed_at_sample_is_minus_one_until_and_unless_a_test_fails()
    {
        var tests = new ContinuousHealthTests(new HealthTestOptions());
        Assert.Equal(-1, tests.FailedAtSample);
        Assert.Equal(HealthTestFailure.RepetitionCount, tests.Process(new byte[8]));
        Assert.Equal(4, tests.FailedAtSample);
        tests.Reset();
        Assert.Equal(HealthTestFailure.None, tests.Process([1, 2, 3]));
        Assert.Equal(-1, tests.FailedAtSample);
    }

    [Fact]
    public void With_a_cutoff_of_one_only_a_true_repetition_fails_never_the_first_sample()
    {
        // α = 2^0 gives the smallest possible cut-offs (RCT 1, APT 1): any repeat fails, a first sample never does.
        var options = new HealthTestOptions(AlphaExponent: 0);
        Assert.Equal(1, options.RepetitionCutoff);
        var tests = new ContinuousHealthTests(options);
        Assert.Equal(HealthTestFailure.None, tests.Process([1, 2, 3]));
        Assert.Equal(HealthTestFailure.RepetitionCount, tests.Process([3]));
        tests.Reset();
        Assert.Equal(HealthTestFailure.None, tests.Process([1]));
    }

    [Fact]
    public void The_adaptive_proportion_cutoff_never_exceeds_the_window()
    {
        foreach (var (h, w) in new[] { (1.0, 8), (8.0, 16), (0.5, 4), (1.0, 64) })
        {
            var options = new HealthTestOptions(ClaimedMinEntropyBits: h, AlphaExponent: 60, AptWindow: w);
            Assert.InRange(options.AdaptiveProportionCutoff, 1, w + 1);
        }
    }
}
