using Microsoft.Extensions.DependencyInjection.Extensions;
using Mislata.Core.Usage;
using Mislata.Crypto.Entropy;

namespace Mislata.Infrastructure.Secrets;

public static class SecretsExtensions
{
    /// <summary>Secret lifecycle, sealing of secret values and the <c>secrets</c> quota counter.</summary>
    public static IServiceCollection AddMislataSecrets(this IServiceCollection services)
    {
        services.TryAddSingleton<IRandomSource>(OsRandomSource.Instance);
        services.AddScoped<SecretValueSealer>();
        services.AddScoped<SecretAdministration>();
        services.AddScoped<ITenantResourceCounter, SecretCounter>();
        return services;
    }
}
