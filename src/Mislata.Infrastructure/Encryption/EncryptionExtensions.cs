using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Mislata.Core.Encryption;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Limits;

namespace Mislata.Infrastructure.Encryption;

public static class EncryptionExtensions
{
    /// <summary>
    /// The cryptographic operations and their hot path: the key cache, in-memory usage with its background flush, the
    /// slow-signature gate (options section <c>OperationKeys</c>). For the api host only.
    /// </summary>
    public static IServiceCollection AddMislataCryptoOperations(this IServiceCollection services)
    {
        services.AddOptions<OperationKeyOptions>()
            .BindConfiguration(OperationKeyOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        // The OS CSPRNG unless the host registered the entropy service (AddMislataEntropyDrbg); /random reports the
        // source of each fill (IRandomSource.FillReportingSource).
        services.TryAddSingleton<IRandomSource>(OsRandomSource.Instance);
        services.AddSingleton<KeyUsageTracker>();
        services.AddSingleton<IKeyUsage>(sp => sp.GetRequiredService<KeyUsageTracker>());
        services.AddSingleton<IEncryptionCounter>(sp => sp.GetRequiredService<KeyUsageTracker>());
        services.AddSingleton<KeyUsageFlusher>();
        services.AddHostedService(sp => sp.GetRequiredService<KeyUsageFlusher>());
        services.AddSingleton<KeyMaterialCache>();
        services.AddSingleton<IOperationKeys>(sp => sp.GetRequiredService<KeyMaterialCache>());
        services.AddSingleton(sp =>
        {
            var slots = sp.GetRequiredService<IOptions<OperationKeyOptions>>().Value.SlowSignatureSlots;
            return new SlowSignatureGate(slots > 0 ? slots : SlowSignatureGate.DefaultSlots);
        });
        services.AddSingleton<CryptoOperations>();
        return services;
    }
}
