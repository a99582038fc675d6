using System.Diagnostics.Metrics;

namespace Mislata.Infrastructure.MasterKeys;

/// <summary>Progress of the master-key rotation (meter <c>Mislata.MasterKeys</c>): keys rewrapped, and how jobs ended.</summary>
public sealed class MasterKeyRotationMetrics
{
    public const string MeterName = "Mislata.MasterKeys";
    private readonly Counter<long> _rewrapped;
    private readonly Counter<long> _finished;
    private long _remaining = -1;

    public MasterKeyRotationMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        _rewrapped = meter.CreateCounter<long>("mislata.master_key.rotation.rewrapped", "{key}", "Wrapped keys moved to the current master key by the rotation job");
        _finished = meter.CreateCounter<long>("mislata.master_key.rotation.finished", "{job}", "Rotation jobs that ended, by outcome (succeeded, failed)");
        meter.CreateObservableGauge("mislata.master_key.rotation.remaining", () => Volatile.Read(ref _remaining) is var n and >= 0
            ? [new Measurement<long>(n)] : Array.Empty<Measurement<long>>(), "{key}", "Wrapped keys the running rotation job has still to move (total - done)");
    }

    public void Progress(int rewrapped, int total, int done)
    {
        _rewrapped.Add(rewrapped);
        Volatile.Write(ref _remaining, Math.Max(0, total - done));
    }

    public void Finished(string state)
    {
        _finished.Add(1, new KeyValuePair<string, object?>("outcome", state));
        Volatile.Write(ref _remaining, -1);
    }
}
