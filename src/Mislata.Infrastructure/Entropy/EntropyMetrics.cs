using System.Diagnostics.Metrics;

namespace Mislata.Infrastructure.Entropy;

/// <summary>
/// Metrics of the entropy service (meter <c>Mislata.Entropy</c>): pool level, blocks accepted/rejected by the worker's
/// health tests, source health, DRBG reseeds by source and the reseeds that fell back to OS entropy (by reason).
/// </summary>
public sealed class EntropyMetrics
{
    public const string MeterName = "Mislata.Entropy";
    private readonly Counter<long> _accepted;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _reseeds;
    private readonly Counter<long> _fallbacks;
    private readonly Counter<long> _unopenable;
    private long _poolLevel = -1;
    private int _sourceHealthy = -1;
    private string _source = EntropySourceStatus.NoSource;

    public EntropyMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        _accepted = meter.CreateCounter<long>("mislata.entropy.blocks.accepted", "{block}", "QRNG blocks that passed the SP 800-90B health tests and entered the pool");
        _rejected = meter.CreateCounter<long>("mislata.entropy.blocks.rejected", "{block}", "QRNG blocks discarded (health-test failure, repeated block, source error), by reason");
        _reseeds = meter.CreateCounter<long>("mislata.entropy.drbg.reseeds", "{reseed}", "DRBG reseeds, by the source of their non-OS half (qrng, os)");
        _fallbacks = meter.CreateCounter<long>("mislata.entropy.fallbacks", "{reseed}", "DRBG reseeds on OS entropy only, by reason");
        _unopenable = meter.CreateCounter<long>("mislata.entropy.blocks.unopenable", "{block}", "Pool blocks popped from Redis that failed authentication and were discarded");
        meter.CreateObservableGauge("mislata.entropy.pool.level", () => Volatile.Read(ref _poolLevel) is var level and >= 0
            ? [new Measurement<long>(level)] : Array.Empty<Measurement<long>>(), "{block}", "Sealed QRNG blocks in the Redis pool, as last seen");
        meter.CreateObservableGauge("mislata.entropy.source.healthy", () => Volatile.Read(ref _sourceHealthy) is var healthy and >= 0
            ? [new Measurement<int>(healthy, new KeyValuePair<string, object?>("source", Volatile.Read(ref _source)))] : Array.Empty<Measurement<int>>(),
            null, "1 when the QRNG source delivered healthy blocks last time, 0 otherwise");
    }

    public void PoolLevel(long level) => Volatile.Write(ref _poolLevel, level);

    public void SourceHealth(string source, bool healthy)
    {
        Volatile.Write(ref _source, source);
        Volatile.Write(ref _sourceHealthy, healthy ? 1 : 0);
    }

    public void BlockAccepted(string source) => _accepted.Add(1, new KeyValuePair<string, object?>("source", source));

    public void BlockRejected(string source, string reason) =>
        _rejected.Add(1, new KeyValuePair<string, object?>("source", source), new KeyValuePair<string, object?>("reason", reason));

    public void BlockUnopenable() => _unopenable.Add(1);

    public void Reseeded(string source, string? fallbackReason)
    {
        _reseeds.Add(1, new KeyValuePair<string, object?>("source", source));
        if (fallbackReason is not null)
        {
            _fallbacks.Add(1, new KeyValuePair<string, object?>("reason", fallbackReason));
        }
    }
}
