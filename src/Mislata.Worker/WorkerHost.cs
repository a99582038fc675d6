using Mislata.Infrastructure;
using Mislata.ServiceDefaults;
using Mislata.Worker.Features.Jobs;

namespace Mislata.Worker;

/// <summary>The worker service's composition: <c>Program.cs</c> runs it as is; a test host may replace registrations after it.</summary>
public static class WorkerHost
{
    public static Task<int> RunAsync(string[] args, Action<WebApplicationBuilder>? replaceServices = null) =>
        MislataHost.RunAsync(
            args,
            serviceName: "worker",
            defaultPort: 5300,
            configureServices: builder =>
            {
                builder.AddMislataInfrastructure();
                builder.AddMislataJobs();
                replaceServices?.Invoke(builder);
            },
            configurePipeline: async app =>
            {
                await app.InitializeMislataStorageAsync();
                app.MapMislataHealthEndpoints();
                app.MapMislataJobsDashboard();
                app.ScheduleMislataJobs();
            });
}
