using Microsoft.Extensions.DependencyInjection.Extensions;
using Mislata.Core.Encryption;
using Mislata.Core.Usage;
using Mislata.Infrastructure.Encryption;
using Mislata.Crypto.Entropy;

namespace Mislata.Infrastructure.Keys;

public static class KeysExtensions
{
    /// <summary>Key lifecycle, sealing of key material, payload references and the <c>keys</c> quota counter.</summary>
    public static IServiceCollection AddMislataKeys(this IServiceCollection services)
    {
        // The operating system's CSPRNG until the entropy service (QRNG pool, worker issue) registers its own source.
        services.TryAddSingleton<IRandomSource>(OsRandomSource.Instance);
        services.AddSingleton<IKeyChangeNotifier, CryptoKeyInvalidation>();
        services.AddScoped<KeyMaterialSealer>();
        services.AddScoped<KeyAdministration>();
        services.AddScoped<KeyRotation>();
        services.AddSingleton<PayloadReferenceStore>();
        services.AddScoped<ITenantResourceCounter, KeyCounter>();
        return services;
    }

    /// <summary>The rewrap-all job of a key (the worker runs it; it needs the cryptographic operations). Options: section <c>KeyRewrap</c>.</summary>
    public static IServiceCollection AddMislataKeyRewrap(this IServiceCollection services)
    {
        services.AddOptions<KeyRewrapOptions>()
            .BindConfiguration(KeyRewrapOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<KeyRewrapAll>();
        return services;
    }
}
