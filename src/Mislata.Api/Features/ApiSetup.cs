using Mislata.Api.Access;
using Mislata.Api.Features.ApiKeys;
using Mislata.Api.Features.Audit;
using Mislata.Api.Features.Billing;
using Mislata.Api.Features.Partners;
using Mislata.Api.Features.Plans;
using Mislata.Api.Features.Tenants;

namespace Mislata.Api.Features;

public static class ApiSetup
{
    /// <summary>Authentication (API keys and identity's access tokens), rate limits, quotas and idempotency.</summary>
    public static WebApplicationBuilder AddMislataApiAccess(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var tokenOptions = AccessTokenOptions.FromConfiguration(builder.Configuration);
        builder.Services.AddSingleton(tokenOptions);
        builder.Services.AddSingleton(new RateLimitOptions());
        builder.Services.AddHttpClient<JwksCache>(c => c.Timeout = TimeSpan.FromSeconds(5));
        builder.Services.AddSingleton<AccessTokenValidator>(sp => new AccessTokenValidator(sp.GetRequiredService<JwksCache>(), tokenOptions));
        builder.Services.AddOpenApi("v1");
        return builder;
    }

    public static WebApplication MapMislataApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseRouting();
        app.UseMiddleware<CallerAuthenticationMiddleware>();
        app.UseMiddleware<IdempotencyMiddleware>();
        app.MapOpenApi("/api/v1/openapi.json");
        app.MapAdminTenantsApi();
        app.MapAdminPlansApi();
        app.MapPartnersApi();
        app.MapApiKeysApi();
        app.MapBillingApi();
        app.MapAuditApi();
        return app;
    }
}
