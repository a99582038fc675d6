using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Keys;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.MasterKeys;
using Mislata.Infrastructure.Persistence;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Keys;

/// <summary><c>POST /keys/{id}/payloads</c>: a ciphertext the tenant stores elsewhere, under its own reference.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record RegisterPayloadRequest(string? Reference, string? EncryptedPayload, string? Context);

/// <summary>A registered payload (ciphertext); the context is never echoed, <c>hasContext</c> tells whether it was given.</summary>
public sealed record PayloadReferenceResponse(
    string Reference, string EncryptedPayload, int KeyVersion, bool HasContext, DateTimeOffset RegisteredAt, DateTimeOffset UpdatedAt)
{
    public static PayloadReferenceResponse From(PayloadReference p) => new(p.Reference, p.EncryptedPayload, p.KeyVersion, p.HasContext, p.RegisteredAt, p.UpdatedAt);
}

/// <summary>
/// A key job's progress (<c>GET /keys/{id}/jobs/{jobId}</c>): <c>state</c> queued | running | succeeded | failed;
/// <c>failed</c> payloads did not decrypt (their references in <c>failedReferences</c>, the first 1,000); <c>error</c> says why a job failed.
/// </summary>
public sealed record KeyJobResponse(
    Guid JobId, Guid KeyId, string Kind, string State, int Total, int Done, int Failed, IReadOnlyList<string> FailedReferences,
    DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error)
{
    /// <summary>The job as its tenant sees it: the kind without the key id it is stored with.</summary>
    public static KeyJobResponse From(AdminJob job) => new(job.Id, job.KeyId!.Value, job.Kind.Split(':')[0], job.State, job.Total, job.Done, job.Failed,
        job.FailedReferences ?? [], job.CreatedAt, job.StartedAt, job.FinishedAt, job.Error);
}

/// <summary>One version's coverage: registered payloads under it, and encryptions Mislata made under it (<c>encryptions - registeredPayloads</c> are not registered).</summary>
public sealed record VersionCoverageResponse(int Version, string State, long RegisteredPayloads, long Encryptions);

/// <summary><c>GET /keys/{id}/coverage</c>, oldest version first.</summary>
public sealed record KeyCoverageResponse(
    Guid KeyId, int CurrentVersion, int MinDecryptionVersion, long RegisteredBelowCurrent, IReadOnlyList<VersionCoverageResponse> Versions);

/// <summary>
/// Payload references and the rewrap-all job of a key (issue 12): <c>/api/v1/keys/{id}/payloads</c>,
/// <c>/rewrap-all</c>, <c>/jobs/{jobId}</c> and <c>/coverage</c>. Registering or removing a reference changes what the
/// key's lifecycle guards (<c>minDecryptionVersion</c>), so it takes <c>keys:write</c> like every key change; reading
/// takes <c>keys:read</c>. Every query names the caller's tenant and the key: another tenant's key is <c>404</c>.
/// </summary>
public static class PayloadReferencesApi
{
    public const string RegisterAction = "key.payload.register";
    public const string DeleteAction = "key.payload.delete";
    public const string RewrapAllAction = "key.rewrap_all";

    /// <summary>A registration body: the envelope, a reference and a context, with room for JSON escaping.</summary>
    private const long MaxBodyBytes = 2 * PayloadReferenceRules.MaxPayloadLength + 64 * 1024;

