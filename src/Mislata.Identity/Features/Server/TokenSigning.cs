using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;
using Mislata.Infrastructure.Authentication;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Mislata.Identity.Features.Server;

/// <summary>
/// Which algorithm signs an application's access and ID tokens (<c>tokenSigningAlgorithm</c>): <c>ML-DSA-65</c>, the
/// default of applications created since it exists, or <c>ES256</c> for relying parties that cannot verify a
/// post-quantum signature yet. Applications created before the setting existed (and the platform's own bootstrap
/// clients) have none and keep ES256. Authorization codes and refresh tokens are identity's own and not affected.
/// </summary>
internal static class TokenSigning
{
    /// <summary>The OpenIddict application setting that holds the choice.</summary>
    public const string Setting = "mislata:token_signing_alg";

    public const string Es256 = SecurityAlgorithms.EcdsaSha256;

    public const string MlDsa65 = MlDsaJose.Algorithm;

    public static readonly IReadOnlyList<string> Allowed = [Es256, MlDsa65];

    public const string DefaultForNewApplications = MlDsa65;

    public static string Of(ImmutableDictionary<string, string> settings) =>
        settings.TryGetValue(Setting, out var value) && Allowed.Contains(value, StringComparer.Ordinal) ? value : Es256;

    public static OpenIddictServerBuilder AddTokenSigningHandlers(this OpenIddictServerBuilder builder) =>
        builder.AddEventHandler(SignWithApplicationAlgorithm.Descriptor)
            .AddEventHandler(ListMlDsaInDiscovery.Descriptor)
            .AddEventHandler(PublishMlDsaKeys.Descriptor);
}

/// <summary>Signs an access or ID token with the active key of the algorithm its application chose.</summary>
internal sealed class SignWithApplicationAlgorithm(IOpenIddictApplicationManager applications) : IOpenIddictServerHandler<GenerateTokenContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<GenerateTokenContext>()
            .UseScopedHandler<SignWithApplicationAlgorithm>()
            .SetOrder(OpenIddictServerHandlers.Protection.AttachSecurityCredentials.Descriptor.Order + 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(GenerateTokenContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.TokenType is not (TokenTypeIdentifiers.AccessToken or TokenTypeIdentifiers.IdentityToken)
            || (context.ClientId ?? context.Transaction.Request?.ClientId) is not { Length: > 0 } clientId
            || await applications.FindByClientIdAsync(clientId, context.CancellationToken) is not { } application)
        {
            return;
        }

        var algorithm = TokenSigning.Of(await applications.GetSettingsAsync(application, context.CancellationToken));
        if (context.SigningCredentials?.Algorithm != algorithm)
        {
            context.SigningCredentials = context.Options.SigningCredentials.First(c => c.Algorithm == algorithm);
        }
    }
}

/// <summary>Discovery lists ML-DSA-65 in <c>id_token_signing_alg_values_supported</c> (OpenIddict knows only RSA and ECDSA).</summary>
internal sealed class ListMlDsaInDiscovery : IOpenIddictServerHandler<HandleConfigurationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<HandleConfigurationRequestContext>()
            .UseSingletonHandler<ListMlDsaInDiscovery>()
            .SetOrder(OpenIddictServerHandlers.Discovery.AttachSigningAlgorithms.Descriptor.Order + 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(HandleConfigurationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Options.SigningCredentials.Any(c => c.Algorithm == MlDsaJose.Algorithm))
        {
            context.IdTokenSigningAlgorithms.Add(MlDsaJose.Algorithm);
        }

        return default;
    }
}

/// <summary>
/// Adds the ML-DSA-65 public keys to the JWKS as <c>{kty: "AKP", alg: "ML-DSA-65", pub, kid, use: "sig"}</c>, after the
/// ES256 keys OpenIddict writes itself.
/// </summary>
internal sealed class PublishMlDsaKeys : IOpenIddictServerHandler<ApplyJsonWebKeySetResponseContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyJsonWebKeySetResponseContext>()
            .UseSingletonHandler<PublishMlDsaKeys>()
            .SetOrder(OpenIddictServerAspNetCoreHandlers.ProcessJsonResponse<ApplyJsonWebKeySetResponseContext>.Descriptor.Order - 1_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ApplyJsonWebKeySetResponseContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!string.IsNullOrEmpty(context.Response.Error))
        {
            return default;
        }

        var keys = context.Response[Parameters.Keys] is { } existing && (JsonElement?)existing is { ValueKind: JsonValueKind.Array } array
            ? JsonNode.Parse(array.GetRawText())!.AsArray()
            : [];
        foreach (var credentials in context.Options.SigningCredentials)
        {
            if (credentials.Key is MlDsa65SecurityKey key)
            {
                var jwk = new JsonObject();
                foreach (var (name, value) in MlDsaJose.ToJwk(key))
                {
                    jwk[name] = value;
                }

                keys.Add(jwk);
            }
        }

        context.Response[Parameters.Keys] = new OpenIddictParameter(JsonSerializer.SerializeToElement(keys));
        return default;
    }
}
