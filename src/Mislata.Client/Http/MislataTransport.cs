using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Mislata.Client.Contracts;

namespace Mislata.Client.Http;

/// <summary>
/// Sends one call and reads its answer: a success is deserialized, anything else becomes one
/// <see cref="MislataApiException"/>. Bodies are buffered bytes so that a retried request can be sent again.
/// </summary>
internal sealed class MislataTransport(HttpClient http)
{
    /// <summary>The header a create carries so that a retried POST is answered with the first response.</summary>
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    public Task<T> GetAsync<T>(string path, CancellationToken cancellationToken) => SendAsync<T>(HttpMethod.Get, path, null, null, cancellationToken);

    public Task<T> PostAsync<T>(string path, object? body, CancellationToken cancellationToken) => SendAsync<T>(HttpMethod.Post, path, body, null, cancellationToken);

    /// <summary>A POST that creates: an <c>Idempotency-Key</c> (the caller's or a new one) makes it safe to retry.</summary>
    public Task<T> CreateAsync<T>(string path, object? body, string? idempotencyKey, CancellationToken cancellationToken) =>
        SendAsync<T>(HttpMethod.Post, path, body, idempotencyKey ?? Guid.NewGuid().ToString("N"), cancellationToken);

    public Task<T> PutAsync<T>(string path, object? body, CancellationToken cancellationToken) => SendAsync<T>(HttpMethod.Put, path, body, null, cancellationToken);

    public Task<T> PatchAsync<T>(string path, object? body, CancellationToken cancellationToken) => SendAsync<T>(HttpMethod.Patch, path, body, null, cancellationToken);

    public Task<T> DeleteAsync<T>(string path, CancellationToken cancellationToken) => SendAsync<T>(HttpMethod.Delete, path, null, null, cancellationToken);

    public async Task DeleteAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(HttpMethod.Delete, path, null, null, cancellationToken).ConfigureAwait(false);
    }

    public async Task SendNoContentAsync(HttpMethod method, string path, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(method, path, null, null, cancellationToken).ConfigureAwait(false);
    }

    public async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, string? idempotencyKey, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(method, path, body, idempotencyKey, cancellationToken).ConfigureAwait(false);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                return await JsonSerializer.DeserializeAsync<T>(stream, MislataJson.Options, cancellationToken).ConfigureAwait(false)
                    ?? throw new MislataApiException((int)response.StatusCode, "invalid_response", detail: "the API answered an empty body");
            }
        }
        catch (JsonException e)
        {
            throw new MislataApiException((int)response.StatusCode, "invalid_response", detail: "the API's answer is not the expected JSON", inner: e);
        }
    }

    /// <summary>The response of a successful call (2xx), for the caller to read and dispose.</summary>
    public async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, object? body, string? idempotencyKey, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(path.TrimStart('/'), UriKind.Relative));
        if (body is not null)
        {
            var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, body.GetType(), MislataJson.Options));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            request.Content = content;
        }

        if (idempotencyKey is not null)
        {
            request.Headers.TryAddWithoutValidation(IdempotencyKeyHeader, idempotencyKey);
        }

        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/problem+json"));
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new MislataApiException(0, "unavailable", detail: e.HttpRequestError.ToString(), inner: e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MislataApiException(0, "unavailable", detail: "timed out", inner: e);
        }
        catch (Polly.Timeout.TimeoutRejectedException e)
        {
            throw new MislataApiException(0, "unavailable", detail: "timed out", inner: e);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            throw await ToExceptionAsync(response, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A failed response as the one exception type: the problem's members when it is one, else a code from the status.</summary>
    internal static async Task<MislataApiException> ToExceptionAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var retryAfter = RetryAfter(response);
        string text;
        try
        {
            text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            text = string.Empty;
        }

        if (text.Length > 0 && text.TrimStart().StartsWith('{'))
        {
            try
            {
                using var doc = JsonDocument.Parse(text);
                var root = doc.RootElement;
                if (root.ValueKind == JsonValueKind.Object)
                {
                    var errors = new FieldErrors();
                    if (root.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Object)
                    {
                        foreach (var field in e.EnumerateObject())
                        {
                            errors[field.Name] = field.Value.ValueKind == JsonValueKind.Array
                                ? [.. field.Value.EnumerateArray().Select(m => m.ValueKind == JsonValueKind.String ? m.GetString()! : m.GetRawText())]
                                : [field.Value.ToString()];
                        }
                    }

                    var error = Str(root, "error") ?? CodeOf(response.StatusCode);
                    return new MislataApiException(Str(root, "status") is { } s && int.TryParse(s, CultureInfo.InvariantCulture, out var st) ? st : status,
                        error, Str(root, "title"), Str(root, "detail"), Str(root, "traceId"), Str(root, "instance"), errors, retryAfter);
                }
            }
            catch (JsonException)
            {
                // Not a problem document (a proxy's page): the status alone.
            }
        }

        return new MislataApiException(status, CodeOf(response.StatusCode), response.ReasonPhrase, retryAfter: retryAfter);
    }

    private static string? Str(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            _ => null,
        } : null;

    internal static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        return header?.Date is { } date ? date - DateTimeOffset.UtcNow : null;
    }

    /// <summary>The API.md code of a status that came without a problem body (a gateway's own answer).</summary>
    internal static string CodeOf(HttpStatusCode status) => status switch
    {
        HttpStatusCode.BadRequest => "invalid_request",
        HttpStatusCode.Unauthorized => "unauthorized",
        HttpStatusCode.Forbidden => "forbidden",
        HttpStatusCode.NotFound => "not_found",
        HttpStatusCode.Conflict => "conflict",
        HttpStatusCode.RequestEntityTooLarge => "payload_too_large",
        HttpStatusCode.TooManyRequests => "rate_limited",
        HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout => "unavailable",
        _ => "http_" + ((int)status).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>A query string of the non-null values.</summary>
    public static string Query(string path, params (string Name, object? Value)[] parameters)
    {
        var sb = new StringBuilder(path);
        var first = !path.Contains('?', StringComparison.Ordinal);
        foreach (var (name, value) in parameters)
        {
            var text = value switch
            {
                null => null,
                bool b => b ? "true" : "false",
                DateTimeOffset d => d.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString(),
            };
            if (text is null)
            {
                continue;
            }

            sb.Append(first ? '?' : '&').Append(name).Append('=').Append(Uri.EscapeDataString(text));
            first = false;
        }

        return sb.ToString();
    }
}
