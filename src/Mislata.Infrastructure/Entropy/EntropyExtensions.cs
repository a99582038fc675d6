using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.ServiceDefaults.Health;

namespace Mislata.Infrastructure.Entropy;

public static class EntropyExtensions
{
    /// <summary>
    /// The Redis entropy pool, its block sealer, metrics and the <c>entropy</c> readiness check (api and worker). Options:
    /// section <c>Entropy</c>, with <c>QAPI_QRNG_URL</c> / <c>QAPI_QRNG_DEVICE</c> taking precedence.
    /// </summary>
    public static IServiceCollection AddMislataEntropyPool(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(RedisEntropyPool)))
        {
            return services;
        }

        services.AddOptions<EntropyOptions>()
            .BindConfiguration(EntropyOptions.Section)
            .Configure<IConfiguration>((o, configuration) =>
            {
                o.QrngUrl = configuration[EntropyOptions.UrlVariable]?.Trim() is { Length: > 0 } url ? url : o.QrngUrl;
                o.QrngDevice = configuration[EntropyOptions.DeviceVariable]?.Trim() is { Length: > 0 } device ? device : o.QrngDevice;
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<RedisEntropyPool>();
        services.AddSingleton(sp => new EntropyBlockSealer(sp.GetRequiredService<PlatformKey>(), RedisEntropyPool.PoolKey));
        services.AddSingleton<EntropyMetrics>();
        services.AddHealthChecks().AddCheck<EntropyHealthCheck>(EntropyHealthCheck.Name, tags: [HealthTags.Ready], timeout: TimeSpan.FromSeconds(8));
        return services;
    }

    /// <summary>
    /// api: the process-wide DRBG (<see cref="MixedDrbg"/>) reseeded from the pool (through <see cref="QrngReseedBuffer"/>)
    /// mixed with OS entropy, registered as the <see cref="IRandomSource"/> of every key, DEK, nonce and <c>/random</c>.
    /// </summary>
    public static IServiceCollection AddMislataEntropyDrbg(this IServiceCollection services)
    {
        services.AddMislataEntropyPool();
        services.AddSingleton(sp => new QrngReseedBuffer(sp.GetRequiredService<IOptions<EntropyOptions>>().Value.LocalBlocks));
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<EntropyOptions>>().Value;
            var metrics = sp.GetRequiredService<EntropyMetrics>();
            return new MixedDrbg(
                sp.GetRequiredService<QrngReseedBuffer>(),
                new MixedDrbgOptions(options.ReseedAfterBytes, options.ReseedInterval, metrics.Reseeded),
                sp.GetRequiredService<TimeProvider>());
        });
        services.Replace(ServiceDescriptor.Singleton<IRandomSource>(sp => sp.GetRequiredService<MixedDrbg>()));
        services.AddHostedService<EntropyReseedService>();
        return services;
    }
}
