using Mislata.Api.Access;
using Mislata.Api.Features;
using Mislata.Infrastructure;
using Mislata.Infrastructure.Entropy;
using Mislata.ServiceDefaults;

namespace Mislata.Api;

/// <summary>The api service's composition: <c>Program.cs</c> runs it as is; a test host may replace registrations after it.</summary>
public static class ApiHost
{
    public static Task<int> RunAsync(string[] args, Action<WebApplicationBuilder>? replaceServices = null) =>
        MislataHost.RunAsync(
            args,
            serviceName: "api",
            defaultPort: 5282,
            configureServices: builder =>
            {
                builder.AddMislataInfrastructure();
                builder.Services.AddMislataEntropyDrbg();
                builder.AddMislataApiAccess();
                replaceServices?.Invoke(builder);
            },
            configurePipeline: async app =>
            {
                await app.InitializeMislataStorageAsync();
                app.MapMislataHealthEndpoints();

                // Connectivity check and the benchmarks' no-op baseline: unauthenticated, touches no database.
                app.MapGet("/api/v1/ping", () => TypedResults.NoContent()).WithName("Ping")
                    .WithSummary("Connectivity check").WithDescription("`204`, unauthenticated; touches no database or Redis. For load balancers, connectivity checks and the benchmarks' no-op baseline.");
                // The same with a credential: authenticates it (API key or access token, ES256 or ML-DSA-65) and applies
                // the caller's rate limits, then answers 204 without any further work. Checks a credential, and gives
                // the benchmarks the cost of authentication alone.
                app.MapGet("/api/v1/ping/auth", () => TypedResults.NoContent()).WithName("AuthenticatedPing").RequireCredential()
                    .WithSummary("Credential check").WithDescription("`204` when the API key or access token is valid and its tenant is not suspended; `401 unauthorized` or `403 forbidden` otherwise; `429` over the caller's rate limit. Needs no scope; touches no database once the credential is cached.");
                app.MapMislataApi();
            });
}
