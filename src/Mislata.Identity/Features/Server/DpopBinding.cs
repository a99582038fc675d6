using Microsoft.AspNetCore;
using Microsoft.AspNetCore.DataProtection;
using System.Collections.Immutable;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Mislata.Infrastructure.Authentication;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using OpenIddict.Server.AspNetCore;
using OpenIddict.Validation;
using OpenIddict.Validation.AspNetCore;
using StackExchange.Redis;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;
using ValidationEvents = OpenIddict.Validation.OpenIddictValidationEvents;

namespace Mislata.Identity.Features.Server;

/// <summary>
/// DPoP (RFC 9449) at identity, written for Mislata because OpenIddict 7.8/7.9 has none (its proof-of-possession
/// handlers know only mTLS): the token endpoint checks a <c>DPoP</c> proof and binds the access token to its key
/// (<c>cnf.jkt</c>, <c>token_type</c> <c>DPoP</c>), and a public client's refresh token to the same key; an application
/// with <c>requireDpop</c> gets no token without a proof, and its proofs must carry a server nonce (RFC 9449 §8:
/// <c>use_dpop_nonce</c> with a <c>DPoP-Nonce</c> header; every token response to a request with a proof gives a fresh
/// one). Userinfo and the management API accept a bound token only with the <c>DPoP</c> scheme and a fresh proof for
/// that request (no nonce there: the <c>iat</c> window and the shared <c>jti</c> store bound a proof's life). Used proof
/// ids are remembered in Redis under <c>mislata:oauth:dpop:</c>; without Redis a proof is refused with 503, never
/// accepted unchecked.
/// </summary>
internal static class DpopBinding
{
    /// <summary>The OpenIddict application setting of <c>requireDpop</c>.</summary>
    public const string RequireSetting = "mislata:require_dpop";

    /// <summary>The key a public client's refresh token is bound to (kept in the refresh token only).</summary>
    public const string RefreshKeyClaim = "mislata_dpop_jkt";

    public const string ReplayPrefix = "mislata:oauth:dpop:";

    internal const string ThumbprintProperty = ".mislata_dpop_jkt";

    internal const string NonceProperty = ".mislata_dpop_nonce";

    /// <summary>The key an authorization code is bound to by the authorization request's <c>dpop_jkt</c> (RFC 9449 §10).</summary>
    public const string CodeKeyClaim = "mislata_dpop_code_jkt";

    public const string JktParameter = "dpop_jkt";

    public static bool IsThumbprint(string? value) => value is { Length: 43 } && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    public static bool Requires(ImmutableDictionary<string, string> settings) =>
        settings.TryGetValue(RequireSetting, out var value) && value == "true";

    public static OpenIddictServerBuilder AddDpopHandlers(this OpenIddictServerBuilder builder) =>
        builder.AddEventHandler(CheckDpopJktOfAuthorizationRequest.Descriptor)
            .AddEventHandler(BindCodeToDpopJkt.Descriptor)
            .AddEventHandler(CheckDpopProofAtTokenEndpoint.Descriptor)
            .AddEventHandler(BindTokensToDpopKey.Descriptor)
            .AddEventHandler(AnswerWithDpopTokenType.Descriptor)
            .AddEventHandler(ExtractDpopAccessTokenAtUserInfo.Descriptor)
            .AddEventHandler(CheckDpopBoundTokenAtUserInfo.Descriptor)
            .AddEventHandler(LeaveProofOfPossessionToDpop.Descriptor)
            .AddEventHandler(ListDpopAlgorithms.Descriptor)
            .AddEventHandler(AttachDpopNonce.Descriptor)
            .AddEventHandler(AnswerTemporarilyUnavailableWith503<ApplyTokenResponseContext>.Descriptor)
            .AddEventHandler(AnswerTemporarilyUnavailableWith503<ApplyUserInfoResponseContext>.Descriptor);

    public static OpenIddictValidationBuilder AddDpopHandlers(this OpenIddictValidationBuilder builder) =>
        builder.AddEventHandler(ExtractDpopAccessTokenAtManagementApi.Descriptor)
            .AddEventHandler(CheckDpopBoundTokenAtManagementApi.Descriptor)
            .AddEventHandler(LeaveValidationProofOfPossessionToDpop.Descriptor);

    public static Uri PublicUrl(Uri issuer, HttpRequest request) => DpopResourceRequest.PublicUrl(issuer, request);

    public static string? DpopToken(HttpRequest request) => DpopResourceRequest.DpopToken(request);