    public static IEndpointRouteBuilder MapPayloadReferencesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/keys/{id:guid}").WithTags("Keys: payload references");
        group.MapPost("/payloads", RegisterAsync).RequireScope(Scopes.KeysWrite).WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes))
            .WithSummary("Register a payload reference")
            .WithDescription("`{reference (1..200, unique per key), encryptedPayload (≤ 65,536 characters), context?}` → `201` `{reference, keyVersion, registeredAt, updatedAt, …}`. " +
                "The envelope must name this key and a version it can read; nothing is decrypted. The context is stored sealed under the tenant's data key and never echoed. " +
                "`409 conflict` for a reference the key already has; `429 quota_exceeded` past 100,000 references per key.");
        group.MapGet("/payloads", ListAsync).RequireScope(Scopes.KeysRead)
            .WithSummary("List payload references").WithDescription("`minVersion`, `maxVersion`, `limit` 1..100 (default 50), `cursor`; ordered by reference; `{data, nextCursor}` with each encryptedPayload (ciphertext).");
        group.MapGet("/payloads/{**reference}", GetAsync).RequireScope(Scopes.KeysRead).WithSummary("Get a payload reference")
            .WithDescription("`{reference, encryptedPayload, keyVersion, hasContext, registeredAt, updatedAt}`: after a rewrap-all, the rewrapped ciphertext. The reference may hold `/`, raw or as `%2F`.");
        group.MapDelete("/payloads/{**reference}", DeleteAsync).RequireScope(Scopes.KeysWrite).WithSummary("Forget a payload reference").WithDescription("`204`; the payload itself is the tenant's.");
        group.MapPost("/rewrap-all", RewrapAllAsync).RequireScope(Scopes.KeysWrite)
            .WithSummary("Rewrap every registered payload under the current version")
            .WithDescription("Queues the key's rewrap-all job (the worker runs it in batches, resumable): `202` `{jobId, state}` with Location `/api/v1/keys/{id}/jobs/{jobId}`. " +
                "`409 conflict` when one is already queued or running for the key; `409 key_state_invalid` unless the key is enabled.");
        group.MapGet("/jobs/{jobId:guid}", JobAsync).RequireScope(Scopes.KeysRead)
            .WithSummary("A key job's progress").WithDescription("`{jobId, keyId, kind, state, total, done, failed, failedReferences, createdAt, startedAt, finishedAt, error}`.");
        group.MapGet("/coverage", CoverageAsync).RequireScope(Scopes.KeysRead)
            .WithSummary("Payload coverage per version")
            .WithDescription("Per version: `registeredPayloads` and `encryptions` Mislata made under it, so payloads made under old versions that are not registered show as the difference.");
        return app;
    }

    private static async Task<Results<Created<PayloadReferenceResponse>, ProblemHttpResult>> RegisterAsync(
        Guid id, RegisterPayloadRequest request, HttpContext http, PayloadReferenceStore store, IAuditLog audit, CancellationToken ct)
    {
        var errors = new FieldErrors();
        if (!PayloadReferenceRules.IsValidReference(request.Reference))
        {
            errors.Add("reference", $"is required: 1 to {PayloadReferenceRules.MaxReferenceLength} characters, no control characters or surrounding spaces.");
        }

        if (string.IsNullOrEmpty(request.EncryptedPayload))
        {
            errors.Add("encryptedPayload", "is required.");
        }
        else if (request.EncryptedPayload.Length > PayloadReferenceRules.MaxPayloadLength)
        {
            errors.Add("encryptedPayload", $"must be at most {PayloadReferenceRules.MaxPayloadLength} characters.");
        }

        if (request.Context is { } context && Encoding.UTF8.GetByteCount(context) > Mislata.Core.Encryption.OperationRules.MaxEncryptionContextBytes)
        {
            errors.Add("context", $"must be at most {Mislata.Core.Encryption.OperationRules.MaxEncryptionContextBytes} bytes (UTF-8).");
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        var tenantId = http.GetCaller().TenantId!.Value;
        var (payload, error, rule) = await store.RegisterAsync(tenantId, id, request.Reference!, request.EncryptedPayload!, request.Context, ct);
        if (payload is null)
        {
            return error switch
            {
                PayloadRegistrationError.KeyNotFound => Problem.NotFound(),
                PayloadRegistrationError.InvalidPayload => Problem.Of(400, ErrorCodes.InvalidPayload, "Invalid payload", "The encrypted payload is malformed."),
                PayloadRegistrationError.Exists => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "The key already has a payload of this reference; delete it first to replace it."),
                _ => rule switch
                {
                    PayloadReferenceError.OtherKey => Problem.Of(400, ErrorCodes.InvalidPayload, "Invalid payload", "The payload was made by another key."),
                    PayloadReferenceError.VersionNotReadable => Problem.Of(400, ErrorCodes.InvalidPayload, "Invalid payload", "The payload names a version this key cannot read."),
                    PayloadReferenceError.QuotaExceeded => Problem.Of(429, ErrorCodes.QuotaExceeded, "Quota exceeded",
                        $"A key holds at most {PayloadReferenceRules.MaxPerKey.ToString("N0", CultureInfo.InvariantCulture)} payload references."),
                    _ => Problem.Validation(new Dictionary<string, string[]> { ["reference"] = ["is not a valid reference."] }),
                },
            };
        }

        await audit.RecordAsync(http.GetActor().Event(tenantId, RegisterAction, "key", id.ToString("D"),
            details: new Dictionary<string, string> { ["keyVersion"] = payload.KeyVersion.ToString(CultureInfo.InvariantCulture) }), ct);
        return TypedResults.Created($"/api/v1/keys/{id:D}/payloads/{Uri.EscapeDataString(payload.Reference)}", PayloadReferenceResponse.From(payload));
    }

    private static async Task<Results<Ok<Page<PayloadReferenceResponse>>, ProblemHttpResult>> ListAsync(
        Guid id, string? minVersion, string? maxVersion, string? limit, string? cursor, HttpContext http, PayloadReferenceStore store, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var min = Version(errors, "minVersion", minVersion);
        var max = Version(errors, "maxVersion", maxVersion);
        var take = 50;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out take) || take is < 1 or > 100))
        {
            errors.Add("limit", "must be a whole number from 1 to 100.");
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        string? after = null;
        if (!string.IsNullOrEmpty(cursor) && !TryReadCursor(cursor, out after))
        {
            return Problem.Of(400, ErrorCodes.InvalidRequest, "Invalid cursor", "The cursor is not one this API returned.");
        }

        var tenantId = http.GetCaller().TenantId!.Value;
        if (!await store.KeyExistsAsync(tenantId, id, ct))
        {
            return Problem.NotFound();
        }

        var rows = await store.ListAsync(tenantId, id, min, max, after, take + 1, ct);
        var next = rows.Count > take ? Base64Url.EncodeToString(Encoding.UTF8.GetBytes(rows[take - 1].Reference)) : null;
        return TypedResults.Ok(new Page<PayloadReferenceResponse>([.. rows.Take(take).Select(PayloadReferenceResponse.From)], next));
    }

    private static async Task<Results<Ok<PayloadReferenceResponse>, ProblemHttpResult>> GetAsync(
        Guid id, HttpContext http, PayloadReferenceStore store, CancellationToken ct)
    {
        if (ReferenceOf(http) is not { } reference)
        {
            return Problem.NotFound();
        }

        return await store.FindAsync(http.GetCaller().TenantId!.Value, id, reference, ct) is { } found
            ? TypedResults.Ok(PayloadReferenceResponse.From(found))
            : Problem.NotFound();
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        Guid id, HttpContext http, PayloadReferenceStore store, IAuditLog audit, CancellationToken ct)
    {
        var tenantId = http.GetCaller().TenantId!.Value;
        if (ReferenceOf(http) is not { } reference || !await store.DeleteAsync(tenantId, id, reference, ct))
        {
            return Problem.NotFound();
        }

        await audit.RecordAsync(http.GetActor().Event(tenantId, DeleteAction, "key", id.ToString("D")), ct);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Accepted<KeyJobResponse>, ProblemHttpResult>> RewrapAllAsync(
        Guid id, HttpContext http, MislataDbContext db, AdminJobStore jobs, IAuditLog audit, CancellationToken ct)
    {
        var tenantId = http.GetCaller().TenantId!.Value;
        if (await FindAsync(db, tenantId, id, ct) is not { } key)
        {
            return Problem.NotFound();
        }

        if (key.State != KeyState.Enabled)
        {
            return Problem.Of(409, ErrorCodes.KeyStateInvalid, "Key state invalid", "Only an enabled key can rewrap.");
        }

        var actor = http.GetActor();
        var job = await jobs.QueueForKeyAsync(KeyRewrapAll.Kind, tenantId, id, actor.ActorId, ct);
        if (job is null)
        {
            var running = await jobs.UnfinishedForKeyAsync(KeyRewrapAll.Kind, tenantId, id, ct);
            return Problem.Of(409, ErrorCodes.Conflict, "Rewrap already running", running is null
                ? "A rewrap-all job of this key is already queued or running."
                : $"Rewrap-all job {running.Id:D} is already {running.State}; follow it at /api/v1/keys/{id:D}/jobs/{running.Id:D}.");
        }

        try
        {
            await audit.RecordAsync(actor.Event(tenantId, RewrapAllAction, "key", id.ToString("D"),
                details: new Dictionary<string, string> { ["jobId"] = job.Id.ToString("D") }), ct);
        }
        catch (AuditUnavailableException)
        {
            // Fail closed: a job nobody audited must not run.
            await jobs.FailAsync(job.Id, "The audit log was unavailable when the job was requested; nothing was changed.", CancellationToken.None);
            throw;
        }

        return TypedResults.Accepted($"/api/v1/keys/{id:D}/jobs/{job.Id:D}", KeyJobResponse.From(job));
    }

    private static async Task<Results<Ok<KeyJobResponse>, ProblemHttpResult>> JobAsync(
        Guid id, Guid jobId, HttpContext http, AdminJobStore jobs, CancellationToken ct) =>
        await jobs.FindForKeyAsync(http.GetCaller().TenantId!.Value, id, jobId, ct) is { } job
            ? TypedResults.Ok(KeyJobResponse.From(job))
            : Problem.NotFound();

    private static async Task<Results<Ok<KeyCoverageResponse>, ProblemHttpResult>> CoverageAsync(
        Guid id, HttpContext http, MislataDbContext db, PayloadReferenceStore store, CancellationToken ct)
    {
        var tenantId = http.GetCaller().TenantId!.Value;
        if (await FindAsync(db, tenantId, id, ct) is not { } key)
        {
            return Problem.NotFound();
        }

        var versions = await store.CoverageAsync(tenantId, id, ct);
        return TypedResults.Ok(new KeyCoverageResponse(id, key.Current, key.MinDecryption,
            versions.Where(v => v.Version < key.Current).Sum(v => v.RegisteredPayloads),
            [.. versions.Select(v => new VersionCoverageResponse(v.Version, KeyResponse.VersionStateName(v.State), v.RegisteredPayloads, v.Encryptions))]));
    }

    private static Task<KeyFigures?> FindAsync(MislataDbContext db, Guid tenantId, Guid id, CancellationToken ct) =>
        db.Set<Key>().AsNoTracking().Where(k => k.TenantId == tenantId && k.Id == id)
            .Select(k => new KeyFigures(k.State, k.CurrentVersion, k.MinDecryptionVersion)).SingleOrDefaultAsync(ct);

    private sealed record KeyFigures(KeyState State, int Current, int MinDecryption);

    /// <summary>
    /// The reference of <c>…/payloads/{reference}</c>, percent-decoded exactly once from the request's raw target: the
    /// router leaves <c>%2F</c> encoded but decodes the rest, which would make <c>orders%2F1</c> and <c>orders/1</c>
    /// different references. A reference may hold <c>/</c> written either way. Null when it is not a valid reference.
    /// </summary>
    private static string? ReferenceOf(HttpContext http)
    {
        var raw = http.Features.Get<IHttpRequestFeature>()?.RawTarget ?? http.Request.Path.Value ?? string.Empty;
        var query = raw.IndexOf('?', StringComparison.Ordinal);
        var path = query < 0 ? raw : raw[..query];
        var at = path.IndexOf("/payloads/", StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        string reference;
        try
        {
            reference = Uri.UnescapeDataString(path[(at + "/payloads/".Length)..]);
        }
        catch (UriFormatException)
        {
            return null;
        }

        return PayloadReferenceRules.IsValidReference(reference) ? reference : null;
    }

    private static int? Version(FieldErrors errors, string field, string? value)
    {
        if (value is null)
        {
            return null;
        }

        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var version) || version < 1)
        {
            errors.Add(field, "must be a whole number of 1 or more.");
            return null;
        }

        return version;
    }

    private static bool TryReadCursor(string cursor, out string? after)
    {
        after = null;
        if (cursor.Length > 4 * PayloadReferenceRules.MaxReferenceLength)
        {
            return false;
        }

        try
        {
            after = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            return PayloadReferenceRules.IsValidReference(after);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
