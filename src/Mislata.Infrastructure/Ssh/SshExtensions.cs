namespace Mislata.Infrastructure.Ssh;

public static class SshExtensions
{
    /// <summary>SSH certificate authorities (api host: they sign through the cryptographic operations).</summary>
    public static IServiceCollection AddMislataSsh(this IServiceCollection services)
    {
        services.AddScoped<SshCertificateAuthorities>();
        return services;
    }
}
