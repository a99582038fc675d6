using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.ServiceDefaults;

/// <summary>
/// Answers on the service's own addresses while a slow start-up waits for a dependency (migrations while PostgreSQL
/// does not answer yet): every request is <c>503</c> with <c>Retry-After</c> — a problem <c>unavailable</c>, or for
/// <c>/health/*</c> an unhealthy status — rather than a refused connection, so that clients and the gateway get an
/// honest answer while the service waits (without a deadline) instead of exiting. It hands the very addresses it bound
/// (ports chosen by the system included) to the service, which binds them once its start-up work is done.
/// </summary>
public sealed class StartingResponder : IAsyncDisposable
{
    private readonly WebApplication _app;

    private StartingResponder(WebApplication app, IReadOnlyList<string> addresses)
    {
        _app = app;
        Addresses = addresses;
    }

    /// <summary>The addresses bound, resolved (a port 0 of the configuration is the port the system gave).</summary>
    public IReadOnlyList<string> Addresses { get; }

    /// <summary>Starts answering on the addresses <paramref name="configuration"/> names (<c>urls</c>,
    /// <c>ASPNETCORE_URLS</c>, <c>HTTP_PORTS</c>…), or <paramref name="defaultUrl"/> when it names none.</summary>
    public static async Task<StartingResponder> StartAsync(IConfiguration configuration, string? defaultUrl, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddConfiguration(configuration);
        builder.Logging.ClearProviders();
        if (defaultUrl is not null)
        {
            builder.WebHost.UseUrls(defaultUrl);
        }

        var app = builder.Build();
        app.Run(context => AnswerAsync(context, serviceName));
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
        return new StartingResponder(app, addresses);
    }

    internal static async Task AnswerAsync(HttpContext context, string serviceName)
    {
        var path = context.Request.Path.Value ?? "";
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = DependencyOutages.RetryAfterSeconds;
        if (path.StartsWith("/health", StringComparison.OrdinalIgnoreCase))
        {
            // Not live yet either: a start-up probe (Kubernetes startupProbe, run.sh, the tests) waits for the service itself.
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"status":"Unhealthy","starting":true}""");
            return;
        }

        context.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(context.Response.Body, new Dictionary<string, object?>
        {
            ["type"] = ErrorCodes.TypeUri(ErrorCodes.Unavailable),
            ["title"] = "Service unavailable",
            ["status"] = 503,
            ["detail"] = $"The {serviceName} service is starting and waits for its database; retry later.",
            ["instance"] = path,
            ["error"] = ErrorCodes.Unavailable,
            ["traceId"] = context.TraceIdentifier,
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
