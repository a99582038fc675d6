namespace Mislata.Infrastructure.MasterKeys;

public static class MasterKeyRotationExtensions
{
    /// <summary>The admin jobs and the master-key rotation (the api queues, the worker runs). Options: section <c>MasterKeyRotation</c>.</summary>
    public static IServiceCollection AddMislataMasterKeyRotation(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(MasterKeyRotation)))
        {
            return services;
        }

        services.AddOptions<MasterKeyRotationOptions>()
            .BindConfiguration(MasterKeyRotationOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<AdminJobStore>();
        services.AddSingleton<MasterKeyRotationMetrics>();
        services.AddSingleton<MasterKeyRotation>();
        return services;
    }
}
