using Mislata.Infrastructure;
using Mislata.ServiceDefaults;
using Mislata.Worker.Features.Jobs;

return await MislataHost.RunAsync(
    args,
    serviceName: "worker",
    defaultPort: 5300,
    configureServices: builder =>
    {
        builder.AddMislataInfrastructure();
        builder.AddMislataJobs();
    },
    configurePipeline: async app =>
    {
        await app.InitializeMislataStorageAsync();
        app.MapMislataHealthEndpoints();
        app.MapMislataJobsDashboard();
        app.ScheduleMislataJobs();
    });
