using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace Mislata.Client.Tests.Http;

/// <summary>The network, scripted: answers in order (the last one repeats) and records every request it saw.</summary>
internal sealed class StubHandler(params Func<HttpRequestMessage, HttpResponseMessage>[] answers) : HttpMessageHandler
{
    private int _calls;

    public ConcurrentQueue<(HttpMethod Method, string Path, string? IdempotencyKey, string? ApiKey, string? Authorization, string? Body)> Seen { get; } = new();

    public int Calls => _calls;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var n = Interlocked.Increment(ref _calls);
        Seen.Enqueue((request.Method, request.RequestUri!.PathAndQuery,
            request.Headers.TryGetValues("Idempotency-Key", out var k) ? k.Single() : null,
            request.Headers.TryGetValues("X-Api-Key", out var a) ? a.Single() : null,
            request.Headers.Authorization?.ToString(),
            request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken)));
        var answer = answers[Math.Min(n, answers.Length) - 1](request);
        answer.RequestMessage = request;
        return answer;
    }

    public static HttpResponseMessage Json(HttpStatusCode status, string json, string mediaType = "application/json") =>
        new(status) { Content = new StringContent(json, System.Text.Encoding.UTF8, mediaType) };

    public static HttpResponseMessage Problem(HttpStatusCode status, string error, int? retryAfterSeconds = null)
    {
        var response = Json(status, $$"""{"type":"about:blank","title":"{{status}}","status":{{(int)status}},"error":"{{error}}","traceId":"00-abc-01"}""", "application/problem+json");
        if (retryAfterSeconds is { } s)
        {
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(s));
        }

        return response;
    }

    /// <summary>A client on this stub through the real registration (auth handler and resilience pipeline included).</summary>
    public static (MislataClient Client, ServiceProvider Services) Client(StubHandler stub, Action<MislataClientOptions>? configure = null, TimeProvider? time = null)
    {
        var services = new ServiceCollection();
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.AddMislataClient(o =>
        {
            o.BaseAddress = new Uri("http://mislata.test/");
            o.ApiKey = "qapi_" + new string('a', 43);
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(1);
            configure?.Invoke(o);
        }).ConfigurePrimaryHttpMessageHandler(() => stub);
        services.AddHttpClient(MislataClientServiceCollectionExtensions.TokenClientName).ConfigurePrimaryHttpMessageHandler(() => stub);
        var provider = services.BuildServiceProvider();
        return (provider.GetRequiredService<MislataClient>(), provider);
    }
}
