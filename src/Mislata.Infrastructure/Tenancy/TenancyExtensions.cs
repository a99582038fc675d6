using Microsoft.Extensions.DependencyInjection.Extensions;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.ApiKeys;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Persistence.Tenants;
using Mislata.Infrastructure.RateLimiting;
using Mislata.Infrastructure.Usage;

namespace Mislata.Infrastructure.Tenancy;

public static class TenancyExtensions
{
    /// <summary>Tenants, plans, partners, API keys, rate limits, quotas and idempotency records.</summary>
    public static IServiceCollection AddMislataTenancy(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<AccessInvalidation>();
        services.AddHostedService<AccessInvalidationSubscriber>();
        services.AddSingleton<AccessRevocations>();
        services.AddHostedService(sp => sp.GetRequiredService<AccessRevocations>());
        services.AddSingleton<ITenantKeyWrapper, AesGcmTenantKeyWrapper>();
        services.AddSingleton<TenantAccessCache>();
        services.AddSingleton<ITenantPlanProvider>(sp => sp.GetRequiredService<TenantAccessCache>());
        services.AddSingleton<ITenantDirectory>(sp => sp.GetRequiredService<TenantAccessCache>());
        services.AddSingleton<ApiKeySecret>();
        services.AddSingleton<ApiKeyDirectory>();
        services.AddSingleton<ApiKeyAuthenticator>();
        services.AddSingleton<RedisRateLimiter>();
        services.AddSingleton<IUsageBaseline, PostgresUsageBaseline>();
        services.AddSingleton<RedisUsageMeter>();
        services.AddSingleton<IUsageMeter>(sp => sp.GetRequiredService<RedisUsageMeter>());
        services.AddHostedService<UsageMeterFlusher>();
        services.AddSingleton<RedisIdempotencyStore>();
        services.AddScoped<ITenantResourceCounter, ApiKeyCounter>();
        services.AddScoped<ITenantResourceCounter, IdentityUserCounter>();
        services.AddScoped<TenantAdministration>();
        services.AddScoped<ApiKeyIssuer>();
        services.AddScoped<UsageRollup>();
        return services;
    }
}
