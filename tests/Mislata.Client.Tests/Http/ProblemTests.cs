using System.Net;
using Mislata.Client.Contracts;

namespace Mislata.Client.Tests.Http;

/// <summary>Every failed answer becomes one MislataApiException with the problem's members.</summary>
public sealed class ProblemTests
{
    [Fact]
    public async Task A_validation_problem_carries_its_code_status_title_detail_trace_and_field_errors()
    {
        var stub = new StubHandler(_ => StubHandler.Json(HttpStatusCode.BadRequest, """
            {"type":"https://mislata.dev/problems/validation_failed","title":"Validation failed","status":400,"detail":"see errors",
             "instance":"/api/v1/keys","error":"validation_failed","traceId":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
             "errors":{"name":["is required."],"algorithm":["unknown algorithm.","second."]}}
            """, "application/problem+json"));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        var e = await Assert.ThrowsAsync<MislataApiException>(() => client.Keys.CreateAsync(new CreateKeyRequest("")));

        Assert.Equal((400, "validation_failed", "Validation failed", "see errors", "/api/v1/keys"), (e.Status, e.Error, e.Title, e.Detail, e.Instance));
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", e.TraceId);
        Assert.Equal(["is required."], e.Errors["name"]);
        Assert.Equal(["unknown algorithm.", "second."], e.Errors["algorithm"]);
        Assert.Equal(HttpStatusCode.BadRequest, e.StatusCode);
    }

    [Theory]
    [InlineData(HttpStatusCode.BadGateway, "unavailable")]
    [InlineData(HttpStatusCode.NotFound, "not_found")]
    [InlineData(HttpStatusCode.RequestEntityTooLarge, "payload_too_large")]
    [InlineData(HttpStatusCode.Unauthorized, "unauthorized")]
    public async Task A_gateway_answer_without_a_problem_body_gets_the_code_of_its_status(HttpStatusCode status, string error)
    {
        var stub = new StubHandler(_ => new HttpResponseMessage(status) { Content = new StringContent("<html>nginx</html>", System.Text.Encoding.UTF8, "text/html") });
        var (client, services) = StubHandler.Client(stub, o => o.MaxRetries = 0);
        await using var _ = services;

        var e = await Assert.ThrowsAsync<MislataApiException>(() => client.Crypto.DecryptAsync(new DecryptRequest("x")));

        Assert.Equal(((int)status, error), (e.Status, e.Error));
        Assert.DoesNotContain("nginx", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_message_carries_no_request_data()
    {
        var stub = new StubHandler(_ => StubHandler.Problem(HttpStatusCode.BadRequest, "decryption_failed"));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        var e = await Assert.ThrowsAsync<MislataApiException>(() => client.Crypto.DecryptAsync(new DecryptRequest("SECRET-PAYLOAD", "SECRET-CONTEXT")));

        Assert.Equal("decryption_failed", e.Error);
        Assert.DoesNotContain("SECRET", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_success_with_a_body_that_is_not_the_contract_is_an_invalid_response_not_a_crash()
    {
        var stub = new StubHandler(_ => StubHandler.Json(HttpStatusCode.OK, "[1,2"));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        var e = await Assert.ThrowsAsync<MislataApiException>(() => client.Billing.UsageAsync());
        Assert.Equal("invalid_response", e.Error);
    }

    [Fact]
    public async Task Requests_carry_the_API_key_the_base_path_and_camelCase_JSON_without_null_members()
    {
        var stub = new StubHandler(_ => StubHandler.Json(HttpStatusCode.OK, """{"encryptedPayload":"p","keyId":"5f0c6d1e-0000-4000-8000-000000000001","keyVersion":1,"algorithm":"ML-KEM-768"}"""));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        await client.Crypto.EncryptAsync(new EncryptRequest("hello", Context: "ctx"));

        var seen = stub.Seen.Single();
        Assert.Equal("/api/v1/encrypt", seen.Path);
        Assert.Equal("qapi_" + new string('a', 43), seen.ApiKey);
        Assert.Null(seen.Authorization);
        Assert.Equal("""{"plaintext":"hello","context":"ctx"}""", seen.Body);
    }

    [Fact]
    public async Task Query_parameters_are_escaped_and_absent_ones_left_out()
    {
        var stub = new StubHandler(_ => StubHandler.Json(HttpStatusCode.OK, """{"data":[],"nextCursor":null}"""));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        await client.Audit.ListAsync(new AuditQuery(From: new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), Action: "key created&x=1", Limit: 5));

        Assert.Equal("/api/v1/audit?from=2026-01-02T03%3A04%3A05.0000000Z&action=key%20created%26x%3D1&limit=5", stub.Seen.Single().Path);
    }
}
