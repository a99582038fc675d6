using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Mislata.Crypto.Entropy;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Entropy;

/// <summary>
/// Readiness detail of the entropy service: the DRBG's current source (api), the QRNG source and its health, and the
/// pool level. A QRNG outage (or an unknown pool) is <c>Degraded</c> — still ready, the platform runs on OS entropy —
/// never <c>Unhealthy</c>. With no QRNG configured it is healthy and says "os (no QRNG configured)".
/// </summary>
public sealed class EntropyHealthCheck(RedisEntropyPool pool, IOptions<EntropyOptions> options, IServiceProvider services) : IHealthCheck
{
    public const string Name = "entropy";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        // The api has its DRBG; the worker only fills the pool.
        var drbg = services.GetService<MixedDrbg>();
        var drbgPart = drbg is null ? string.Empty : $"drbg {drbg.Source}; ";
        EntropySourceStatus? status;
        long level;
        try
        {
            status = await pool.ReadStatusAsync().WaitAsync(TimeSpan.FromSeconds(3), cancellationToken);
            level = await pool.LevelAsync().WaitAsync(TimeSpan.FromSeconds(3), cancellationToken);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException)
        {
            return options.Value.ConfiguredSource is null && drbg is null
                ? HealthCheckResult.Healthy("os (no QRNG configured)")
                : HealthCheckResult.Degraded($"{drbgPart}pool unreachable; running on os entropy");
        }

        var source = status?.Source ?? options.Value.ConfiguredSource;
        if (source is null or EntropySourceStatus.NoSource)
        {
            return HealthCheckResult.Healthy("os (no QRNG configured)");
        }

        if (status is null)
        {
            return HealthCheckResult.Degraded($"{drbgPart}source {source}: no status from the pool filler; pool {level} block(s)");
        }

        var healthy = status.Healthy && (level > 0 || drbg?.Source == MixedDrbg.SourceQrng);
        var description = $"{drbgPart}source {status.Source} {(status.Healthy ? "healthy" : "unhealthy")}; pool {level} block(s); "
            + $"accepted {status.Accepted}, rejected {status.Rejected}"
            + (status.LastRejection is { } last ? $" (last: {last})" : string.Empty);
        return healthy ? HealthCheckResult.Healthy(description) : HealthCheckResult.Degraded(description);
    }
}
