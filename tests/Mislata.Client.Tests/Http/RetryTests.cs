using System.Net;
using Mislata.Client.Contracts;

namespace Mislata.Client.Tests.Http;

/// <summary>429 and 503 are retried (honouring Retry-After) only for calls safe to repeat.</summary>
public sealed class RetryTests
{
    private static readonly Guid KeyId = Guid.Parse("5f0c6d1e-0000-4000-8000-000000000001");

    private const string KeyJson = """
        {"id":"5f0c6d1e-0000-4000-8000-000000000001","name":"k","algorithm":"ML-KEM-768","type":"encryption","state":"enabled","currentVersion":1,
         "minDecryptionVersion":1,"versions":[{"version":1,"state":"active","createdAt":"2026-01-01T00:00:00Z"}],"isDefault":false,"tags":[],
         "createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","origin":"generated","operations":["encrypt"]}
        """;

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests, "rate_limited")]
    [InlineData(HttpStatusCode.ServiceUnavailable, "unavailable")]
    public async Task A_GET_is_retried_after_the_Retry_After_delay_and_succeeds(HttpStatusCode status, string error)
    {
        var stub = new StubHandler(_ => StubHandler.Problem(status, error, retryAfterSeconds: 1), _ => StubHandler.Json(HttpStatusCode.OK, KeyJson));
        var delays = new List<(int, TimeSpan, int?)>();
        var (client, services) = StubHandler.Client(stub, o => o.OnRetry = (a, d, s) => delays.Add((a, d, s)));
        await using var _ = services;

        var key = await client.Keys.GetAsync(KeyId);

        Assert.Equal(KeyId, key.Id);
        Assert.Equal(2, stub.Calls);
        Assert.Equal([(1, TimeSpan.FromSeconds(1), (int?)(int)status)], delays);
    }

    [Fact]
    public async Task A_create_is_retried_with_the_same_generated_Idempotency_Key()
    {
        var stub = new StubHandler(_ => StubHandler.Problem(HttpStatusCode.ServiceUnavailable, "unavailable"), _ => StubHandler.Json(HttpStatusCode.Created, KeyJson));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        await client.Keys.CreateAsync(new CreateKeyRequest("k"));

        var seen = stub.Seen.ToArray();
        Assert.Equal(2, seen.Length);
        Assert.All(seen, s => Assert.Equal(HttpMethod.Post, s.Method));
        Assert.NotNull(seen[0].IdempotencyKey);
        Assert.Equal(seen[0].IdempotencyKey, seen[1].IdempotencyKey);
        Assert.Equal(seen[0].Body, seen[1].Body);
        Assert.Contains("\"name\":\"k\"", seen[0].Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_creates_carry_different_Idempotency_Keys_and_a_given_one_is_sent_as_is()
    {
        var stub = new StubHandler(_ => StubHandler.Json(HttpStatusCode.Created, KeyJson));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        await client.Keys.CreateAsync(new CreateKeyRequest("a"));
        await client.Keys.CreateAsync(new CreateKeyRequest("b"));
        await client.Keys.CreateAsync(new CreateKeyRequest("c"), idempotencyKey: "mine-1");

        var keys = stub.Seen.Select(s => s.IdempotencyKey).ToArray();
        Assert.NotEqual(keys[0], keys[1]);
        Assert.Equal("mine-1", keys[2]);
    }

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests, "rate_limited")]
    [InlineData(HttpStatusCode.ServiceUnavailable, "unavailable")]
    public async Task A_plain_POST_is_not_retried_and_surfaces_the_problem(HttpStatusCode status, string error)
    {
        var stub = new StubHandler(_ => StubHandler.Problem(status, error, retryAfterSeconds: 7), _ => StubHandler.Json(HttpStatusCode.OK, "{}"));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        var e = await Assert.ThrowsAsync<MislataApiException>(() => client.Crypto.EncryptAsync(new EncryptRequest("x")));

        Assert.Equal(1, stub.Calls);
        Assert.Equal((error, (int)status, TimeSpan.FromSeconds(7)), (e.Error, e.Status, e.RetryAfter));
        Assert.Null(stub.Seen.Single().IdempotencyKey);
    }

    [Fact]
    public async Task PUT_and_DELETE_are_retried()
    {
        var written = """{"id":"5f0c6d1e-0000-4000-8000-000000000001","name":"s","version":2,"createdAt":"2026-01-01T00:00:00Z"}""";
        var stub = new StubHandler(_ => StubHandler.Problem(HttpStatusCode.ServiceUnavailable, "unavailable"), _ => StubHandler.Json(HttpStatusCode.OK, written),
            _ => StubHandler.Problem(HttpStatusCode.TooManyRequests, "rate_limited", retryAfterSeconds: 0), _ => new HttpResponseMessage(HttpStatusCode.NoContent));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        Assert.Equal(2, (await client.Secrets.WriteAsync(KeyId, new WriteSecretRequest("v"))).Version);
        await client.ApiKeys.RevokeAsync(KeyId);

        Assert.Equal([HttpMethod.Put, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Delete], stub.Seen.Select(s => s.Method).ToArray());
    }

    [Fact]
    public async Task Retries_stop_after_MaxRetries_and_the_last_problem_is_thrown()
    {
        var stub = new StubHandler(_ => StubHandler.Problem(HttpStatusCode.ServiceUnavailable, "unavailable", retryAfterSeconds: 0));
        var (client, services) = StubHandler.Client(stub, o => o.MaxRetries = 2);
        await using var _ = services;

        var e = await Assert.ThrowsAsync<MislataApiException>(() => client.Keys.ListAsync());

        Assert.Equal(3, stub.Calls);
        Assert.Equal((503, "unavailable"), (e.Status, e.Error));
    }

    [Fact]
    public async Task A_429_without_Retry_After_is_a_quota_that_waiting_does_not_lift_and_is_not_retried()
    {
        var stub = new StubHandler(_ => StubHandler.Problem(HttpStatusCode.TooManyRequests, "quota_exceeded"), _ => StubHandler.Json(HttpStatusCode.Created, KeyJson));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        var e = await Assert.ThrowsAsync<MislataApiException>(() => client.Keys.CreateAsync(new CreateKeyRequest("k")));

        Assert.Equal((1, "quota_exceeded"), (stub.Calls, e.Error));
    }

    [Fact]
    public async Task Other_failures_are_not_retried()
    {
        var stub = new StubHandler(_ => StubHandler.Problem(HttpStatusCode.InternalServerError, "internal"), _ => StubHandler.Json(HttpStatusCode.OK, KeyJson));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        await Assert.ThrowsAsync<MislataApiException>(() => client.Keys.GetAsync(KeyId));
        Assert.Equal(1, stub.Calls);
    }

    [Fact]
    public async Task A_connection_failure_of_a_GET_is_retried_but_not_of_a_plain_POST()
    {
        var failing = 0;
        var stub = new StubHandler(_ => Interlocked.Increment(ref failing) == 1 ? throw new HttpRequestException("refused") : StubHandler.Json(HttpStatusCode.OK, KeyJson));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;
        Assert.Equal(KeyId, (await client.Keys.GetAsync(KeyId)).Id);

        var refusing = new StubHandler(_ => throw new HttpRequestException("refused"));
        var (other, services2) = StubHandler.Client(refusing);
        await using var __ = services2;
        var e = await Assert.ThrowsAsync<MislataApiException>(() => other.Crypto.SignAsync(new SignRequest("m")));
        Assert.Equal((0, "unavailable", 1), (e.Status, e.Error, refusing.Calls));
    }
}
