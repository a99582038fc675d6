using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Api.Features.Licence;
using Mislata.Core.Access;
using Mislata.Core.Secrets;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Secrets;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Secrets;

/// <summary>
/// <c>/api/v1/secrets</c>: the tenant's secrets vault (API.md "Secrets"). Every query names the caller's tenant, so
/// another tenant's secret is <c>404 not_found</c>. Values travel only in the body of a write and of a single read;
/// lists, version histories, errors, logs and audit events never carry one. Rule failures (<see cref="SecretError"/>)
/// become problems in <see cref="ProblemOf"/>.
/// </summary>
public static class SecretsApi
{
    private const string Utf8 = "utf8";
    private const string Base64 = "base64";

    /// <summary>Refuses lone surrogates (in) and invalid byte sequences (out) instead of replacing them with U+FFFD.</summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static IEndpointRouteBuilder MapSecretsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/secrets").WithTags("Secrets");
        group.MapPost("/", CreateAsync).RequireScope(Scopes.SecretsWrite).RequireLicence(LicensedCreation.NewData).Idempotent()
            .WithSummary("Create a secret").WithDescription("Stores version 1. `value` in `encoding` utf8 (default) or base64, at most 64 KiB decoded; an empty value is allowed.");
        group.MapGet("/", ListAsync).RequireScope(Scopes.SecretsRead)
            .WithSummary("List secrets (metadata only)").WithDescription("Filters `name` (prefix), `label` (exact), `state` (live default, or deleted), `includeExpired`; cursor paging.");
        group.MapGet("/{id:guid}", GetAsync).RequireScope(Scopes.SecretsRead)
            .WithSummary("Read a secret's value").WithDescription("`version` (default current), `encoding` utf8|base64 (default utf8 when the value is UTF-8 text, else base64), `includeExpired=true` to read an expired secret.");
        group.MapPut("/{id:guid}", WriteAsync).RequireScope(Scopes.SecretsWrite).RequireLicence(LicensedCreation.NewData)
            .WithSummary("Write a new version").WithDescription("`expectedVersion` makes it a check-and-set: 409 conflict when another write came first.");
        group.MapPatch("/{id:guid}", UpdateAsync).RequireScope(Scopes.SecretsWrite)
            .WithSummary("Update metadata").WithDescription("`description`, `labels`, `contentType`, `expiresAt` (null removes it).");
        group.MapGet("/{id:guid}/metadata", MetadataAsync).RequireScope(Scopes.SecretsRead)
            .WithSummary("A secret's metadata, without its value").WithDescription("Live or deleted; reading it neither decrypts nor audits a value read.");
        group.MapGet("/{id:guid}/versions", VersionsAsync).RequireScope(Scopes.SecretsRead)
            .WithSummary("Version history (no values)").WithDescription("Newest first; cursor paging.");
        group.MapDelete("/{id:guid}", DeleteAsync).RequireScope(Scopes.SecretsWrite)
            .WithSummary("Delete a secret").WithDescription("Soft delete, restorable for 30 days; `permanent=true` removes the secret and every version now.");
        group.MapPost("/{id:guid}/restore", RestoreAsync).RequireScope(Scopes.SecretsWrite).WithSummary("Restore a deleted secret")
            .WithDescription("Undoes a soft delete within 30 days; `409 conflict` when a live secret now holds its name.");
        return app;
    }

    private static async Task<Results<Created<SecretVersionCreated>, ProblemHttpResult>> CreateAsync(
        CreateSecretRequest request, HttpContext http, SecretAdministration secrets, TimeProvider time, CancellationToken ct)
    {
        var errors = new FieldErrors();
        string? name = null;
        if (request.Name is null)
        {
            errors.Add("name", "is required.");
        }
        else if (!SecretLimits.IsValidName(request.Name, out var reason))
        {
            errors.Add("name", reason!);
        }
        else
        {
            name = request.Name;
        }

        var description = Description(errors, request.Description);
        var labels = Labels(errors, request.Labels) ?? [];
        var contentType = ContentType(errors, request.ContentType);
        if (request.ExpiresAt is { } expiresAt && expiresAt <= time.GetUtcNow())
        {
            errors.Add("expiresAt", "must be in the future.");
        }

        var value = DecodeValue(errors, request.Value, request.Encoding);
        if (errors.Any || name is null || value is null)
        {
            Zero(value);
            return errors.Problem();
        }

        try
        {
            var draft = new SecretDraft(name, value, description, labels, contentType?.Length > 0 ? contentType : null, request.ExpiresAt);
            var (secret, error) = await secrets.CreateAsync(http.GetCaller().TenantId!.Value, draft, http.GetActor(), ct);
            return secret is null
                ? ProblemOf(error)
                : TypedResults.Created($"/api/v1/secrets/{secret.Id}", new SecretVersionCreated(secret.Id, secret.Name, secret.CurrentVersion, secret.UpdatedAt));
        }
        finally
        {
            Zero(value);
        }
    }

    private static async Task<Results<Ok<Page<SecretResponse>>, ProblemHttpResult>> ListAsync(
        string? limit, string? cursor, string? name, string? label, string? state, string? includeExpired, HttpContext http, MislataDbContext db,
        TimeProvider time, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var take = Integer(errors, "limit", limit);
        if (!Paging.TryRead(take, cursor, out var pageSize, out var after, out var problem))
        {
            return problem!;
        }

        if (name is { Length: 0 or > SecretLimits.MaxNameLength })
        {
            errors.Add("name", $"must be 1 to {SecretLimits.MaxNameLength} characters.");
        }

        if (label is { Length: 0 or > SecretLimits.MaxLabelLength })
        {
            errors.Add("label", $"must be 1 to {SecretLimits.MaxLabelLength} characters.");
        }

        var wantedState = state switch
        {
            null or "live" => SecretState.Live,
            "deleted" => SecretState.Deleted,
            _ => (SecretState?)null,
        };
        if (wantedState is null)
        {
            errors.Add("state", "must be live or deleted.");
        }

        var withExpired = Flag(errors, "includeExpired", includeExpired);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var tenantId = http.GetCaller().TenantId!.Value;
        var query = db.Set<Secret>().AsNoTracking().Where(s => s.TenantId == tenantId && s.State == wantedState);
        if (!withExpired)
        {
            var now = time.GetUtcNow();
            query = query.Where(s => s.ExpiresAt == null || s.ExpiresAt > now);
        }

        if (name is not null)
        {
            query = query.Where(s => s.Name.StartsWith(name));
        }

        if (label is not null)
        {
            query = query.Where(s => s.Labels.Contains(label));
        }

        if (after is { } a)
        {
            query = query.Where(s => s.Id > a);
        }

        var rows = await query.OrderBy(s => s.Id).Take(pageSize + 1).ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, pageSize, s => s.Id, SecretResponse.From));
    }

    private static async Task<Results<Ok<SecretResponse>, ProblemHttpResult>> MetadataAsync(Guid id, HttpContext http, MislataDbContext db, CancellationToken ct)
    {
        var tenantId = http.GetCaller().TenantId!.Value;
        var secret = await db.Set<Secret>().AsNoTracking().SingleOrDefaultAsync(s => s.TenantId == tenantId && s.Id == id, ct);
        return secret is null ? Problem.NotFound() : TypedResults.Ok(SecretResponse.From(secret));
    }

    private static async Task<Results<Ok<SecretValueResponse>, ProblemHttpResult>> GetAsync(
        Guid id, string? version, string? encoding, string? includeExpired, HttpContext http, SecretAdministration secrets, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var number = Integer(errors, "version", version);
        errors.Range("version", number, 1, int.MaxValue);
        if (encoding is not null and not Utf8 and not Base64)
        {
            errors.Add("encoding", "must be utf8 or base64.");
        }

        var withExpired = Flag(errors, "includeExpired", includeExpired);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var (read, error) = await secrets.ReadAsync(http.GetCaller().TenantId!.Value, id, number, withExpired, http.GetActor(), ct);
        if (read is null)
        {
            return ProblemOf(error);
        }

        try
        {
            string text;
            var used = encoding ?? Utf8;
            try
            {
                text = used == Base64 ? Convert.ToBase64String(read.Value) : StrictUtf8.GetString(read.Value);
            }
            catch (DecoderFallbackException) when (encoding is null)
            {
                (text, used) = (Convert.ToBase64String(read.Value), Base64);
            }
            catch (DecoderFallbackException)
            {
                return Problem.Validation(new Dictionary<string, string[]> { ["encoding"] = ["the value is not UTF-8 text: read it with encoding=base64."] });
            }

            var s = read.Secret;
            return TypedResults.Ok(new SecretValueResponse(s.Id, s.Name, s.Description, s.Labels, s.ContentType, s.ExpiresAt, s.CurrentVersion,
                read.Version.Version, text, used, read.Version.CreatedAt, s.CreatedAt, s.UpdatedAt));
        }
        finally
        {
            Zero(read.Value);
        }
    }

    private static async Task<Results<Ok<SecretVersionCreated>, ProblemHttpResult>> WriteAsync(
        Guid id, WriteSecretRequest request, HttpContext http, SecretAdministration secrets, CancellationToken ct)
    {
        var errors = new FieldErrors();
        errors.Range("expectedVersion", request.ExpectedVersion, 1, int.MaxValue);
        var value = DecodeValue(errors, request.Value, request.Encoding);
        if (errors.Any || value is null)
        {
            Zero(value);
            return errors.Problem();
        }

        try
        {
            var (secret, error) = await secrets.WriteAsync(http.GetCaller().TenantId!.Value, id, value, request.ExpectedVersion, http.GetActor(), ct);
            return secret is null ? ProblemOf(error) : TypedResults.Ok(new SecretVersionCreated(secret.Id, secret.Name, secret.CurrentVersion, secret.UpdatedAt));
        }
        finally
        {
            Zero(value);
        }
    }

    private static async Task<Results<Ok<SecretResponse>, ProblemHttpResult>> UpdateAsync(
        Guid id, UpdateSecretRequest request, HttpContext http, SecretAdministration secrets, TimeProvider time, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var description = Description(errors, request.Description);
        var labels = Labels(errors, request.Labels);
        var contentType = ContentType(errors, request.ContentType);
        DateTimeOffset? expiresAt = null;
        var clearExpiry = false;
        switch (request.ExpiresAt.ValueKind)
        {
            case JsonValueKind.Undefined:
                break;
            case JsonValueKind.Null:
                clearExpiry = true;
                break;
            case JsonValueKind.String when request.ExpiresAt.TryGetDateTimeOffset(out var at):
                if (at <= time.GetUtcNow())
                {
                    errors.Add("expiresAt", "must be in the future (null removes the expiry).");
                }

                expiresAt = at;
                break;
            default:
                errors.Add("expiresAt", "must be an ISO 8601 date-time or null.");
                break;
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        return Answer(await secrets.UpdateAsync(http.GetCaller().TenantId!.Value, id,
            new SecretChanges(description, labels, contentType, expiresAt, clearExpiry), http.GetActor(), ct));
    }

    private static async Task<Results<Ok<Page<SecretVersionResponse>>, ProblemHttpResult>> VersionsAsync(
        Guid id, string? limit, string? cursor, HttpContext http, MislataDbContext db, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var take = Integer(errors, "limit", limit) ?? 50;
        errors.Range("limit", take, 1, 100);
        int? before = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            if (!int.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var c) || c < 1)
            {
                return Problem.Of(400, ErrorCodes.InvalidRequest, "Invalid cursor", "The cursor is not one this API returned.");
            }

            before = c;
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        var tenantId = http.GetCaller().TenantId!.Value;
        var secret = await db.Set<Secret>().AsNoTracking()
            .Where(s => s.TenantId == tenantId && s.Id == id && s.State == SecretState.Live)
            .Select(s => new { s.CurrentVersion })
            .SingleOrDefaultAsync(ct);
        if (secret is null)
        {
            return Problem.NotFound();
        }

        var query = db.Set<SecretVersion>().AsNoTracking().Where(v => v.TenantId == tenantId && v.SecretId == id);
        if (before is { } b)
        {
            query = query.Where(v => v.Version < b);
        }

        var rows = await query.OrderByDescending(v => v.Version).Take(take + 1)
            .Select(v => new SecretVersionResponse(v.Version, v.CreatedAt, v.CreatedBy, false)).ToListAsync(ct);
        var page = rows.Take(take).Select(v => v with { Current = v.Version == secret.CurrentVersion }).ToList();
        return TypedResults.Ok(new Page<SecretVersionResponse>(page,
            rows.Count > take ? page[^1].Version.ToString(CultureInfo.InvariantCulture) : null));
    }

    private static async Task<Results<Ok<SecretResponse>, NoContent, ProblemHttpResult>> DeleteAsync(
        Guid id, string? permanent, HttpContext http, SecretAdministration secrets, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var purge = Flag(errors, "permanent", permanent);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var tenantId = http.GetCaller().TenantId!.Value;
        if (purge)
        {
            var error = await secrets.PurgeAsync(tenantId, id, http.GetActor(), ct);
            return error == SecretError.None ? TypedResults.NoContent() : ProblemOf(error);
        }

        var (secret, failure) = await secrets.DeleteAsync(tenantId, id, http.GetActor(), ct);
        return secret is null ? ProblemOf(failure) : TypedResults.Ok(SecretResponse.From(secret));
    }

    private static async Task<Results<Ok<SecretResponse>, ProblemHttpResult>> RestoreAsync(Guid id, HttpContext http, SecretAdministration secrets, CancellationToken ct) =>
        Answer(await secrets.RestoreAsync(http.GetCaller().TenantId!.Value, id, http.GetActor(), ct));

    /// <summary>The one place where a rule's failure becomes a problem (API.md codes).</summary>
    internal static ProblemHttpResult ProblemOf(SecretError error) => error switch
    {
        SecretError.NotFound => Problem.NotFound(),
        SecretError.Expired => Problem.NotFound("The secret has expired; read it with includeExpired=true."),
        SecretError.NameTaken => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "The tenant already has a live secret of this name."),
        SecretError.QuotaExceeded => Problem.Of(429, ErrorCodes.QuotaExceeded, "Quota exceeded", "The plan allows no more secrets."),
        SecretError.VersionMismatch => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "expectedVersion is not the current version: another write came first. Read the secret and retry."),
        SecretError.StateInvalid => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "The secret's state does not allow this (a deleted secret must be restored first; only a deleted one can be restored)."),
        SecretError.Unreadable => Problem.Of(409, ErrorCodes.DecryptionFailed, "Decryption failed", "The stored value does not open."),
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, "not a failure"),
    };

    private static Results<Ok<SecretResponse>, ProblemHttpResult> Answer((Secret? Secret, SecretError Error) outcome) =>
        outcome.Secret is { } secret ? TypedResults.Ok(SecretResponse.From(secret)) : ProblemOf(outcome.Error);

    /// <summary>
    /// The value's bytes: <c>utf8</c> text (a lone surrogate is refused) or strict <c>base64</c>; 0..64 KiB. Null with a
    /// field error otherwise. Messages never quote the value.
    /// </summary>
    private static byte[]? DecodeValue(FieldErrors errors, string? value, string? encoding)
    {
        if (encoding is not null and not Utf8 and not Base64)
        {
            errors.Add("encoding", "must be utf8 or base64.");
            return null;
        }

        if (value is null)
        {
            errors.Add("value", "is required (an empty string is an empty value).");
            return null;
        }

        var tooLarge = $"must be at most {SecretLimits.MaxValueBytes} bytes (64 KiB) once decoded.";
        if (encoding == Base64)
        {
            if (value.Length > ((SecretLimits.MaxValueBytes + 2) / 3 * 4) + 64)
            {
                errors.Add("value", tooLarge);
                return null;
            }

            var buffer = new byte[(value.Length / 4 * 3) + 3];
            if (!Convert.TryFromBase64String(value, buffer, out var written))
            {
                errors.Add("value", "is not valid base64.");
                return null;
            }

            if (written > SecretLimits.MaxValueBytes)
            {
                CryptographicOperations.ZeroMemory(buffer);
                errors.Add("value", tooLarge);
                return null;
            }

            var bytes = buffer[..written];
            CryptographicOperations.ZeroMemory(buffer);
            return bytes;
        }

        // Every UTF-16 unit becomes at least one UTF-8 byte: a longer string is too large without encoding it.
        if (value.Length > SecretLimits.MaxValueBytes)
        {
            errors.Add("value", tooLarge);
            return null;
        }

        byte[] text;
        try
        {
            text = StrictUtf8.GetBytes(value);
        }
        catch (EncoderFallbackException)
        {
            errors.Add("value", "is not valid Unicode text: send binary values with encoding=base64.");
            return null;
        }

        if (text.Length > SecretLimits.MaxValueBytes)
        {
            CryptographicOperations.ZeroMemory(text);
            errors.Add("value", tooLarge);
            return null;
        }

        return text;
    }

    private static void Zero(byte[]? value)
    {
        if (value is not null)
        {
            CryptographicOperations.ZeroMemory(value);
        }
    }

    private static string? Description(FieldErrors errors, string? description)
    {
        if (description is null)
        {
            return null;
        }

        var trimmed = description.Trim();
        if (trimmed.Length > SecretLimits.MaxDescriptionLength || trimmed.Any(c => char.IsControl(c) && c is not '\n' and not '\t'))
        {
            errors.Add("description", $"must be at most {SecretLimits.MaxDescriptionLength} characters without control characters.");
            return null;
        }

        return trimmed;
    }

    private static IReadOnlyList<string>? Labels(FieldErrors errors, IReadOnlyList<string?>? labels)
    {
        if (labels is null)
        {
            return null;
        }

        var normalised = SecretLimits.NormaliseLabels(labels, out var reason);
        if (normalised is null)
        {
            errors.Add("labels", reason!);
        }

        return normalised;
    }

    /// <summary>A media type (<c>text/plain; charset=utf-8</c>) of printable ASCII, or <c>""</c> to clear it.</summary>
    private static string? ContentType(FieldErrors errors, string? contentType)
    {
        if (contentType is null || contentType.Length == 0)
        {
            return contentType;
        }

        if (contentType.Length > SecretLimits.MaxContentTypeLength || contentType.Any(c => c is < ' ' or > '~')
            || !MediaTypeHeaderValue.TryParse(contentType, out _))
        {
            errors.Add("contentType", $"must be a media type such as text/plain, at most {SecretLimits.MaxContentTypeLength} printable ASCII characters.");
            return null;
        }

        return contentType;
    }

    private static int? Integer(FieldErrors errors, string field, string? text)
    {
        if (text is null)
        {
            return null;
        }

        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        errors.Add(field, "must be an integer.");
        return null;
    }

    private static bool Flag(FieldErrors errors, string field, string? text)
    {
        switch (text)
        {
            case null or "false":
                return false;
            case "true":
                return true;
            default:
                errors.Add(field, "must be true or false.");
                return false;
        }
    }
}
