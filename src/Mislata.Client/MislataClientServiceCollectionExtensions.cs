using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Mislata.Client.Authentication;
using Mislata.Client.Http;
using Polly;

namespace Mislata.Client;

/// <summary>Registration of <see cref="MislataClient"/> on <c>IHttpClientFactory</c>.</summary>
public static class MislataClientServiceCollectionExtensions
{
    internal const string TokenClientName = "Mislata.Client.Token";

    /// <summary>
    /// Registers <see cref="MislataClient"/> as a typed HTTP client: the configured credential on every request, and
    /// retries with exponential backoff on 429/503 (honouring <c>Retry-After</c>) for idempotent calls only.
    /// </summary>
    /// <example><code>
    /// services.AddMislataClient(o =>
    /// {
    ///     o.BaseAddress = new Uri("https://kms.example.com/");
    ///     o.ApiKey = configuration["Mislata:ApiKey"];
    /// });
    /// </code></example>
    public static IHttpClientBuilder AddMislataClient(this IServiceCollection services, Action<MislataClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new MislataClientOptions();
        configure(options);
        options.Validate();

        services.TryAddSingleton(TimeProvider.System);
        var primary = () =>
        {
            var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AutomaticDecompression = System.Net.DecompressionMethods.All };
            options.ConfigureHandler?.Invoke(handler);
            return handler;
        };

        if (options.ClientCredentials is not null)
        {
            services.AddHttpClient(TokenClientName).ConfigurePrimaryHttpMessageHandler(primary);
            services.TryAddSingleton(sp => new ClientCredentialsTokenSource(
                sp.GetRequiredService<IHttpClientFactory>().CreateClient(TokenClientName), options, sp.GetRequiredService<TimeProvider>()));
        }

        var baseAddress = options.BaseAddress!.AbsoluteUri.EndsWith('/') ? options.BaseAddress : new Uri(options.BaseAddress.AbsoluteUri + "/");
        var builder = services.AddHttpClient<MislataClient>(client =>
            {
                client.BaseAddress = new Uri(baseAddress, "api/v1/");
                client.Timeout = options.Timeout;
                client.DefaultRequestHeaders.UserAgent.ParseAdd("Mislata.Client/" + typeof(MislataClient).Assembly.GetName().Version?.ToString(3));
            })
            .ConfigurePrimaryHttpMessageHandler(primary)
            .AddHttpMessageHandler(sp => new MislataAuthenticationHandler(options, options.ClientCredentials is null ? null : sp.GetRequiredService<ClientCredentialsTokenSource>()));
        if (options.MaxRetries > 0)
        {
            builder.AddResilienceHandler("mislata-retry", pipeline => pipeline.AddRetry(IdempotentRetry.Strategy(options)));
        }

        if (options.ClientCredentials?.DpopKey is { } dpopKey)
        {
            builder.AddHttpMessageHandler(() => new DpopProofHandler(dpopKey)); // innermost: a fresh proof per attempt
        }

        return builder;
    }
}
