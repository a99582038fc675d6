using Microsoft.AspNetCore;
using Mislata.Identity.Features.Management;
using Mislata.Infrastructure.Abuse;
using Mislata.Infrastructure.ApiKeys;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Mislata.Identity.Features.Abuse;

/// <summary>
/// Identity's part of the failed-credential limit shared with the api: the management API (API keys and access tokens)
/// and client authentication at <c>/connect/token</c> count their failures per client source, and a source over the
/// limit is refused (429) before identity looks at its credential.
/// </summary>
internal static class FailedCredentialLimits
{
    public const string TokenPath = "/connect/token";

    public static WebApplicationBuilder AddIdentityFailedCredentialLimits(this WebApplicationBuilder builder)
    {
        builder.Services.AddFailedCredentialLimits();
        builder.Services.AddOpenIddict().AddServer(o => o.AddEventHandler<ApplyTokenResponseContext>(handler => handler
            .UseSingletonHandler<CountFailedClientAuthentication>()
            .SetOrder(int.MinValue + 100_000)));
        return builder;
    }

    /// <summary>Must run before <c>UseAuthentication</c>: OpenIddict authenticates the client of <c>/connect/token</c> there.</summary>
    public static WebApplication UseFailedCredentialLimits(this WebApplication app)
    {
        app.UseWhen(
            c => c.Request.Path.StartsWithSegments(TokenPath, StringComparison.OrdinalIgnoreCase)
                || ManagementAuth.Prefixes.Any(p => c.Request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase)),
            branch => branch.Use(async (context, next) =>
            {
                // The client id of a token request is in its body, which a refused request is not worth reading.
                var prefix = context.Request.Path.StartsWithSegments(TokenPath, StringComparison.OrdinalIgnoreCase)
                    ? CredentialPrefix.OfClient(null)
                    : CredentialPrefix.Of(ApiKeyAuthenticator.ReadCredential(context.Request));
                if (!await context.RequestServices.GetRequiredService<FailedCredentialGuard>().RefuseOverLimitAsync(context, prefix))
                {
                    await next(context);
                }
            }));
        return app;
    }

    /// <summary>A token request whose client failed to authenticate (unknown client, wrong secret) counts as a failing credential.</summary>
    private sealed class CountFailedClientAuthentication(FailedCredentialGuard guard) : IOpenIddictServerHandler<ApplyTokenResponseContext>
    {
        public async ValueTask HandleAsync(ApplyTokenResponseContext context)
        {
            if (!string.Equals(context.Error, Errors.InvalidClient, StringComparison.Ordinal)
                || context.Transaction.GetHttpRequest()?.HttpContext is not { } http)
            {
                return;
            }

            await guard.RecordFailureAsync(http, CredentialPrefix.OfClient(context.Request?.ClientId), Errors.InvalidClient);
        }
    }
}
