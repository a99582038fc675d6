using Mislata.Infrastructure;
using Mislata.ServiceDefaults;

return await MislataHost.RunAsync(
    args,
    serviceName: "identity",
    defaultPort: 5100,
    configureServices: builder => builder.AddMislataInfrastructure(),
    configurePipeline: async app =>
    {
        await app.InitializeMislataStorageAsync();
        app.MapMislataHealthEndpoints();
    });
