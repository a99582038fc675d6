using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Mislata.Identity.Features.Server;

/// <summary>
/// Introspection reveals any token's claims, so only platform applications get the permission; this also refuses an
/// application that has lost its owner row (never a platform application) or belongs to a tenant.
/// </summary>
internal sealed class RequirePlatformOwnerForIntrospection(IOpenIddictApplicationManager applications, ApplicationBoundary boundary)
    : IOpenIddictServerHandler<ValidateIntrospectionRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } = OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateIntrospectionRequestContext>()
        .UseScopedHandler<RequirePlatformOwnerForIntrospection>()
        .SetOrder(OpenIddictServerHandlers.Introspection.ValidateEndpointPermissions.Descriptor.Order + 500)
        .SetType(OpenIddictServerHandlerType.Custom)
        .Build();

    public async ValueTask HandleAsync(ValidateIntrospectionRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var application = string.IsNullOrEmpty(context.ClientId) ? null : await applications.FindByClientIdAsync(context.ClientId, context.CancellationToken);
        var check = application is null ? default
            : await boundary.CheckApplicationAsync((await applications.GetIdAsync(application, context.CancellationToken))!, context.CancellationToken);
        if (!check.Allowed || check.Owner?.IsPlatform != true)
        {
            context.Reject(Errors.InvalidClient, "This client may not introspect tokens.");
        }
    }
}
