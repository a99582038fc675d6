using System.Globalization;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Infrastructure.Abuse;

/// <summary>
/// The request-path step of failed-credential defence, shared by the api and identity: before any credential work, a
/// source over the limit is answered 429 <c>rate_limited</c> with <c>Retry-After</c> from memory; after a credential
/// fails, the failure is counted (<see cref="FailedCredentialLimiter"/>) and audited in aggregate
/// (<see cref="FailedAuthenticationAudit"/>).
/// </summary>
public sealed class FailedCredentialGuard(FailedCredentialLimiter limiter, FailedAuthenticationAudit audit)
{
    /// <summary>True when the request was answered (429) because its source is over the limit.</summary>
    public async Task<bool> RefuseOverLimitAsync(HttpContext context, string credentialPrefix)
    {
        ArgumentNullException.ThrowIfNull(context);
        var source = ClientSource.Of(context.Connection.RemoteIpAddress);
        if (!limiter.IsOverLimit(source, out var retryAfter))
        {
            return false;
        }

        audit.RecordThrottled(source, credentialPrefix, context.Request.Path.Value, context.TraceIdentifier);
        var seconds = (int)Math.Ceiling(retryAfter.TotalSeconds);
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await ProblemWriter.WriteAsync(context, StatusCodes.Status429TooManyRequests, ErrorCodes.RateLimited, "Too many requests",
            $"Too many failed credentials from this address ({limiter.PerMinute} per minute); retry after {seconds} s.");
        return true;
    }

    /// <summary>A presented credential failed: counted against its source and audited in aggregate. The caller answers as it would.</summary>
    public async Task RecordFailureAsync(HttpContext context, string credentialPrefix, string reason)
    {
        ArgumentNullException.ThrowIfNull(context);
        var source = ClientSource.Of(context.Connection.RemoteIpAddress);
        audit.RecordFailure(source, credentialPrefix, reason, context.Request.Path.Value, context.TraceIdentifier);
        await limiter.RecordFailureAsync(source);
    }
}

public static class FailedCredentialExtensions
{
    /// <summary>The failed-credential limit (<c>FailedCredentials:PerMinute</c>, default 60) and the aggregated failure audit.</summary>
    public static IServiceCollection AddFailedCredentialLimits(this IServiceCollection services)
    {
        services.AddOptions<FailedCredentialOptions>()
            .BindConfiguration(FailedCredentialOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<FailedCredentialLimiter>();
        services.AddSingleton<FailedAuthenticationAudit>();
        services.AddHostedService(sp => sp.GetRequiredService<FailedAuthenticationAudit>());
        services.AddSingleton<FailedCredentialGuard>();
        return services;
    }
}