    /// <summary>
    /// The resource-server rule of <see cref="DpopResourceRequest"/> as an OpenIddict (error, description) to refuse
    /// with — <c>invalid_token</c> (401), or <c>temporarily_unavailable</c> (503) when Redis does not answer — or null.
    /// </summary>
    public static async Task<(string Error, string Description)?> CheckResourceRequestAsync(
        HttpRequest request, string token, ClaimsPrincipal principal, Uri issuer, IConnectionMultiplexer redis, DateTimeOffset now)
    {
        try
        {
            var refusal = await DpopResourceRequest.RefusalAsync(request, token, principal.GetClaim(DpopProof.ConfirmationClaim), issuer, new DpopReplayStore(redis, ReplayPrefix), now);
            return refusal is null ? null : (Errors.InvalidToken, DpopResourceRequest.Describe(refusal));
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return (Errors.TemporarilyUnavailable, "The DPoP proof cannot be checked for replay right now. Retry later.");
        }
    }
}

/// <summary>
/// At the token endpoint: checks the <c>DPoP</c> header (RFC 9449 §5), refuses a request of a <c>requireDpop</c>
/// application without one, and a refresh of a public client's bound refresh token with another key (or none). The
/// proof's key is kept in the transaction for <see cref="BindTokensToDpopKey"/>.
/// </summary>
internal sealed partial class CheckDpopProofAtTokenEndpoint(
    IOpenIddictApplicationManager applications, IConnectionMultiplexer redis, DpopNonces nonces, TimeProvider time, ILogger<CheckDpopProofAtTokenEndpoint> logger)
    : IOpenIddictServerHandler<ProcessAuthenticationContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessAuthenticationContext>()
            .UseScopedHandler<CheckDpopProofAtTokenEndpoint>()
            .SetOrder(OpenIddictServerHandlers.ResolveHostAuthenticationProperties.Descriptor.Order - 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ProcessAuthenticationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.EndpointType != OpenIddictServerEndpointType.Token || context.Transaction.GetHttpRequest() is not { } request)
        {
            return;
        }

        var proofs = request.Headers[DpopProof.HeaderName];
        // A public client's refresh token, or a code whose authorization request named dpop_jkt, is for that key only.
        var boundRefresh = context.RefreshTokenPrincipal?.GetClaim(DpopBinding.RefreshKeyClaim) ?? context.AuthorizationCodePrincipal?.GetClaim(DpopBinding.CodeKeyClaim);
        var required = context.ClientId is { Length: > 0 } clientId && await applications.FindByClientIdAsync(clientId, context.CancellationToken) is { } application
            && DpopBinding.Requires(await applications.GetSettingsAsync(application, context.CancellationToken));
        if (proofs.Count == 0)
        {
            if (boundRefresh is not null)
            {
                context.Reject(DpopProof.InvalidProof, "This grant is DPoP-bound: a DPoP proof of its key is required.");
            }
            else if (required)
            {
                context.Reject(DpopProof.InvalidProof, "This application requires DPoP: send a DPoP proof with the token request.");
            }

            return;
        }

        // Whatever the outcome, the answer to a request with a proof carries a fresh nonce for the next one.
        context.Transaction.Properties[DpopBinding.NonceProperty] = nonces.Issue();
        if (proofs.Count > 1)
        {
            context.Reject(DpopProof.InvalidProof, "Send exactly one DPoP proof.");
            return;
        }

        var proof = DpopProof.Validate(proofs[0], HttpMethods.Post, DpopBinding.PublicUrl(context.Options.Issuer!, request), null, time.GetUtcNow());
        if (!proof.IsValid)
        {
            context.Reject(DpopProof.InvalidProof, proof.Error);
            return;
        }

        if (boundRefresh is not null && !DpopProof.SameKey(boundRefresh, proof.Thumbprint))
        {
            context.Reject(Errors.InvalidGrant, "This grant is bound to another DPoP key.");
            return;
        }

        if (required && !nonces.Accepts(proof.Nonce))
        {
            context.Reject(DpopProof.UseNonce, "This application requires a server nonce in DPoP proofs: retry with the DPoP-Nonce of this response.");
            return;
        }

        bool first;
        try
        {
            first = await new DpopReplayStore(redis, DpopBinding.ReplayPrefix).TryUseAsync(proof);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogRedisDown(logger, e.GetType().Name);
            context.Reject(Errors.TemporarilyUnavailable, "The DPoP proof cannot be checked for replay right now. Retry later.");
            return;
        }

        if (!first)
        {
            context.Reject(DpopProof.InvalidProof, "The DPoP proof was already used.");
            return;
        }

        context.Transaction.Properties[DpopBinding.ThumbprintProperty] = proof.Thumbprint!;
    }

    [LoggerMessage(EventId = 340, Level = LogLevel.Warning, Message = "DPoP proofs cannot be checked for replay ({ErrorType}): refused until Redis answers")]
    private static partial void LogRedisDown(ILogger logger, string errorType);
}

