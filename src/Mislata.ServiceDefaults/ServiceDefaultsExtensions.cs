using System.Net;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Mislata.ServiceDefaults.Health;
using Mislata.ServiceDefaults.Problems;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Mislata.ServiceDefaults;

public static class ServiceDefaultsExtensions
{
    /// <summary>Largest body any service accepts (batch calls); the gateway and endpoints enforce the smaller limits.</summary>
    public const long MaxRequestBodyBytes = 8L * 1024 * 1024 + 64 * 1024;

    public static WebApplicationBuilder AddMislataServiceDefaults(this WebApplicationBuilder builder, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton(new ServiceIdentity(serviceName));
        builder.Services.AddSingleton(TimeProvider.System);

        builder.Logging.ClearProviders();
        builder.Logging.AddJsonConsole(o =>
        {
            o.IncludeScopes = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
        });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Warning);

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = MaxRequestBodyBytes;
        });
        builder.Services.Configure<KestrelServerOptions>(o => o.AllowSynchronousIO = false);

        builder.AddMislataTelemetry(serviceName);
        builder.AddMislataForwardedHeaders();
        builder.Services.AddMislataProblemDetails();
        builder.Services.AddHealthChecks();
        return builder;
    }

    private static void AddMislataTelemetry(this WebApplicationBuilder builder, string serviceName)
    {
        // Exporting is off unless an endpoint is configured: nothing leaves the machine by default. Without an endpoint
        // no tracer or meter provider is registered either: they would record an activity and the HTTP metrics of every
        // request that nothing ever reads (Activity start and the instrumentation listener: about 3 % of the api's perf samples
        // during encrypt in bench/results/profile-20261208T011641Z.md).
        var endpoint = builder.Configuration["QAPI_OTLP_ENDPOINT"];
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return;
        }

        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
        {
            throw new StartupException("QAPI_OTLP_ENDPOINT is not an absolute URL.");
        }

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("mislata-" + serviceName))
            .WithMetrics(m => m
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("Mislata.*"))
            .WithTracing(t => t
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx => !ctx.Request.Path.StartsWithSegments("/health"))
                .AddHttpClientInstrumentation()
                .AddSource("Mislata.*"))
            .UseOtlpExporter(OpenTelemetry.Exporter.OtlpExportProtocol.Grpc, uri);
    }

    private static void AddMislataForwardedHeaders(this WebApplicationBuilder builder)
    {
        var trusted = builder.Configuration["QAPI_TRUSTED_PROXIES"];
        builder.Services.Configure<ForwardedHeadersOptions>(o =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedHost;
            o.ForwardLimit = 1;
            // Trusted by default: exactly the addresses a gateway on the same host connects from (127.0.0.1 and ::1), not
            // the framework's default 127.0.0.0/8, so a client on another loopback address cannot pose as the gateway and
            // choose its own address (API-key allowlists, audit source IPs); plus QAPI_TRUSTED_PROXIES.
            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
            o.KnownProxies.Add(IPAddress.Loopback);
            o.KnownProxies.Add(IPAddress.IPv6Loopback);
            foreach (var entry in (trusted ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (System.Net.IPNetwork.TryParse(entry, out var network))
                {
                    o.KnownIPNetworks.Add(network);
                }
                else if (IPAddress.TryParse(entry, out var address))
                {
                    o.KnownProxies.Add(address);
                }
                else
                {
                    throw new StartupException($"QAPI_TRUSTED_PROXIES has an entry that is neither an IP address nor a CIDR network: '{entry}'.");
                }
            }
        });
    }

    public static WebApplication UseMislataServiceDefaults(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseForwardedHeaders();
        app.UseMiddleware<RequestIdMiddleware>();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }

    /// <summary><c>/health/live</c>: the process is up. <c>/health/ready</c>: its dependencies answer.</summary>
    public static WebApplication MapMislataHealthEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks("/health/live", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions
        {
            Predicate = _ => false,
            ResponseWriter = HealthResponseWriter.WriteAsync,
        }).DisableHttpMetrics();
        app.MapHealthChecks("/health/ready", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains(HealthTags.Ready),
            ResponseWriter = HealthResponseWriter.WriteAsync,
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status200OK,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
        }).DisableHttpMetrics();
        return app;
    }
}

/// <summary>Which service this process is (used in telemetry and problem details).</summary>
public sealed record ServiceIdentity(string Name);
