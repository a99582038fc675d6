using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Mislata.ServiceDefaults;

/// <summary>
/// Adopts the gateway's <c>X-Request-ID</c> (when well-formed) as the request's trace identifier, echoes it on the
/// response and puts it in the logging scope, so one id follows a request through nginx, logs and problem details.
/// </summary>
internal sealed partial class RequestIdMiddleware(RequestDelegate next, ILogger<RequestIdMiddleware> logger)
{
    public const string HeaderName = "X-Request-ID";

    public async Task InvokeAsync(HttpContext context)
    {
        var incoming = context.Request.Headers[HeaderName].ToString();
        if (incoming.Length is > 0 and <= 128 && SafeId().IsMatch(incoming))
        {
            context.TraceIdentifier = incoming;
        }

        context.Response.Headers[HeaderName] = context.TraceIdentifier;
        Activity.Current?.SetTag("mislata.request_id", context.TraceIdentifier);
        using (logger.BeginScope(new RequestIdScope(context.TraceIdentifier)))
        {
            await next(context);
        }
    }

    /// <summary>The scope's one property, without a dictionary per request.</summary>
    private sealed class RequestIdScope(string requestId) : IReadOnlyList<KeyValuePair<string, object>>
    {
        public int Count => 1;

        public KeyValuePair<string, object> this[int index] =>
            index == 0 ? new("RequestId", requestId) : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
        {
            yield return this[0];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => "RequestId:" + requestId;
    }

    [GeneratedRegex("^[A-Za-z0-9._:-]+$")]
    private static partial Regex SafeId();
}
