using System.Net;
using Mislata.Client.Contracts;

namespace Mislata.Client.Tests.Http;

/// <summary>The key's payload references, rewrap-all, job and coverage calls: paths, bodies and answers as docs/api.md states them.</summary>
public sealed class PayloadReferenceClientTests
{
    private static readonly Guid KeyId = Guid.Parse("5f0c6d1e-0000-4000-8000-000000000002");
    private static readonly Guid JobId = Guid.Parse("0193a000-0000-7000-8000-000000000003");

    private const string PayloadJson = """
        {"reference":"orders/1","encryptedPayload":"eyJ2IjoxfQ==","keyVersion":2,"hasContext":true,"registeredAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-02T00:00:00Z"}
        """;

    private const string JobJson = """
        {"jobId":"0193a000-0000-7000-8000-000000000003","keyId":"5f0c6d1e-0000-4000-8000-000000000002","kind":"key-rewrap-all","state":"succeeded",
         "total":3,"done":2,"failed":1,"failedReferences":["orders/9"],"createdAt":"2026-01-01T00:00:00Z","startedAt":"2026-01-01T00:00:01Z",
         "finishedAt":"2026-01-01T00:00:02Z","error":null}
        """;

    [Fact]
    public async Task Register_list_get_and_delete_use_the_keys_payload_paths_and_escape_the_reference()
    {
        var stub = new StubHandler(
            _ => StubHandler.Json(HttpStatusCode.Created, PayloadJson),
            _ => StubHandler.Json(HttpStatusCode.OK, "{\"data\":[" + PayloadJson + "],\"nextCursor\":\"b3JkZXJzLzE\"}"),
            _ => StubHandler.Json(HttpStatusCode.OK, PayloadJson),
            _ => new HttpResponseMessage(HttpStatusCode.NoContent));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        var registered = await client.Keys.RegisterPayloadAsync(KeyId, new RegisterPayloadRequest("orders/1", "eyJ2IjoxfQ==", "ctx"));
        var page = await client.Keys.ListPayloadsAsync(KeyId, minVersion: 1, maxVersion: 1, limit: 10);
        var one = await client.Keys.GetPayloadAsync(KeyId, "orders/1");
        await client.Keys.DeletePayloadAsync(KeyId, "orders/1");

        Assert.Equal(2, registered.KeyVersion);
        Assert.True(registered.HasContext);
        Assert.Equal("b3JkZXJzLzE", page.NextCursor);
        Assert.Equal("orders/1", Assert.Single(page.Data).Reference);
        Assert.Equal("eyJ2IjoxfQ==", one.EncryptedPayload);
        var seen = stub.Seen.ToArray();
        Assert.Equal((HttpMethod.Post, $"/api/v1/keys/{KeyId}/payloads"), (seen[0].Method, seen[0].Path));
        Assert.Contains("\"reference\":\"orders/1\"", seen[0].Body, StringComparison.Ordinal);
        Assert.Contains("\"context\":\"ctx\"", seen[0].Body, StringComparison.Ordinal);
        Assert.Equal($"/api/v1/keys/{KeyId}/payloads?minVersion=1&maxVersion=1&limit=10", seen[1].Path);
        Assert.Equal((HttpMethod.Get, $"/api/v1/keys/{KeyId}/payloads/orders%2F1"), (seen[2].Method, seen[2].Path));
        Assert.Equal((HttpMethod.Delete, $"/api/v1/keys/{KeyId}/payloads/orders%2F1"), (seen[3].Method, seen[3].Path));
    }

    [Fact]
    public async Task Rewrap_all_job_and_coverage_read_their_answers()
    {
        var stub = new StubHandler(
            _ => StubHandler.Json(HttpStatusCode.Accepted, JobJson.Replace("succeeded", "queued", StringComparison.Ordinal)),
            _ => StubHandler.Json(HttpStatusCode.OK, JobJson),
            _ => StubHandler.Json(HttpStatusCode.OK, """
                {"keyId":"5f0c6d1e-0000-4000-8000-000000000002","currentVersion":2,"minDecryptionVersion":1,"registeredBelowCurrent":1,
                 "versions":[{"version":1,"state":"deprecated","registeredPayloads":1,"encryptions":5},{"version":2,"state":"active","registeredPayloads":2,"encryptions":2}]}
                """));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        var queued = await client.Keys.RewrapAllAsync(KeyId);
        var job = await client.Keys.GetJobAsync(KeyId, JobId);
        var coverage = await client.Keys.GetCoverageAsync(KeyId);

        Assert.Equal(("queued", JobId), (queued.State, queued.JobId));
        Assert.Equal((2, 1, "orders/9"), (job.Done, job.Failed, Assert.Single(job.FailedReferences)));
        Assert.Equal(5, coverage.Versions[0].Encryptions);
        Assert.Equal(1, coverage.RegisteredBelowCurrent);
        Assert.Equal(
            [$"/api/v1/keys/{KeyId}/rewrap-all", $"/api/v1/keys/{KeyId}/jobs/{JobId}", $"/api/v1/keys/{KeyId}/coverage"],
            stub.Seen.Select(s => s.Path));
    }

    [Fact]
    public async Task A_conflict_on_raising_the_minimum_surfaces_as_a_problem_and_force_is_sent()
    {
        var stub = new StubHandler(_ => StubHandler.Problem(HttpStatusCode.Conflict, "conflict"));
        var (client, services) = StubHandler.Client(stub);
        await using var _ = services;

        var error = await Assert.ThrowsAsync<MislataApiException>(() => client.Keys.UpdateAsync(KeyId, new UpdateKeyRequest(MinDecryptionVersion: 2, Force: true)));

        Assert.Equal(HttpStatusCode.Conflict, error.StatusCode);
        Assert.Equal(1, stub.Calls);
        Assert.Contains("\"force\":true", stub.Seen.Single().Body, StringComparison.Ordinal);
    }
}
