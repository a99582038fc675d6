namespace Mislata.Crypto.Entropy;

/// <summary>
/// SP 800-90B §4.4 continuous health tests on 8-bit samples, with cut-offs computed from the claimed min-entropy
/// per sample H and a false-positive probability α = 2^-20 (the standard's recommended α).
/// Default claim: H = 6 bits per byte — conservative for a conditioned QRNG (full entropy would be 8) so a healthy
/// device does not trip the tests; with H = 6: RCT cut-off C = 1 + ⌈20 / 6⌉ = 5, APT window W = 512 and
/// C = 1 + CRITBINOM(512, 2^-6, 1 - 2^-20) (computed below, 25 for H = 6).
/// </summary>
public sealed record HealthTestOptions(double ClaimedMinEntropyBits = 6.0, int AlphaExponent = 20, int AptWindow = 512)
{
    /// <summary>§4.4.1: C = 1 + ⌈−log2(α) / H⌉.</summary>
    public int RepetitionCutoff => 1 + (int)Math.Ceiling(AlphaExponent / ClaimedMinEntropyBits);

    /// <summary>§4.4.2: C = 1 + CRITBINOM(W, 2^−H, 1 − α): the smallest k with P(X ≤ k) ≥ 1 − α for X ~ B(W, 2^−H).</summary>
    public int AdaptiveProportionCutoff
    {
        get
        {
            var p = Math.Pow(2, -ClaimedMinEntropyBits);
            var target = 1 - Math.Pow(2, -AlphaExponent);
            var w = AptWindow;
            // P(X = 0) then the recurrence P(k+1) = P(k) · (W − k)/(k + 1) · p/(1 − p); summed in double precision.
            var pk = Math.Pow(1 - p, w);
            var cdf = pk;
            var k = 0;
            while (cdf < target && k < w)
            {
                pk *= (double)(w - k) / (k + 1) * p / (1 - p);
                k++;
                cdf += pk;
            }

            return 1 + k;
        }
    }
}

/// <summary>Which test failed.</summary>
public enum HealthTestFailure
{
    None,
    RepetitionCount,
    AdaptiveProportion,
}

/// <summary>Runs the Repetition Count Test and the Adaptive Proportion Test over a stream of byte samples.</summary>
public sealed class ContinuousHealthTests(HealthTestOptions options)
{
    private readonly int _rctCutoff = options.RepetitionCutoff;
    private readonly int _aptCutoff = options.AdaptiveProportionCutoff;
    private readonly int _window = options.AptWindow;
    private int _rctValue = -1;
    private int _rctCount;
    // Stryker disable once Unary : _aptValue is always assigned from the window's first sample before it is compared
    private int _aptValue = -1;
    private int _aptCount;
    private int _aptSeen;

    public HealthTestOptions Options { get; } = options;

    /// <summary>Index (within the last call) of the sample at which a test failed, or −1.</summary>
    public int FailedAtSample { get; private set; } = -1;

    /// <summary>Feeds samples; returns the first failure (and stops), or None.</summary>
    public HealthTestFailure Process(ReadOnlySpan<byte> samples)
    {
        FailedAtSample = -1;
        for (var i = 0; i < samples.Length; i++)
        {
            int x = samples[i];

            // §4.4.1 Repetition Count Test.
            if (x == _rctValue)
            {
                if (++_rctCount >= _rctCutoff)
                {
                    FailedAtSample = i;
                    return HealthTestFailure.RepetitionCount;
                }
            }
            else
            {
                _rctValue = x;
                _rctCount = 1;
            }

            // §4.4.2 Adaptive Proportion Test: count occurrences of the window's first sample.
            if (_aptSeen == 0)
            {
                _aptValue = x;
                _aptCount = 1;
                _aptSeen = 1;
            }
            else
            {
                if (x == _aptValue && ++_aptCount >= _aptCutoff)
                {
                    FailedAtSample = i;
                    return HealthTestFailure.AdaptiveProportion;
                }

                if (++_aptSeen == _window)
                {
                    _aptSeen = 0;
                }
            }
        }

        return HealthTestFailure.None;
    }

    public void Reset()
    {
        _rctValue = -1;
        _rctCount = 0;
        _aptSeen = 0;
    }
}
