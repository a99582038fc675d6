using OpenIddict.Abstractions;
using OpenIddict.Server;
using StackExchange.Redis;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Mislata.Identity.Features.Server;

/// <summary>
/// <c>private_key_jwt</c> (RFC 7523): a client assertion is good for one request. It must carry a <c>jti</c>, and the
/// first use of a (client, jti) pair is recorded in Redis until the assertion expires; a second use is refused with
/// <c>invalid_client</c>, as are assertions valid for more than <see cref="MaximumLifetime"/> (which would have to be
/// remembered that long). Without Redis the assertion is refused (fail closed: a replay could not be detected).
/// </summary>
internal sealed partial class RefuseReplayedClientAssertion(IConnectionMultiplexer redis, TimeProvider time, ILogger<RefuseReplayedClientAssertion> logger)
    : IOpenIddictServerHandler<ProcessAuthenticationContext>
{
    internal static readonly TimeSpan MaximumLifetime = TimeSpan.FromMinutes(10);

    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessAuthenticationContext>()
            .UseSingletonHandler<RefuseReplayedClientAssertion>()
            .SetOrder(OpenIddictServerHandlers.ValidateAccessToken.Descriptor.Order - 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ProcessAuthenticationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.ClientAssertionPrincipal is not { } assertion)
        {
            return;
        }

        var jti = assertion.GetClaim(Claims.JwtId);
        var clientId = assertion.GetClaim(Claims.Subject);
        var expires = assertion.GetExpirationDate();
        var now = time.GetUtcNow();
        if (string.IsNullOrEmpty(jti) || jti.Length > 256 || string.IsNullOrEmpty(clientId) || expires is null)
        {
            context.Reject(Errors.InvalidClient, "The client assertion must carry a jti of at most 256 characters and an exp.");
            return;
        }

        if (expires.Value - now > MaximumLifetime)
        {
            context.Reject(Errors.InvalidClient, $"The client assertion is valid for more than {MaximumLifetime.TotalMinutes:0} minutes.");
            return;
        }

        var remember = expires.Value - now + TimeSpan.FromMinutes(1);
        if (remember <= TimeSpan.Zero)
        {
            return; // expired: OpenIddict's lifetime check refuses it
        }

        bool first;
        try
        {
            first = await redis.GetDatabase().StringSetAsync($"mislata:oauth:assertion:{clientId}:{jti}", "1", remember, When.NotExists);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogRedisDown(logger, e.GetType().Name);
            context.Reject(Errors.TemporarilyUnavailable, "The client assertion cannot be checked for replay right now. Retry later.");
            return;
        }

        if (!first)
        {
            LogReplay(logger, clientId);
            context.Reject(Errors.InvalidClient, "The client assertion was already used.");
        }
    }

    [LoggerMessage(EventId = 330, Level = LogLevel.Warning, Message = "A client assertion of {ClientId} was presented again: refused")]
    private static partial void LogReplay(ILogger logger, string clientId);

    [LoggerMessage(EventId = 331, Level = LogLevel.Warning, Message = "Client assertions cannot be checked for replay ({ErrorType}): refused until Redis answers")]
    private static partial void LogRedisDown(ILogger logger, string errorType);
}
