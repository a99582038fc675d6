using Mislata.Core.Access;

namespace Mislata.Api.Access;

/// <summary>Who may call an endpoint: a tenant credential, a partner admin, a platform operator, or a tenant credential or an operator.</summary>
public enum CallerAudience
{
    Tenant = 0,
    Partner = 1,
    Platform = 2,
    TenantOrPlatform = 3,
}

/// <summary>Endpoint metadata read by <see cref="CallerAuthenticationMiddleware"/>: the scope and audience an endpoint requires.</summary>
public sealed record AccessRequirement(string Scope, CallerAudience Audience);

public static class AccessEndpointExtensions
{
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope, CallerAudience audience = CallerAudience.Tenant)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AccessRequirement(scope, audience));

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
