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
                app.MapMislataApi();
            });
}
