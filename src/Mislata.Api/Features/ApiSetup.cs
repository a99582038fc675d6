using Mislata.Api.Access;
using Mislata.Api.Features.ApiKeys;
using Mislata.Api.Features.Audit;
using Mislata.Api.Features.Billing;
using Mislata.Api.Features.Certificates;
using Mislata.Api.Features.Keys;
using Mislata.Api.Features.Licence;
using Mislata.Api.Features.MasterKeys;
using Mislata.Api.Features.Operations;
using Mislata.Api.Features.Partners;
using Mislata.Api.Features.Plans;
using Mislata.Api.Features.Secrets;
using Mislata.Api.Features.Ssh;
using Mislata.Api.Features.Tenants;
using Mislata.Infrastructure.Abuse;
using Mislata.Infrastructure.Certificates;
using Mislata.Infrastructure.Encryption;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Licensing;
using Mislata.Infrastructure.Ssh;
using Scalar.AspNetCore;

namespace Mislata.Api.Features;

public static class ApiSetup
{
    /// <summary>Authentication (API keys and identity's access tokens), rate limits, quotas and idempotency.</summary>
    public static WebApplicationBuilder AddMislataApiAccess(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var tokenOptions = AccessTokenOptions.FromConfiguration(builder.Configuration);
        builder.Services.AddSingleton(tokenOptions);
        builder.Services.AddSingleton(RateLimitOptions.FromConfiguration(builder.Configuration));
        builder.Services.AddFailedCredentialLimits();
        builder.Services.AddMislataCryptoOperations();

        // The operations' bodies through source-generated metadata (the hot path); every other type as before.
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, OperationsJsonContext.Default));
        builder.Services.AddMislataSsh();
        builder.Services.AddMislataCertificates();
        builder.Services.AddMislataLicenceAtStart();
        builder.Services.AddHttpClient<JwksCache>(c => c.Timeout = TimeSpan.FromSeconds(5));
        builder.Services.AddSingleton<IIdempotencyOwner, CallerIdempotencyOwner>();
        builder.Services.AddSingleton<DpopProofGate>();
        builder.Services.AddSingleton<AccessTokenValidator>(sp => new AccessTokenValidator(sp.GetRequiredService<JwksCache>(), tokenOptions, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddOpenApi("v1", o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Mislata API";
            document.Info.Version = "v1";
            document.Info.Description = "Post-quantum Encryption-as-a-Service, on-premises. Authenticate with `X-Api-Key: qapi_…` "
                + "or `Authorization: Bearer <API key | access token>` (`Authorization: DPoP <access token>` with a `DPoP` proof header for a DPoP-bound token); errors are RFC 9457 problem+json with a stable `error` code.";
            return Task.CompletedTask;
        }));
        return builder;
    }

    public static WebApplication MapMislataApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseRouting();
        app.UseMiddleware<CallerAuthenticationMiddleware>();
        app.UseMiddleware<IdempotencyMiddleware>();
        app.MapOpenApi("/api/v1/openapi.json");

        // Browsable docs (API.md) over the same document. Everything is served by this process: no fonts, telemetry,
        // AI agent or deployment buttons that would reach outside an air-gapped installation.
        app.MapScalarApiReference("/api/docs", options => options
            .WithTitle("Mislata API")
            .DisableDefaultFonts()
            .DisableTelemetry()
            .DisableAgent()
            .DisableMcp()
            .HideDeveloperTools()
            .HideClientButton()
            .WithOpenApiRoutePattern("/api/v1/openapi.json"));
        app.MapAdminTenantsApi();
        app.MapAdminPlansApi();
        app.MapAdminLicenseApi();
        app.MapMasterKeyRotationApi();
        app.MapPartnersApi();
        app.MapApiKeysApi();
        app.MapKeysApi();
        app.MapPayloadReferencesApi();
        app.MapSecretsApi();
        app.MapSshApi();
        app.MapCertificatesApi();
        app.MapOperationsApi();
        app.MapBillingApi();
        app.MapAuditApi();
        return app;
    }
}
