using Mislata.Crypto.Envelope;

namespace Mislata.ServiceDefaults;

/// <summary>
/// The common entry point of every Mislata service: validates the master key before anything else, answers the
/// container <c>healthcheck</c> command, and turns start-up failures into one line and a non-zero exit code.
/// </summary>
public static class MislataHost
{
    /// <summary>Exit code for a configuration error (sysexits EX_CONFIG).</summary>
    public const int ConfigurationErrorExitCode = 78;

    public static async Task<int> RunAsync(
        string[] args,
        string serviceName,
        int defaultPort,
        Action<WebApplicationBuilder> configureServices,
        Func<WebApplication, Task> configurePipeline)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length > 0 && args[0] == "healthcheck")
        {
            return await ContainerHealthCheck.RunAsync(defaultPort);
        }

        IReadOnlyDictionary<string, string> fromFiles;
        try
        {
            fromFiles = SecretFileVariables.Resolve(Environment.GetEnvironmentVariable);
        }
        catch (StartupException ex)
        {
            await Console.Error.WriteLineAsync($"mislata-{serviceName}: {ex.Message}");
            return ConfigurationErrorExitCode;
        }

        MasterKeyRing masterKeys;
        try
        {
            masterKeys = MasterKeyRing.FromBase64(
                SecretFileVariables.Get(fromFiles, MasterKeyRing.CurrentVariable, Environment.GetEnvironmentVariable),
                SecretFileVariables.Get(fromFiles, MasterKeyRing.PreviousVariable, Environment.GetEnvironmentVariable));
        }
        catch (MasterKeyException ex)
        {
            await Console.Error.WriteLineAsync($"mislata-{serviceName}: {ex.Message}");
            return ConfigurationErrorExitCode;
        }

        WebApplication app;
        try
        {
            // The content root is the app's own folder, not the working directory (a checkout holding .state/ with
            // PostgreSQL data and logs), and no configuration file is watched: a watcher over the working tree woke
            // every service on each log line and database write. Configuration comes from the environment.
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions
            {
                Args = [.. args, "--hostBuilder:reloadConfigOnChange=false"],
                ContentRootPath = AppContext.BaseDirectory,
            });

            // Secrets given as X_FILE read as X everywhere the services use IConfiguration.
            builder.Configuration.AddInMemoryCollection(fromFiles.Select(e => new KeyValuePair<string, string?>(e.Key, e.Value)));
            string? defaultUrl = null;
            if (string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]) &&
                string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_HTTP_PORTS"]) &&
                string.IsNullOrEmpty(builder.Configuration["urls"]) &&
                string.IsNullOrEmpty(builder.Configuration["HTTP_PORTS"]))
            {
                defaultUrl = $"http://0.0.0.0:{defaultPort}";
                builder.WebHost.UseUrls(defaultUrl);
            }

            builder.Services.AddSingleton(masterKeys);
            builder.AddMislataServiceDefaults(serviceName);
            configureServices(builder);
            app = builder.Build();
            app.UseMislataServiceDefaults();
            await ConfigureAnsweringMeanwhileAsync(app, configurePipeline(app), defaultUrl, serviceName);
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"mislata-{serviceName}: configuration error: {string.Join("; ", ex.Failures)}");
            return ConfigurationErrorExitCode;
        }
        catch (StartupException ex)
        {
            await Console.Error.WriteLineAsync($"mislata-{serviceName}: {ex.Message}");
            return 1;
        }

        try
        {
            await app.RunAsync();
            return 0;
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"mislata-{serviceName}: configuration error: {string.Join("; ", ex.Failures)}");
            return ConfigurationErrorExitCode;
        }
        catch (StartupException ex)
        {
            await Console.Error.WriteLineAsync($"mislata-{serviceName}: {ex.Message}");
            return 1;
        }
    }

    /// <summary>How long start-up work may take before a <see cref="StartingResponder"/> answers on the service's addresses.</summary>
    public static readonly TimeSpan SlowStart = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Waits for the start-up work (<paramref name="pipeline"/>: migrations, key rings, seeding); when it takes longer than
    /// <see cref="SlowStart"/> — a dependency that does not answer yet — a <see cref="StartingResponder"/> answers 503
    /// meanwhile, and the service then binds the very addresses the responder had.
    /// </summary>
    private static async Task ConfigureAnsweringMeanwhileAsync(WebApplication app, Task pipeline, string? defaultUrl, string serviceName)
    {
        if (await Task.WhenAny(pipeline, Task.Delay(SlowStart)) == pipeline)
        {
            await pipeline;
            return;
        }

        StartingResponder? responder = null;
        try
        {
            responder = await StartingResponder.StartAsync(app.Configuration, defaultUrl, serviceName);
        }
        catch (IOException)
        {
            // The address is taken: the service itself will say so when it binds.
        }

        try
        {
            await pipeline;
        }
        finally
        {
            if (responder is not null)
            {
                await responder.DisposeAsync();
                app.Urls.Clear();
                foreach (var address in responder.Addresses)
                {
                    app.Urls.Add(address);
                }
            }
        }
    }
}

/// <summary>A start-up step failed for a reason that one line can state (no secrets in the message).</summary>
public sealed class StartupException(string message, Exception? inner = null) : Exception(message, inner);
