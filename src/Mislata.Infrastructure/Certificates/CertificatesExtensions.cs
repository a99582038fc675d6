using Microsoft.Extensions.DependencyInjection.Extensions;
using Mislata.Crypto.Entropy;

namespace Mislata.Infrastructure.Certificates;

public static class CertificatesExtensions
{
    /// <summary>The X.509 CAs: for the api host, after <c>AddMislataCryptoOperations</c> (the CA keys sign through its key cache).</summary>
    public static IServiceCollection AddMislataCertificates(this IServiceCollection services)
    {
        services.TryAddSingleton<IRandomSource>(OsRandomSource.Instance);
        services.AddSingleton<CaKeySigner>();
        services.AddScoped<CertificateAuthorities>();
        return services;
    }
}
