using Microsoft.Extensions.DependencyInjection.Extensions;
using Mislata.Core.Licensing;

namespace Mislata.Infrastructure.Licensing;

public static class LicensingExtensions
{
    /// <summary>
    /// The licence: the vendor keys built into this release (never from configuration: a test host replaces this one
    /// registration), the process's <see cref="LicenceMonitor"/> and <see cref="LicenceAdministration"/>.
    /// </summary>
    public static IServiceCollection AddMislataLicensing(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ILicenceTrustAnchors, BuiltInLicenceTrustAnchors>();
        services.AddSingleton<LicenceMonitor>();
        services.AddScoped<LicenceAdministration>();
        return services;
    }

    /// <summary>At start: installs QAPI_LICENSE / QAPI_LICENSE_FILE when given, then loads the licence (the api).</summary>
    public static IServiceCollection AddMislataLicenceAtStart(this IServiceCollection services)
    {
        services.AddHostedService<LicenceStartup>();
        return services;
    }
}

/// <summary>Installs the licence given in the environment and loads the installed one before requests are served.</summary>
internal sealed partial class LicenceStartup(IServiceScopeFactory scopes, IConfiguration configuration, LicenceMonitor monitor, ILogger<LicenceStartup> logger) : IHostedService
{
    public const string LicenceVariable = "QAPI_LICENSE";
    public const string LicenceFileVariable = "QAPI_LICENSE_FILE";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            var text = configuration[LicenceVariable] is { Length: > 0 } inline ? inline : null;
            if (text is null && configuration[LicenceFileVariable] is { Length: > 0 } path)
            {
                try
                {
                    text = await File.ReadAllTextAsync(path, cancellationToken);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    LogFileUnreadable(logger, ex);
                }
            }

            // An empty file (compose mounts one when no licence was given to install.sh) means none.
            if (!string.IsNullOrWhiteSpace(text))
            {
                await using var scope = scopes.CreateAsyncScope();
                await scope.ServiceProvider.GetRequiredService<LicenceAdministration>().InstallAtStartAsync(text, cancellationToken);
            }

            await monitor.ReloadAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // PostgreSQL may be down for a moment: the monitor loads the licence on first use instead.
            LogStartFailed(logger, ex);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 5620, Level = LogLevel.Error, Message = "QAPI_LICENSE_FILE cannot be read; no licence installed from it")]
    private static partial void LogFileUnreadable(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5621, Level = LogLevel.Warning, Message = "Could not install or load the licence at start; it is loaded on first use")]
    private static partial void LogStartFailed(ILogger logger, Exception exception);
}