/// <summary>
/// Binds the tokens of a request that came with a good proof: the access token gets <c>cnf: {jkt}</c> (RFC 9449 §6.1),
/// and a public client's refresh token remembers the key (§5: it has no other sender constraint).
/// </summary>
internal sealed class BindTokensToDpopKey(IOpenIddictApplicationManager applications) : IOpenIddictServerHandler<ProcessSignInContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .UseScopedHandler<BindTokensToDpopKey>()
            .SetOrder(OpenIddictServerHandlers.GenerateAccessToken.Descriptor.Order - 100)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ProcessSignInContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.Transaction.Properties.TryGetValue(DpopBinding.ThumbprintProperty, out var value) || value is not string thumbprint)
        {
            return;
        }

        context.AccessTokenPrincipal?.SetClaim(DpopProof.ConfirmationClaim, new JsonObject { ["jkt"] = thumbprint });
        if (context.RefreshTokenPrincipal is { } refresh && context.Transaction.Request?.ClientId is { Length: > 0 } clientId
            && await applications.FindByClientIdAsync(clientId, context.CancellationToken) is { } application
            && await applications.HasClientTypeAsync(application, ClientTypes.Public, context.CancellationToken))
        {
            refresh.SetClaim(DpopBinding.RefreshKeyClaim, thumbprint);
        }
    }
}

/// <summary><c>token_type</c> <c>DPoP</c> for a bound access token (RFC 9449 §5).</summary>
internal sealed class AnswerWithDpopTokenType : IOpenIddictServerHandler<ProcessSignInContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .UseSingletonHandler<AnswerWithDpopTokenType>()
            .SetOrder(OpenIddictServerHandlers.AttachSignInParameters.Descriptor.Order + 100)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ProcessSignInContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Transaction.Properties.ContainsKey(DpopBinding.ThumbprintProperty) && !string.IsNullOrEmpty(context.Response.AccessToken))
        {
            context.Response.TokenType = DpopProof.Scheme;
        }

        return default;
    }
}

/// <summary>Userinfo: takes the token of an <c>Authorization: DPoP …</c> header (OpenIddict reads only <c>Bearer</c>).</summary>
internal sealed class ExtractDpopAccessTokenAtUserInfo : IOpenIddictServerHandler<ExtractUserInfoRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ExtractUserInfoRequestContext>()
            .UseSingletonHandler<ExtractDpopAccessTokenAtUserInfo>()
            .SetOrder(OpenIddictServerAspNetCoreHandlers.ExtractAccessToken<ExtractUserInfoRequestContext>.Descriptor.Order + 100)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ExtractUserInfoRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Request is { } request && context.Transaction.GetHttpRequest() is { } http && DpopBinding.DpopToken(http) is { } token)
        {
            request.AccessToken = token;
        }

        return default;
    }
}

/// <summary>Userinfo: the resource-server rule of <see cref="DpopBinding.CheckResourceRequestAsync"/>, once the access token verified.</summary>
internal sealed class CheckDpopBoundTokenAtUserInfo(IConnectionMultiplexer redis, TimeProvider time) : IOpenIddictServerHandler<ProcessAuthenticationContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessAuthenticationContext>()
            .UseSingletonHandler<CheckDpopBoundTokenAtUserInfo>()
            .SetOrder(OpenIddictServerHandlers.ValidateAccessToken.Descriptor.Order + 100)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ProcessAuthenticationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.EndpointType != OpenIddictServerEndpointType.UserInfo || context.AccessTokenPrincipal is not { } principal
            || context.AccessToken is not { } token || context.Transaction.GetHttpRequest() is not { } request)
        {
            return;
        }

        var refusal = await DpopBinding.CheckResourceRequestAsync(request, token, principal, context.Options.Issuer!, redis, time.GetUtcNow());
        if (refusal is { } r)
        {
            context.Reject(r.Error, r.Description);
        }
    }
}

