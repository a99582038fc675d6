using StackExchange.Redis;

namespace Mislata.Infrastructure.Redis;

internal static class RedisConnection
{
    /// <summary>
    /// Connects without failing when Redis is down: the multiplexer keeps reconnecting in the background and
    /// readiness reports Redis as unhealthy until it answers again.
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
        options.ReconnectRetryPolicy = new LinearRetry(1000);
        options.ClientName ??= "mislata";
        return ConnectionMultiplexer.Connect(options);
    }
}
