using System.Net;
using Hangfire;
using Hangfire.Dashboard;
using Hangfire.Redis.StackExchange;
using StackExchange.Redis;

namespace Mislata.Worker.Features.Jobs;

internal static class JobsSetup
{
    public const string RedisPrefix = "mislata:hangfire:";
    public const string DashboardPath = "/jobs";

    /// <summary>Hangfire server with its storage and queue in Redis; several workers coordinate through it.</summary>
    public static WebApplicationBuilder AddMislataJobs(this WebApplicationBuilder builder)
    {
        builder.Services.AddHangfire((services, configuration) => configuration
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseRedisStorage(services.GetRequiredService<IConnectionMultiplexer>(), new RedisStorageOptions { Prefix = RedisPrefix }));
        builder.Services.AddHangfireServer(o =>
        {
            o.ServerName = $"mislata-worker:{Environment.MachineName}:{Environment.ProcessId}";
            o.WorkerCount = Math.Max(2, Environment.ProcessorCount * 2);
        });
        return builder;
    }

    /// <summary>The dashboard at <c>/jobs</c>: until identity's platform-admin login guards it, loopback callers only.</summary>
    public static WebApplication MapMislataJobsDashboard(this WebApplication app)
    {
        app.UseHangfireDashboard(DashboardPath, new DashboardOptions
        {
            Authorization = [new LoopbackOnlyDashboardAuthorization()],
            DisplayStorageConnectionString = false,
            DashboardTitle = "Mislata jobs",
            AppPath = null,
        });
        return app;
    }
}

/// <summary>
/// Allows only callers whose address (after the gateway's forwarded headers) is loopback, i.e. an operator on the
/// machine itself.
/// </summary>
internal sealed class LoopbackOnlyDashboardAuthorization : IDashboardAuthorizationFilter
{
    public bool Authorize(DashboardContext context)
    {
        var remote = context.GetHttpContext().Connection.RemoteIpAddress;
        return remote is not null && IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote);
    }
}
