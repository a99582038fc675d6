using Microsoft.Extensions.DependencyInjection.Extensions;
using Mislata.Core.Encryption;
using Mislata.Core.Usage;
using Mislata.Infrastructure.Encryption;
using Mislata.Crypto.Entropy;

namespace Mislata.Infrastructure.Keys;

public static class KeysExtensions
{
    /// <summary>Key lifecycle, sealing of key material and the <c>keys</c> quota counter.</summary>
    public static IServiceCollection AddMislataKeys(this IServiceCollection services)
    {
        // The operating system's CSPRNG until the entropy service (QRNG pool, worker issue) registers its own source.
        services.TryAddSingleton<IRandomSource>(OsRandomSource.Instance);
        services.AddSingleton<IKeyChangeNotifier, CryptoKeyInvalidation>();
        services.AddScoped<KeyMaterialSealer>();
        services.AddScoped<KeyAdministration>();
        services.AddScoped<KeyRotation>();
        services.AddScoped<ITenantResourceCounter, KeyCounter>();
        return services;
    }
}
