using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Mislata.ServiceDefaults.Problems;

public static class ProblemDetailsSetup
{
    /// <summary>RFC 9457 for every error: <c>type, title, status, detail, instance</c> plus <c>error</c> and <c>traceId</c>.</summary>
    public static IServiceCollection AddMislataProblemDetails(this IServiceCollection services)
    {
        services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx => Complete(ctx.ProblemDetails, ctx.HttpContext));
        services.AddExceptionHandler<ClientErrorExceptionHandler>();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<DependencyOutages>();
        return services;
    }

    internal static void Complete(ProblemDetails problem, HttpContext context)
    {
        var status = problem.Status ?? context.Response.StatusCode;
        problem.Status = status;
        var code = problem.Extensions.TryGetValue("error", out var existing) && existing is string s
            ? s
            : ErrorCodes.ForStatus(status);
        problem.Extensions["error"] = code;
        problem.Type = ErrorCodes.TypeUri(code);
        problem.Instance ??= context.Request.Path.Value;
        problem.Extensions["traceId"] = context.TraceIdentifier;
        problem.Extensions.Remove("requestId");
        if (status == StatusCodes.Status401Unauthorized && !context.Response.Headers.ContainsKey("WWW-Authenticate"))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }
    }
}

/// <summary>
/// The one place where exceptions become problems: malformed requests that the framework rejects (bad JSON, body too
/// large, wrong content type) are 4xx; a fail-closed audit log that could not store an event is 503 <c>unavailable</c>
/// (the operation did not happen), and so is a dependency that did not answer (PostgreSQL, Redis: <see cref="IsDependencyUnavailable"/>);
/// anything else is a bug and becomes a bare 500 with no exception text.
/// </summary>
[SuppressMessage("Performance", "CA1812", Justification = "Instantiated by DI.")]
internal sealed partial class ClientErrorExceptionHandler(IProblemDetailsService problems, DependencyOutages outages, ILogger<ClientErrorExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, code, title, detail) = exception switch
        {
            BadHttpRequestException { StatusCode: 413 } => (413, ErrorCodes.PayloadTooLarge, "Payload too large", "The request body exceeds the size limit."),
            BadHttpRequestException bad when bad.InnerException is System.Text.Json.JsonException =>
                (400, ErrorCodes.InvalidRequest, "Malformed request", "The request body is not valid JSON for this endpoint."),
            BadHttpRequestException bad => (bad.StatusCode, ErrorCodes.ForStatus(bad.StatusCode), "Bad request", "The request could not be read."),
            System.Text.Json.JsonException => (400, ErrorCodes.InvalidRequest, "Malformed request", "The request body is not valid JSON for this endpoint."),
            Mislata.Core.Audit.AuditUnavailableException => (503, ErrorCodes.Unavailable, "Service unavailable", "The audit log is unavailable; nothing was changed. Retry later."),
            OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested => (499, "client_closed", "Client closed request", string.Empty),
            _ when IsDependencyUnavailable(exception) =>
                (503, ErrorCodes.Unavailable, "Service unavailable", "A service this request needs is unavailable; nothing was changed. Retry later."),
            _ => (500, ErrorCodes.InternalError, "Internal error", "An unexpected error occurred. Quote the traceId when reporting it."),
        };

        if (status == 503)
        {
            // Counted, and logged once per outage by DependencyOutages, not once per request.
            // An audit log that took no event (PostgreSQL refusing writes, or slow) is not a PostgreSQL that does not answer:
            // it must not open PostgreSQL's circuit, which would stop the reads too.
            var dependency = DependencyOutages.DependencyOf(exception)
                ?? (exception is Mislata.Core.Audit.AuditUnavailableException ? DependencyOutages.PostgresWrites : DependencyOutages.Network);
            outages.CountUnavailable(dependency, exception.GetType().Name, circuitOpen: IsOpenCircuit(exception));
            httpContext.Response.Headers.RetryAfter = DependencyOutages.RetryAfterSeconds;
        }
        else if (status >= 500)
        {
            outages.CountInternalError();
            LogUnhandled(logger, exception.GetType().FullName ?? "exception", httpContext.TraceIdentifier, exception);
        }

        if (status == 499 || httpContext.Response.HasStarted)
        {
            return true;
        }

        httpContext.Response.StatusCode = status;
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        problem.Extensions["error"] = code;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = problem,
            Exception = null,
        });
    }

    /// <summary>
    /// A dependency that did not answer — PostgreSQL (connection refused or lost, server shutting down or starting,
    /// read-only, disk full), Redis (connection or timeout), an open circuit, a socket or a timeout — anywhere in the
    /// exception chain (<see cref="DependencyOutages.DependencyOf"/>). The request failed before or instead of its write
    /// (a transaction not committed is rolled back), so the client may retry. A non-transient database error (a
    /// constraint the code did not expect) stays a 500: a bug.
    /// </summary>
    internal static bool IsDependencyUnavailable(Exception exception) => DependencyOutages.DependencyOf(exception) is not null;

    private static bool IsOpenCircuit(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is DependencyUnavailableException)
            {
                return true;
            }
        }

        return false;
    }

    // The exception object is logged for its type and stack; Mislata code never puts secrets in exception messages.
    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Unhandled {ExceptionType} in request {RequestId}")]
    private static partial void LogUnhandled(ILogger logger, string exceptionType, string requestId, Exception exception);
}
