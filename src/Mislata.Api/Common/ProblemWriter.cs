using Microsoft.AspNetCore.Mvc;

namespace Mislata.Api.Common;

/// <summary>Writes an API.md problem from middleware (endpoints use <c>Problem.Of</c>).</summary>
internal static class ProblemWriter
{
    public static async Task WriteAsync(HttpContext context, int status, string code, string title, string detail)
    {
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