/// <summary>
/// Mislata uses no mTLS-bound tokens; OpenIddict's own proof-of-possession check knows only those (<c>cnf.x5t#S256</c>)
/// and is switched off for access tokens, whose <c>cnf.jkt</c> the DPoP handlers check.
/// </summary>
internal sealed class LeaveProofOfPossessionToDpop : IOpenIddictServerHandler<ValidateTokenContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenContext>()
            .UseSingletonHandler<LeaveProofOfPossessionToDpop>()
            .SetOrder(int.MinValue + 100_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ValidateTokenContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.DisableProofOfPossessionValidation = true;
        return default;
    }
}

/// <summary>Discovery: <c>dpop_signing_alg_values_supported</c>, exactly the algorithms <see cref="DpopProof"/> verifies.</summary>
internal sealed class ListDpopAlgorithms : IOpenIddictServerHandler<HandleConfigurationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<HandleConfigurationRequestContext>()
            .UseSingletonHandler<ListDpopAlgorithms>()
            .SetOrder(OpenIddictServerHandlers.Discovery.AttachSigningAlgorithms.Descriptor.Order + 600)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(HandleConfigurationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Metadata["dpop_signing_alg_values_supported"] = new OpenIddictParameter(JsonSerializer.SerializeToElement(DpopProof.Algorithms));
        return default;
    }
}

/// <summary>Management API: takes the token of an <c>Authorization: DPoP …</c> header (OpenIddict validation reads only <c>Bearer</c>).</summary>
internal sealed class ExtractDpopAccessTokenAtManagementApi : IOpenIddictValidationHandler<ValidationEvents.ProcessAuthenticationContext>
{
    public static OpenIddictValidationHandlerDescriptor Descriptor { get; } =
        OpenIddictValidationHandlerDescriptor.CreateBuilder<ValidationEvents.ProcessAuthenticationContext>()
            .UseSingletonHandler<ExtractDpopAccessTokenAtManagementApi>()
            .SetOrder(OpenIddictValidationAspNetCoreHandlers.ExtractAccessTokenFromAuthorizationHeader.Descriptor.Order + 100)
            .SetType(OpenIddictValidationHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ValidationEvents.ProcessAuthenticationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (string.IsNullOrEmpty(context.AccessToken) && context.Transaction.GetHttpRequest() is { } http && DpopBinding.DpopToken(http) is { } token)
        {
            context.AccessToken = token;
        }

        return default;
    }
}

/// <summary>Management API: the resource-server rule of <see cref="DpopBinding.CheckResourceRequestAsync"/>, once the access token verified.</summary>
internal sealed class CheckDpopBoundTokenAtManagementApi(IConnectionMultiplexer redis, TimeProvider time, IOptionsMonitor<OpenIddictServerOptions> server)
    : IOpenIddictValidationHandler<ValidationEvents.ProcessAuthenticationContext>
{
    public static OpenIddictValidationHandlerDescriptor Descriptor { get; } =
        OpenIddictValidationHandlerDescriptor.CreateBuilder<ValidationEvents.ProcessAuthenticationContext>()
            .UseSingletonHandler<CheckDpopBoundTokenAtManagementApi>()
            .SetOrder(OpenIddictValidationHandlers.ValidateAccessToken.Descriptor.Order + 100)
            .SetType(OpenIddictValidationHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ValidationEvents.ProcessAuthenticationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.AccessTokenPrincipal is not { } principal || context.AccessToken is not { } token || context.Transaction.GetHttpRequest() is not { } request)
        {
            return;
        }

        var refusal = await DpopBinding.CheckResourceRequestAsync(request, token, principal, server.CurrentValue.Issuer!, redis, time.GetUtcNow());
        if (refusal is { } r)
        {
            context.Reject(r.Error, r.Description);
        }
    }
}

/// <summary>The validation stack's counterpart of <see cref="LeaveProofOfPossessionToDpop"/>.</summary>
internal sealed class LeaveValidationProofOfPossessionToDpop : IOpenIddictValidationHandler<ValidationEvents.ValidateTokenContext>
{
    public static OpenIddictValidationHandlerDescriptor Descriptor { get; } =
        OpenIddictValidationHandlerDescriptor.CreateBuilder<ValidationEvents.ValidateTokenContext>()
            .UseSingletonHandler<LeaveValidationProofOfPossessionToDpop>()
            .SetOrder(int.MinValue + 100_000)
            .SetType(OpenIddictValidationHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ValidationEvents.ValidateTokenContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.DisableProofOfPossessionValidation = true;
        return default;
    }
}

