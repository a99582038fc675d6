using Mislata.Core.Access;

namespace Mislata.Api.Access;

/// <summary>Who may call an endpoint: a tenant credential, a partner admin, a platform operator, a tenant credential or an
/// operator, or any valid credential (<see cref="Any"/>: only with <see cref="AccessEndpointExtensions.RequireCredential"/>).</summary>
public enum CallerAudience
{
    Tenant = 0,
    Partner = 1,
    Platform = 2,
    TenantOrPlatform = 3,
    Any = 4,
}

/// <summary>Endpoint metadata read by <see cref="CallerAuthenticationMiddleware"/>: the scope and audience an endpoint
/// requires. An empty <see cref="Scope"/> asks for no scope: any valid credential of a live tenant.</summary>
public sealed record AccessRequirement(string Scope, CallerAudience Audience)
{
    /// <summary>Whether the endpoint names a scope the caller must hold.</summary>
    public bool NeedsScope => Scope.Length != 0;
}

public static class AccessEndpointExtensions
{
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope, CallerAudience audience = CallerAudience.Tenant)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentException.ThrowIfNullOrEmpty(scope);
        return builder.WithMetadata(new AccessRequirement(scope, audience));
    }

    /// <summary>Any valid credential (an API key or an access token of any scope, of a tenant that is not suspended, a
    /// partner or the platform), within its rate limits. For checks of the credential itself, such as the authenticated ping.</summary>
    public static TBuilder RequireCredential<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AccessRequirement(string.Empty, CallerAudience.Any));

    /// <summary>The authenticated caller of an endpoint that declared <see cref="RequireScope"/> (never null there).</summary>
    public static Caller GetCaller(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Features.Get<Caller>() ?? throw new InvalidOperationException("The endpoint has no access requirement: no caller.");
    }

    /// <summary>The audit actor of the request: the caller, its address and the request id.</summary>
    public static RequestActor GetActor(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var caller = context.GetCaller();
        return new RequestActor(caller.ActorType, caller.ActorId, context.Connection.RemoteIpAddress?.ToString(), context.TraceIdentifier);
    }
}
