using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Identity.Features.Auditing;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Mislata.Identity.Features.Server;

/// <summary>
/// A refresh token presented again after it was redeemed is a sign that it was stolen (RFC 9700 §4.14.2), as is a
/// replayed authorization code (RFC 6749 §4.1.2): one of the parties holding it is an attacker, and the server cannot
/// tell which. OpenIddict then refuses it and revokes the tokens of its authorization; this handler also revokes the
/// authorization itself, so that no token of the family is accepted again — including one minted by a concurrent
/// refresh — and the user must authorize anew. Runs just before OpenIddict's token-entry check, at the token endpoint.
/// </summary>
internal sealed partial class RevokeFamilyOnReplay(
    IOpenIddictTokenManager tokens,
    IOpenIddictAuthorizationManager authorizations,
    IdentityAudit audit,
    ILogger<RevokeFamilyOnReplay> logger) : IOpenIddictServerHandler<ValidateTokenContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } = OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenContext>()
        .UseScopedHandler<RevokeFamilyOnReplay>()
        .SetOrder(OpenIddictServerHandlers.Protection.ValidateTokenEntry.Descriptor.Order - 500)
        .SetType(OpenIddictServerHandlerType.Custom)
        .Build();

    public async ValueTask HandleAsync(ValidateTokenContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // Token types in principals are the RFC 8693 identifiers since OpenIddict 6 (the code's is a private one).
        var refreshToken = context.Principal?.HasTokenType(TokenTypeIdentifiers.RefreshToken) == true;
        var code = context.Principal?.HasTokenType(TokenTypeIdentifiers.Private.AuthorizationCode) == true;
        if (context.EndpointType != OpenIddictServerEndpointType.Token || context.Principal is null || !(refreshToken || code) ||
            string.IsNullOrEmpty(context.TokenId) || string.IsNullOrEmpty(context.AuthorizationId))
        {
            return;
        }

        var token = await tokens.FindByIdAsync(context.TokenId, context.CancellationToken);
        if (token is null || !await tokens.HasStatusAsync(token, Statuses.Redeemed, context.CancellationToken) ||
            (refreshToken && await WithinReuseLeewayAsync(context, token)))
        {
            return;
        }

        var authorization = await authorizations.FindByIdAsync(context.AuthorizationId, context.CancellationToken);
        if (authorization is not null)
        {
            await authorizations.TryRevokeAsync(authorization, context.CancellationToken);
        }

        var subject = context.Principal.GetClaim(Claims.Subject) ?? "unknown";
        var tenantId = Guid.TryParse(context.Principal.GetClaim(ClaimNames.TenantId), out var t) ? t : (Guid?)null;
        LogReuse(logger, context.AuthorizationId);
        try
        {
            await audit.RecordAsync(AuditActions.TokenReuseDetected, AuditOutcome.Denied, AuditActorType.User, subject, tenantId, context.CancellationToken,
                "authorization", context.AuthorizationId, errorCode: Errors.InvalidGrant,
                details: new Dictionary<string, string> { ["client_id"] = context.Request?.ClientId ?? string.Empty, ["token"] = refreshToken ? "refresh_token" : "code" });
        }
        catch (AuditUnavailableException)
        {
            // The family is revoked and the request refused either way; the log line above stands in for the event.
            LogAuditUnavailable(logger, context.AuthorizationId);
        }
    }

    private async ValueTask<bool> WithinReuseLeewayAsync(ValidateTokenContext context, object token)
    {
        if (context.Options.RefreshTokenReuseLeeway is not { } leeway)
        {
            return false;
        }

        var redeemed = await tokens.GetRedemptionDateAsync(token, context.CancellationToken);
        return redeemed is null || DateTimeOffset.UtcNow < redeemed + leeway;
    }

    [LoggerMessage(EventId = 210, Level = LogLevel.Warning, Message = "Replayed refresh token or code: revoked authorization {AuthorizationId} and its tokens")]
    private static partial void LogReuse(ILogger logger, string authorizationId);

    [LoggerMessage(EventId = 211, Level = LogLevel.Warning, Message = "Replay on authorization {AuthorizationId} could not be audited (audit log unavailable)")]
    private static partial void LogAuditUnavailable(ILogger logger, string authorizationId);
}
