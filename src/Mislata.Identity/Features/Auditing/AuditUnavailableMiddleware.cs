using Mislata.Core.Audit;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Identity.Features.Auditing;

internal static class AuditUnavailableMiddleware
{
    /// <summary>
    /// Fail-closed audit: when an event cannot be stored the operation has failed, and the caller gets
    /// 503 <c>unavailable</c> (with Retry-After), not a 500.
    /// </summary>
    public static WebApplication UseAuditUnavailableAs503(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (AuditUnavailableException) when (!context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.Headers.RetryAfter = "5";
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                await Problem.Of(StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, "Service unavailable",
                    "The audit log is unavailable; nothing was changed. Try again shortly.").ExecuteAsync(context);
            }
        });
        return app;
    }
}
