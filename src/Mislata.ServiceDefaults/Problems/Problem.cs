using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Mislata.ServiceDefaults.Problems;

/// <summary>Builds the problem+json results of API.md for endpoint handlers.</summary>
public static class Problem
{
    public static ProblemHttpResult Of(int status, string code, string title, string? detail = null)
    {
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        problem.Extensions["error"] = code;
        return TypedResults.Problem(problem);
    }

    public static ProblemHttpResult NotFound(string? detail = null) =>
        Of(StatusCodes.Status404NotFound, ErrorCodes.NotFound, "Not found", detail ?? "The resource does not exist.");

    public static ProblemHttpResult Validation(IDictionary<string, string[]> errors, string? detail = null)
    {
        var problem = new HttpValidationProblemDetails(errors)
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "Validation failed",
            Detail = detail ?? "One or more fields are invalid.",
        };
        problem.Extensions["error"] = ErrorCodes.ValidationFailed;
        return TypedResults.Problem(problem);
    }
}
