using Mislata.Api.Features;
using Mislata.Infrastructure;
using Mislata.Infrastructure.Entropy;
using Mislata.ServiceDefaults;

return await MislataHost.RunAsync(
    args,
    serviceName: "api",
    defaultPort: 5282,
    configureServices: builder =>
    {
        builder.AddMislataInfrastructure();
        builder.Services.AddMislataEntropyDrbg();
        builder.AddMislataApiAccess();
    },
    configurePipeline: async app =>
    {
        await app.InitializeMislataStorageAsync();
        app.MapMislataHealthEndpoints();

        // Connectivity check and the benchmarks' no-op baseline: unauthenticated, touches no database.
        app.MapGet("/api/v1/ping", () => TypedResults.NoContent()).WithName("Ping");
        app.MapMislataApi();
    });
