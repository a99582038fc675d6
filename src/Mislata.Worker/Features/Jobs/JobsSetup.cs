using System.Security.Claims;
using Hangfire;
using Hangfire.Dashboard;
using Hangfire.Redis.StackExchange;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Caching.Distributed;
using Mislata.Core.Access;
using Mislata.Infrastructure.Authentication;
using Mislata.Infrastructure.Encryption;
using Mislata.Infrastructure.Entropy;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.Identity;
using Mislata.Worker.Features.Audit;
using Mislata.Worker.Features.Entropy;
using Mislata.Worker.Features.Identity;
using Mislata.Worker.Features.Keys;
using Mislata.Worker.Features.Licence;
using Mislata.Worker.Features.MasterKeys;
using Mislata.Infrastructure.Licensing;
using Mislata.Worker.Features.Secrets;
using Mislata.Worker.Features.Usage;
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
        builder.Services.AddSingleton<AuditChainAlerts>();
        builder.Services.AddTransient<AuditChainVerificationJob>();
        builder.Services.AddTransient<KeyDestructionJob>();
        builder.Services.AddTransient<KeyRotationJob>();
        builder.Services.AddTransient<SecretPurgeJob>();
        builder.Services.AddTransient<TokenPruningJob>();
        builder.Services.AddTransient<UsageRollupJob>();
        builder.Services.AddOpenIddict()
            .AddCore(o => o.UseEntityFrameworkCore().UseDbContext<IdentityStoreDbContext>().ReplaceDefaultEntities<Guid>());
        builder.Services.AddMislataEntropyPool();
        builder.Services.AddHttpClient(EntropyPoolFiller.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(10));
        builder.Services.AddHostedService<EntropyPoolFiller>();
        builder.Services.AddSingleton<JobRunLock>();
        builder.Services.AddSingleton<MasterKeyRotationRunner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MasterKeyRotationRunner>());

        // Rewrap-all runs the cryptographic operations here: the key cache (invalidated over mislata:access:*, which the
        // worker subscribes to) and the usage counters, flushed to key_versions like the api's.
        builder.Services.AddMislataCryptoOperations();
        builder.Services.AddMislataKeyRewrap();
        builder.Services.AddSingleton<KeyRewrapRunner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<KeyRewrapRunner>());
        builder.Services.AddTransient<LicenceCheckJob>();
        builder.Services.AddHttpClient<LicenceRevocationClient>(c => c.Timeout = TimeSpan.FromSeconds(10));
        builder.Services.AddHangfireServer(o =>
        {
            o.ServerName = $"mislata-worker:{Environment.MachineName}:{Environment.ProcessId}";
            o.WorkerCount = Math.Max(2, Environment.ProcessorCount * 2);
        });

        // The dashboard reads identity's session cookie: same scheme, same Data Protection key ring and the same
        // session tickets in Redis. The worker never signs anyone in; unknown visitors go to identity's login page.
        builder.Services.AddAuthentication(SessionCookie.Scheme).AddCookie(SessionCookie.Scheme);
        builder.Services.AddOptions<CookieAuthenticationOptions>(SessionCookie.Scheme)
            .Configure<IDistributedCache, TimeProvider>((o, cache, time) => SessionCookie.Apply(o, cache, time));
        return builder;
    }

    /// <summary>The recurring jobs every worker agrees on (Hangfire keeps one schedule in Redis for all replicas).</summary>
    public static WebApplication ScheduleMislataJobs(this WebApplication app)
    {
        try
        {
            app.Services.GetRequiredService<IRecurringJobManager>().AddOrUpdate<AuditChainVerificationJob>(
                AuditChainVerificationJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), Cron.Daily(3));
            app.Services.GetRequiredService<IRecurringJobManager>().AddOrUpdate<KeyDestructionJob>(
                KeyDestructionJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), Cron.Hourly());
            app.Services.GetRequiredService<IRecurringJobManager>().AddOrUpdate<KeyRotationJob>(
                KeyRotationJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), KeyRotationJob.Schedule);
            app.Services.GetRequiredService<IRecurringJobManager>().AddOrUpdate<SecretPurgeJob>(
                SecretPurgeJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), Cron.Daily(4));
            app.Services.GetRequiredService<IRecurringJobManager>().AddOrUpdate<TokenPruningJob>(
                TokenPruningJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), Cron.Hourly(17));
            app.Services.GetRequiredService<IRecurringJobManager>().AddOrUpdate<UsageRollupJob>(
                UsageRollupJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), UsageRollupJob.Schedule);
            app.Services.GetRequiredService<IRecurringJobManager>().AddOrUpdate<LicenceCheckJob>(
                LicenceCheckJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), Cron.Hourly());

            // The licence is checked at every worker start too, not only at the next hour.
            app.Services.GetRequiredService<IBackgroundJobClient>().Enqueue<LicenceCheckJob>(job => job.RunAsync(CancellationToken.None));
        }
        catch (RedisException ex)
        {
            // Redis is down at start: the schedule already stored (by this or another worker) stands.
            app.Logger.LogWarning(ex, "Could not register the recurring jobs; the stored schedule is used");
        }

        return app;
    }

    /// <summary>The dashboard at <c>/jobs</c>: platform admins signed in at identity only, checked on every request.</summary>
    public static WebApplication MapMislataJobsDashboard(this WebApplication app)
    {
        app.UseWhen(c => c.Request.Path.StartsWithSegments(DashboardPath), branch =>
        {
            branch.UseAuthentication();
            branch.Use(async (context, next) =>
            {
                // The session is revalidated against the stored user on every request (blocked, deleted, demoted).
                if (await DashboardSessionCheck.EnforceAsync(context, app.Logger))
                {
                    await next(context);
                }
            });
        });
        app.UseHangfireDashboard(DashboardPath, new DashboardOptions
        {
            Authorization = [new PlatformAdminDashboardAuthorization()],
            DisplayStorageConnectionString = false,
            DashboardTitle = "Mislata jobs",
            AppPath = null,
        });
        return app;
    }
}

/// <summary>Defence in depth behind the sign-in check: only the platform-admin role sees the dashboard.</summary>
internal sealed class PlatformAdminDashboardAuthorization : IDashboardAuthorizationFilter
{
    public bool Authorize(DashboardContext context) => IsPlatformAdmin(context.GetHttpContext().User);

    internal static bool IsPlatformAdmin(ClaimsPrincipal user) =>
        user.Identity?.IsAuthenticated == true &&
        user.Claims.Any(c => c.Type is ClaimTypes.Role or ClaimNames.Role && c.Value == Roles.PlatformAdmin);
}
