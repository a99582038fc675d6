using System.Net;
using Mislata.Client.Contracts;

namespace Mislata.Client;

/// <summary>
/// Every failure the API answers (an RFC 9457 problem, or a gateway error without one) and every failure to reach it.
/// <see cref="Error"/> is the stable machine code of API.md (<c>not_found</c>, <c>insufficient_scope</c>,
/// <c>decryption_failed</c> …); <see cref="Status"/> is 0 when no HTTP answer came back (then <c>Error</c> is
/// <c>unavailable</c>). The message never carries request data.
/// </summary>
public sealed class MislataApiException : Exception
{
    /// <summary>A failure with its problem details.</summary>
    public MislataApiException(int status, string error, string? title = null, string? detail = null, string? traceId = null, string? instance = null,
        IReadOnlyDictionary<string, string[]>? errors = null, TimeSpan? retryAfter = null, Exception? inner = null)
        : base(Describe(status, error, title, detail), inner)
    {
        Status = status;
        Error = error;
        Title = title;
        Detail = detail;
        TraceId = traceId;
        Instance = instance;
        Errors = errors ?? new FieldErrors();
        RetryAfter = retryAfter;
    }

    /// <summary>Not for use: an exception needs its status and code.</summary>
    public MislataApiException()
        : this(0, "unavailable")
    {
    }

    /// <summary>Not for use: an exception needs its status and code.</summary>
    public MislataApiException(string message)
        : base(message)
    {
        Error = "unavailable";
        Errors = new FieldErrors();
    }

    /// <summary>Not for use: an exception needs its status and code.</summary>
    public MislataApiException(string message, Exception innerException)
        : base(message, innerException)
    {
        Error = "unavailable";
        Errors = new FieldErrors();
    }

    /// <summary>HTTP status; 0 when the API could not be reached.</summary>
    public int Status { get; }

    /// <summary>Stable machine code (API.md "Errors").</summary>
    public string Error { get; }

    /// <summary>The problem's <c>title</c>.</summary>
    public string? Title { get; }

    /// <summary>The problem's <c>detail</c>.</summary>
    public string? Detail { get; }

    /// <summary>The server's trace id, to quote to an operator.</summary>
    public string? TraceId { get; }

    /// <summary>The problem's <c>instance</c>.</summary>
    public string? Instance { get; }

    /// <summary>Field errors of <c>validation_failed</c>.</summary>
    public IReadOnlyDictionary<string, string[]> Errors { get; }

    /// <summary>The <c>Retry-After</c> of a 429 or 503 that the client gave up retrying.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>The status as an enum value (0 when unreachable).</summary>
    public HttpStatusCode StatusCode => (HttpStatusCode)Status;

    private static string Describe(int status, string error, string? title, string? detail) =>
        status == 0 ? $"Mislata API unreachable ({error}){(detail is null ? "" : ": " + detail)}"
            : $"Mislata API {status} {error}{(title is null ? "" : ": " + title)}{(detail is null ? "" : " — " + detail)}";
}
