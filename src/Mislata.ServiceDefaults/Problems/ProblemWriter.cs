using Microsoft.AspNetCore.Mvc;

namespace Mislata.ServiceDefaults.Problems;

/// <summary>Writes an API.md problem from middleware (endpoints use <c>Problem.Of</c>).</summary>
public static class ProblemWriter
{
    public static async Task WriteAsync(HttpContext context, int status, string code, string title, string detail)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = status;
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        problem.Extensions["error"] = code;
        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = problem,
        });
    }
}