/// <summary>
/// <c>temporarily_unavailable</c> (a replay store that does not answer) is 503 with <c>Retry-After</c>, as everywhere
/// else in Mislata, not the 400 OpenIddict gives every error of the token endpoint.
/// </summary>
internal sealed class AnswerTemporarilyUnavailableWith503<TContext> : IOpenIddictServerHandler<TContext>
    where TContext : BaseRequestContext
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<TContext>()
            .UseSingletonHandler<AnswerTemporarilyUnavailableWith503<TContext>>()
            .SetOrder(OpenIddictServerAspNetCoreHandlers.AttachHttpResponseCode<TContext>.Descriptor.Order + 100)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(TContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Transaction.Response?.Error == Errors.TemporarilyUnavailable && context.Transaction.GetHttpRequest()?.HttpContext.Response is { } response)
        {
            response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            response.Headers.RetryAfter = Mislata.ServiceDefaults.Problems.DependencyOutages.RetryAfterSeconds;
        }

        return default;
    }
}

/// <summary>
/// Server nonces for DPoP proofs at the token endpoint (RFC 9449 §8): the issue time, protected with Data Protection
/// (its key ring is shared by identity's replicas, so any replica accepts a nonce another gave), good for
/// <see cref="Lifetime"/>. A nonce is not single-use: the proof's <c>jti</c> is.
/// </summary>
internal sealed class DpopNonces(IDataProtectionProvider protection, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    private readonly IDataProtector _protector = protection.CreateProtector("Mislata.Identity.DpopNonce.v1");

    public string Issue() => _protector.Protect(time.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));

    public bool Accepts(string? nonce)
    {
        if (string.IsNullOrEmpty(nonce) || nonce.Length > 512)
        {
            return false;
        }

        try
        {
            var issued = DateTimeOffset.FromUnixTimeSeconds(long.Parse(_protector.Unprotect(nonce), System.Globalization.CultureInfo.InvariantCulture));
            var now = time.GetUtcNow();
            return issued <= now + TimeSpan.FromSeconds(5) && now - issued <= Lifetime;
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or FormatException or OverflowException)
        {
            return false;
        }
    }
}

/// <summary>The <c>DPoP-Nonce</c> header on token responses to requests that carried a proof.</summary>
internal sealed class AttachDpopNonce : IOpenIddictServerHandler<ApplyTokenResponseContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyTokenResponseContext>()
            .UseSingletonHandler<AttachDpopNonce>()
            .SetOrder(OpenIddictServerAspNetCoreHandlers.AttachHttpResponseCode<ApplyTokenResponseContext>.Descriptor.Order + 200)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ApplyTokenResponseContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Transaction.Properties.TryGetValue(DpopBinding.NonceProperty, out var value) && value is string nonce
            && context.Transaction.GetHttpRequest()?.HttpContext.Response is { } response)
        {
            response.Headers[DpopProof.NonceHeaderName] = nonce;
        }

        return default;
    }
}

/// <summary>
/// <c>dpop_jkt</c> of an authorization request (direct or pushed, RFC 9449 §10) must be a SHA-256 JWK thumbprint
/// (43 base64url characters); otherwise the request is <c>invalid_request</c>.
/// </summary>
internal sealed class CheckDpopJktOfAuthorizationRequest : IOpenIddictServerHandler<ValidateAuthorizationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateAuthorizationRequestContext>()
            .UseSingletonHandler<CheckDpopJktOfAuthorizationRequest>()
            .SetOrder(int.MinValue + 100_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ValidateAuthorizationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Request.HasParameter(DpopBinding.JktParameter) && !DpopBinding.IsThumbprint((string?)context.Request[DpopBinding.JktParameter]))
        {
            context.Reject(Errors.InvalidRequest, "dpop_jkt is not a SHA-256 JWK thumbprint (43 base64url characters).");
        }

        return default;
    }
}

/// <summary>The authorization code of a request with <c>dpop_jkt</c> remembers the key: only a proof of it redeems the code.</summary>
internal sealed class BindCodeToDpopJkt : IOpenIddictServerHandler<ProcessSignInContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .UseSingletonHandler<BindCodeToDpopJkt>()
            .SetOrder(OpenIddictServerHandlers.GenerateAuthorizationCode.Descriptor.Order - 100)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ProcessSignInContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.EndpointType == OpenIddictServerEndpointType.Authorization && context.AuthorizationCodePrincipal is { } code
            && (string?)context.Request?[DpopBinding.JktParameter] is { } jkt && DpopBinding.IsThumbprint(jkt))
        {
            code.SetClaim(DpopBinding.CodeKeyClaim, jkt);
        }

        return default;
    }
}
