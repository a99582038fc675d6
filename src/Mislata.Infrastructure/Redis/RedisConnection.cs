using StackExchange.Redis;

namespace Mislata.Infrastructure.Redis;

internal static class RedisConnection
{
    private static readonly string DefaultTieBreaker = new ConfigurationOptions().TieBreaker;
    private static readonly string DefaultConfigurationChannel = new ConfigurationOptions().ConfigurationChannel;

    /// <summary>
    /// Connects without failing when Redis is down: the multiplexer keeps reconnecting in the background (every second)
    /// and readiness reports Redis as unhealthy until it answers again.
    /// </summary>
    public static IConnectionMultiplexer Connect(string configuration)
    {
        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(configuration);
        }
        catch (ArgumentException ex)
        {
            throw new ServiceDefaults.StartupException("QAPI_REDIS is not a valid Redis configuration string.", ex);
        }

        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 3000;
        options.SyncTimeout = 3000;
        options.AsyncTimeout = 3000;
        options.ConnectRetry = 1;
        // While the connection is down a command fails at once (RedisConnectionException) instead of queueing until
        // its timeout: requests that can do without Redis go on without waiting, the others are answered 503 at once.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ReconnectRetryPolicy = new LinearRetry(1000);
        options.ClientName ??= "mislata";

        // Each service has an ACL user limited to its own keys and channels, without CONFIG (deploy/redis/): the
        // client's replica tie-break key, master-changed channel and CONFIG GET probe would only be refused.
        if (options.TieBreaker == DefaultTieBreaker)
        {
            options.TieBreaker = string.Empty;
        }

        if (options.ConfigurationChannel == DefaultConfigurationChannel)
        {
            options.ConfigurationChannel = string.Empty;
        }

        if (options.CommandMap == CommandMap.Default)
        {
            options.CommandMap = CommandMap.Create(new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "CONFIG" }, available: false);
        }

        return ConnectionMultiplexer.Connect(options);
    }
}
