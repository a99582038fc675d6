using System.Net;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace Mislata.Client.Http;

/// <summary>
/// Which failures are retried: 503 answers, 429 answers that carry <c>Retry-After</c> (a rate limit that lifts; a 429
/// <c>quota_exceeded</c> has none and would not lift by waiting) and connection failures, and only for a call that is safe to send
/// twice — GET, PUT, DELETE, HEAD, or a POST that carries an <c>Idempotency-Key</c> (the API answers a repeat with the
/// first response). A plain POST (encrypt, sign, rotate …) is never retried: the caller sees the failure.
/// </summary>
internal static class IdempotentRetry
{
    public static bool IsIdempotent(HttpRequestMessage? request) => request is not null && (
        request.Method == HttpMethod.Get || request.Method == HttpMethod.Put || request.Method == HttpMethod.Delete || request.Method == HttpMethod.Head
        || (request.Method == HttpMethod.Post && request.Headers.Contains(MislataTransport.IdempotencyKeyHeader)));

    public static bool IsRetryable(HttpResponseMessage response) =>
        response.StatusCode == HttpStatusCode.ServiceUnavailable || (response.StatusCode == HttpStatusCode.TooManyRequests && response.Headers.RetryAfter is not null);

    public static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, ResilienceContext context)
    {
        if (outcome.Result is { } response)
        {
            return IsRetryable(response) && IsIdempotent(response.RequestMessage ?? context.GetRequestMessage());
        }

        return outcome.Exception is HttpRequestException or Polly.Timeout.TimeoutRejectedException && IsIdempotent(context.GetRequestMessage());
    }

    public static HttpRetryStrategyOptions Strategy(MislataClientOptions options) => new()
    {
        MaxRetryAttempts = options.MaxRetries,
        Delay = options.RetryBaseDelay,
        MaxDelay = options.MaxRetryDelay,
        BackoffType = DelayBackoffType.Exponential,
        UseJitter = true,
        // Retry-After wins over the backoff, capped at MaxRetryDelay (Polly's own header handling is not capped).
        ShouldRetryAfterHeader = false,
        DelayGenerator = args => ValueTask.FromResult(
            args.Outcome.Result is { } answer && MislataTransport.RetryAfter(answer) is { } after
                ? (TimeSpan?)(after < TimeSpan.Zero ? TimeSpan.Zero : after > options.MaxRetryDelay ? options.MaxRetryDelay : after)
                : null),
        ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome, args.Context)),
        OnRetry = args =>
        {
            options.OnRetry?.Invoke(args.AttemptNumber + 1, args.RetryDelay, args.Outcome.Result is { } r ? (int)r.StatusCode : null);
            return default;
        },
    };
}
