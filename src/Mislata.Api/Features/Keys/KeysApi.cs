using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Api.Features.Licence;
using Mislata.Core.Access;
using Mislata.Core.Keys;
using Mislata.Crypto;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Keys;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.Persistence;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Keys;

/// <summary>
/// <c>/api/v1/keys</c>: the tenant's keys (API.md "Keys"). Every query names the caller's tenant, so another tenant's
/// key is <c>404 not_found</c>. No answer ever carries private or secret material. Rule failures (<see cref="KeyError"/>)
/// become problems in <see cref="ProblemOf"/>.
/// </summary>
public static class KeysApi
{
    private static readonly string[] Formats = ["jwk", "pem", "raw"];

    public static IEndpointRouteBuilder MapKeysApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/keys").WithTags("Keys");
        group.MapPost("/", CreateAsync).RequireScope(Scopes.KeysWrite).RequireLicence(LicensedCreation.Key).Idempotent()
            .WithSummary("Create a key").WithDescription("Generates version 1 of a new key. Without `algorithm`: ML-KEM-768 (or the default of `type`). RSA keys are encryption keys (OAEP) unless `type` is `signing` (PSS).");
        group.MapGet("/", ListAsync).RequireScope(Scopes.KeysRead)
            .WithSummary("List keys").WithDescription("Filters `algorithm`, `state`, `tag`, `name` (prefix); cursor paging.");
        group.MapGet("/jwks", JwksAsync).RequireScope(Scopes.KeysRead)
            .WithSummary("The tenant's JWKS").WithDescription("Every non-destroyed version of the tenant's enabled asymmetric keys.");
        group.MapPost("/import", ImportAsync).RequireScope(Scopes.KeysWrite).RequireLicence(LicensedCreation.Key).Idempotent()
            .WithSummary("Import a key (BYOK)").WithDescription("`material` in `pkcs8` (base64 DER or PEM), `raw` (base64) or `jwk`; checked for consistency, then sealed. Never echoed.");
        group.MapGet("/{id:guid}", GetAsync).RequireScope(Scopes.KeysRead).WithSummary("Get a key with its versions")
            .WithDescription("The key object: state, current version, every version with its state, `minDecryptionVersion`, the operations it allows now. Never any private or secret material.");
        group.MapPatch("/{id:guid}", UpdateAsync).RequireScope(Scopes.KeysWrite)
            .WithSummary("Update a key").WithDescription("`description`, `tags`, `rotationPeriodDays` (0 = off), `isDefault`, `minDecryptionVersion`.");
        group.MapPost("/{id:guid}/rotate", RotateAsync).RequireScope(Scopes.KeysWrite).WithSummary("Rotate: a new current version")
            .WithDescription("Version `currentVersion + 1` becomes the only active one; older versions only decrypt and verify. `409 key_state_invalid` unless the key is enabled.");
        group.MapPost("/{id:guid}/disable", DisableAsync).RequireScope(Scopes.KeysWrite).WithSummary("Disable: the key refuses every operation")
            .WithDescription("Every operation with the key answers `409 key_state_invalid` until it is enabled again; a default key loses the flag.");
        group.MapPost("/{id:guid}/enable", EnableAsync).RequireScope(Scopes.KeysWrite).WithSummary("Enable a disabled key")
            .WithDescription("Brings a disabled key back into service; `409 key_state_invalid` for a key pending deletion or destroyed.");
        group.MapDelete("/{id:guid}", DeleteAsync).RequireScope(Scopes.KeysWrite)
            .WithSummary("Schedule deletion").WithDescription("`pendingDays` 7..30 (default 30); the key is destroyed after the window unless restored.");
        group.MapPost("/{id:guid}/restore", RestoreAsync).RequireScope(Scopes.KeysWrite).WithSummary("Cancel a pending deletion (the key comes back disabled)")
            .WithDescription("Possible until `deletionDate`; the key comes back `disabled`, to be enabled on purpose.");
        group.MapGet("/{id:guid}/public", PublicAsync).RequireScope(Scopes.KeysRead)
            .WithSummary("Export a public key").WithDescription("`format` jwk (default), pem or raw; `version` defaults to the current one.");
        return app;
    }

    private static async Task<Results<Created<KeyResponse>, ProblemHttpResult>> CreateAsync(
        CreateKeyRequest request, HttpContext http, KeyAdministration keys, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var draft = Draft(errors, request.Name, request.Algorithm, request.Type, request.Description, request.Tags, request.RotationPeriodDays, request.IsDefault);
        if (draft is null)
        {
            return errors.Problem();
        }

        var (key, error) = await keys.CreateAsync(http.GetCaller().TenantId!.Value, draft, http.GetActor(), ct);
        return key is null ? ProblemOf(error) : TypedResults.Created($"/api/v1/keys/{key.Id}", KeyResponse.From(key));
    }

    private static async Task<Results<Created<KeyResponse>, ProblemHttpResult>> ImportAsync(
        ImportKeyRequest request, HttpContext http, KeyAdministration keys, CancellationToken ct)
    {
        var errors = new FieldErrors();
        if (request.Algorithm is null)
        {
            errors.Add("algorithm", "is required.");
        }

        var draft = Draft(errors, request.Name, request.Algorithm, request.Type, request.Description, request.Tags, request.RotationPeriodDays, request.IsDefault);
        ImportFormat? format = request.Format switch
        {
            "pkcs8" => ImportFormat.Pkcs8,
            "raw" => ImportFormat.Raw,
            "jwk" => ImportFormat.Jwk,
            _ => null,
        };
        if (format is null)
        {
            errors.Add("format", "must be one of pkcs8, raw, jwk.");
        }

        var material = request.Material switch
        {
            { ValueKind: JsonValueKind.String } s => s.GetString(),
            { ValueKind: JsonValueKind.Object } o when format == ImportFormat.Jwk => o.GetRawText(),
            _ => null,
        };
        if (material is null)
        {
            errors.Add("material", format == ImportFormat.Jwk ? "is required: a JWK object or its JSON text." : "is required: a string.");
        }
        else if (material.Length > KeyLimits.MaxImportMaterialLength)
        {
            errors.Add("material", $"must be at most {KeyLimits.MaxImportMaterialLength} characters.");
        }

        if (draft is null || errors.Any)
        {
            return errors.Problem();
        }

        KeyMaterial imported;
        try
        {
            imported = KeyImporter.Import(draft.Algorithm.Name, draft.Type, format!.Value, material!);
        }
        catch (Exception ex) when (ex is CryptoException or CryptographicException or ArgumentException or FormatException)
        {
            // The crypto layer's messages are fixed texts (never key bytes); anything else gets a generic one.
            var why = ex is CryptoException { Error: CryptoError.InvalidKeyMaterial or CryptoError.AlgorithmMismatch } ? ex.Message : "The key material is invalid.";
            return Problem.Validation(new Dictionary<string, string[]> { ["material"] = [why] },
                $"The material is not a valid {draft.Algorithm.Name} {KeyCatalogue.TypeName(draft.Type)} key in {request.Format} form.");
        }

        using (imported)
        {
            var (key, error) = await keys.ImportAsync(http.GetCaller().TenantId!.Value, draft, imported, http.GetActor(), ct);
            return key is null ? ProblemOf(error) : TypedResults.Created($"/api/v1/keys/{key.Id}", KeyResponse.From(key));
        }
    }

    private static async Task<Results<Ok<Page<KeyResponse>>, ProblemHttpResult>> ListAsync(
        int? limit, string? cursor, string? algorithm, string? state, string? tag, string? name, HttpContext http, MislataDbContext db, CancellationToken ct)
    {
        if (!Paging.TryRead(limit, cursor, out var take, out var after, out var problem))
        {
            return problem!;
        }

        var errors = new FieldErrors();
        if (algorithm is not null && !KeyCatalogue.Algorithms.Contains(algorithm, StringComparer.Ordinal))
        {
            errors.Add("algorithm", "is not an algorithm of this API.");
        }

        KeyState? wantedState = null;
        if (state is not null)
        {
            if (KeyResponse.TryParseState(state, out var parsed))
            {
                wantedState = parsed;
            }
            else
            {
                errors.Add("state", "must be one of enabled, disabled, pendingDeletion, destroyed.");
            }
        }

        if (tag is { Length: 0 or > KeyLimits.MaxTagLength })
        {
            errors.Add("tag", $"must be 1 to {KeyLimits.MaxTagLength} characters.");
        }

        if (name is { Length: 0 or > KeyLimits.MaxNameLength })
        {
            errors.Add("name", $"must be 1 to {KeyLimits.MaxNameLength} characters.");
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        var tenantId = http.GetCaller().TenantId!.Value;
        var query = db.Set<Key>().AsNoTracking().Where(k => k.TenantId == tenantId);
        if (algorithm is not null)
        {
            query = query.Where(k => k.Algorithm == algorithm);
        }

        if (wantedState is { } s)
        {
            query = query.Where(k => k.State == s);
        }

        if (tag is not null)
        {
            query = query.Where(k => k.Tags.Contains(tag));
        }

        if (name is not null)
        {
            query = query.Where(k => k.Name.StartsWith(name));
        }

        if (after is { } a)
        {
            query = query.Where(k => k.Id > a);
        }

        var rows = await query.OrderBy(k => k.Id).Take(take + 1).Include(k => k.Versions).AsSplitQuery().ToListAsync(ct);
        return TypedResults.Ok(Paging.Page(rows, take, k => k.Id, KeyResponse.From));
    }

    private static async Task<Results<Ok<KeyResponse>, ProblemHttpResult>> GetAsync(Guid id, HttpContext http, MislataDbContext db, CancellationToken ct) =>
        await FindAsync(db, http.GetCaller().TenantId!.Value, id, ct) is { } key ? TypedResults.Ok(KeyResponse.From(key)) : Problem.NotFound();

    private static async Task<Results<Ok<KeyResponse>, ProblemHttpResult>> UpdateAsync(
        Guid id, UpdateKeyRequest request, HttpContext http, KeyAdministration keys, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var description = Description(errors, request.Description);
        var tags = Tags(errors, request.Tags);
        if (request.RotationPeriodDays is not 0)
        {
            errors.Range("rotationPeriodDays", request.RotationPeriodDays, KeyLimits.MinRotationPeriodDays, KeyLimits.MaxRotationPeriodDays);
        }

        errors.Range("minDecryptionVersion", request.MinDecryptionVersion, 1, int.MaxValue);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var changes = new KeyChanges(description, tags, request.RotationPeriodDays is 0 ? null : request.RotationPeriodDays,
            ClearRotationPeriod: request.RotationPeriodDays is 0, request.IsDefault, request.MinDecryptionVersion);
        return Answer(await keys.UpdateAsync(http.GetCaller().TenantId!.Value, id, changes, http.GetActor(), ct));
    }

    private static async Task<Results<Ok<KeyResponse>, ProblemHttpResult>> RotateAsync(Guid id, HttpContext http, KeyAdministration keys, CancellationToken ct) =>
        Answer(await keys.RotateAsync(http.GetCaller().TenantId!.Value, id, http.GetActor(), ct));

    private static async Task<Results<Ok<KeyResponse>, ProblemHttpResult>> DisableAsync(Guid id, HttpContext http, KeyAdministration keys, CancellationToken ct) =>
        Answer(await keys.DisableAsync(http.GetCaller().TenantId!.Value, id, http.GetActor(), ct));

    private static async Task<Results<Ok<KeyResponse>, ProblemHttpResult>> EnableAsync(Guid id, HttpContext http, KeyAdministration keys, CancellationToken ct) =>
        Answer(await keys.EnableAsync(http.GetCaller().TenantId!.Value, id, http.GetActor(), ct));

    private static async Task<Results<Ok<KeyResponse>, ProblemHttpResult>> DeleteAsync(
        Guid id, int? pendingDays, HttpContext http, KeyAdministration keys, CancellationToken ct)
    {
        var days = pendingDays ?? KeyLimits.DefaultPendingDays;
        if (days is < KeyLimits.MinPendingDays or > KeyLimits.MaxPendingDays)
        {
            return Problem.Validation(new Dictionary<string, string[]> { ["pendingDays"] = [$"must be between {KeyLimits.MinPendingDays} and {KeyLimits.MaxPendingDays}."] });
        }

        return Answer(await keys.ScheduleDeletionAsync(http.GetCaller().TenantId!.Value, id, days, http.GetActor(), ct));
    }

    private static async Task<Results<Ok<KeyResponse>, ProblemHttpResult>> RestoreAsync(Guid id, HttpContext http, KeyAdministration keys, CancellationToken ct) =>
        Answer(await keys.RestoreAsync(http.GetCaller().TenantId!.Value, id, http.GetActor(), ct));

    private static async Task<Results<Ok<PublicKeyResponse>, ProblemHttpResult>> PublicAsync(
        Guid id, string? format, int? version, HttpContext http, MislataDbContext db, CancellationToken ct)
    {
        var wanted = format ?? "jwk";
        if (!Formats.Contains(wanted, StringComparer.Ordinal))
        {
            return Problem.Validation(new Dictionary<string, string[]> { ["format"] = ["must be one of jwk, pem, raw."] });
        }

        if (version is < 1)
        {
            return Problem.Validation(new Dictionary<string, string[]> { ["version"] = ["must be 1 or more."] });
        }

        var key = await FindAsync(db, http.GetCaller().TenantId!.Value, id, ct);
        if (key is null)
        {
            return Problem.NotFound();
        }

        if (!key.Info.IsAsymmetric)
        {
            return Problem.Of(400, ErrorCodes.AlgorithmMismatch, "Algorithm mismatch", $"A {key.Algorithm} key has no public part.");
        }

        var number = version ?? key.CurrentVersion;
        var found = key.Version(number);
        if (found is null)
        {
            return Problem.NotFound($"The key has no version {number}.");
        }

        if (key.State == KeyState.Destroyed || found.State == KeyVersionState.Destroyed || found.PublicKey is null)
        {
            return Problem.Of(409, ErrorCodes.KeyStateInvalid, "Key state invalid", "The key version is destroyed.");
        }

        var publicKey = Mislata.Crypto.Algorithms.PublicKey.FromRaw(key.Algorithm, key.Type, found.PublicKey);
        return TypedResults.Ok(wanted switch
        {
            "jwk" => new PublicKeyResponse(key.Id, number, key.Algorithm, wanted, null, Jwk(publicKey, key.Id, number)),
            "pem" => new PublicKeyResponse(key.Id, number, key.Algorithm, wanted, PublicKeyExporter.ExportPem(publicKey), null),
            _ => new PublicKeyResponse(key.Id, number, key.Algorithm, wanted, PublicKeyExporter.Export(publicKey, PublicKeyFormat.Raw, key.Id, number), null),
        });
    }

    private static async Task<Ok<JwksResponse>> JwksAsync(HttpContext http, MislataDbContext db, CancellationToken ct)
    {
        var tenantId = http.GetCaller().TenantId!.Value;
        var rows = await db.Set<Key>().AsNoTracking()
            .Where(k => k.TenantId == tenantId && k.State == KeyState.Enabled && (k.Type == KeyType.Encryption || k.Type == KeyType.Signing))
            .OrderBy(k => k.Id)
            .Include(k => k.Versions)
            .AsSplitQuery()
            .ToListAsync(ct);
        var jwks = new List<JsonElement>();
        foreach (var key in rows)
        {
            foreach (var version in key.Versions.Where(v => v.State != KeyVersionState.Destroyed && v.PublicKey is not null).OrderBy(v => v.Version))
            {
                jwks.Add(Jwk(Mislata.Crypto.Algorithms.PublicKey.FromRaw(key.Algorithm, key.Type, version.PublicKey), key.Id, version.Version));
            }
        }

        return TypedResults.Ok(new JwksResponse(jwks));
    }

    /// <summary>The one place where a rule's failure becomes a problem (API.md codes).</summary>
    internal static ProblemHttpResult ProblemOf(KeyError error) => error switch
    {
        KeyError.NotFound => Problem.NotFound(),
        KeyError.NameTaken => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "The tenant already has a key of this name."),
        KeyError.QuotaExceeded => Problem.Of(429, ErrorCodes.QuotaExceeded, "Quota exceeded", "The plan allows no more keys."),
        KeyError.StateInvalid => Problem.Of(409, ErrorCodes.KeyStateInvalid, "Key state invalid", "The key's state does not allow this change."),
        KeyError.VersionOutOfRange => Problem.Validation(new Dictionary<string, string[]> { ["minDecryptionVersion"] = ["must be between 1 and the key's current version."] }),
        KeyError.DefaultTaken => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "Another key became the default of this type at the same time; retry."),
        KeyError.Concurrent => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "The key was changed at the same time; retry."),
        KeyError.FeatureNotInPlan => Problem.Of(403, ErrorCodes.Forbidden, "Forbidden", "The tenant's plan does not include importing keys (BYOK)."),
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, "not a failure"),
    };

    private static Results<Ok<KeyResponse>, ProblemHttpResult> Answer((Key? Key, KeyError Error) outcome) =>
        outcome.Key is { } key ? TypedResults.Ok(KeyResponse.From(key)) : ProblemOf(outcome.Error);

    private static Task<Key?> FindAsync(MislataDbContext db, Guid tenantId, Guid id, CancellationToken ct) =>
        db.Set<Key>().AsNoTracking().Include(k => k.Versions).SingleOrDefaultAsync(k => k.TenantId == tenantId && k.Id == id, ct);

    private static JsonElement Jwk(Mislata.Crypto.Algorithms.PublicKey key, Guid keyId, int version)
    {
        using var document = JsonDocument.Parse(PublicKeyExporter.ExportJwk(key, keyId, version));
        return document.RootElement.Clone();
    }

    private static KeyDraft? Draft(
        FieldErrors errors, string? name, string? algorithm, string? type, string? description, IReadOnlyList<string?>? tags, int? rotationPeriodDays, bool? isDefault)
    {
        var validName = errors.Name("name", name, max: KeyLimits.MaxNameLength);
        KeyType? keyType = null;
        if (type is not null)
        {
            if (KeyCatalogue.TryParseType(type, out var parsed))
            {
                keyType = parsed;
            }
            else
            {
                errors.Add("type", "must be one of encryption, signing, hmac, symmetric.");
            }
        }

        AlgorithmInfo? info = null;
        var resolvedType = KeyType.Encryption;
        if (type is null || keyType is not null)
        {
            if (!KeyCatalogue.TryResolve(algorithm, keyType, out info, out resolvedType, out var reason))
            {
                errors.Add(algorithm is not null && !KeyCatalogue.Algorithms.Contains(algorithm, StringComparer.Ordinal) ? "algorithm" : "type",
                    algorithm is null ? reason : (algorithm.Length > 40 ? algorithm[..40] + "…" : algorithm) + ": " + reason);
            }
        }

        var validDescription = Description(errors, description);
        var validTags = Tags(errors, tags) ?? [];
        errors.Range("rotationPeriodDays", rotationPeriodDays, KeyLimits.MinRotationPeriodDays, KeyLimits.MaxRotationPeriodDays);
        return errors.Any || validName is null || info is null
            ? null
            : new KeyDraft(validName, info, resolvedType, validDescription, validTags, rotationPeriodDays, isDefault ?? false);
    }

    private static string? Description(FieldErrors errors, string? description)
    {
        if (description is null)
        {
            return null;
        }

        var trimmed = description.Trim();
        if (trimmed.Length > KeyLimits.MaxDescriptionLength || trimmed.Any(c => char.IsControl(c) && c is not '\n' and not '\t'))
        {
            errors.Add("description", $"must be at most {KeyLimits.MaxDescriptionLength} characters without control characters.");
            return null;
        }

        return trimmed;
    }

    private static IReadOnlyList<string>? Tags(FieldErrors errors, IReadOnlyList<string?>? tags)
    {
        if (tags is null)
        {
            return null;
        }

        var normalised = KeyLimits.NormaliseTags(tags, out var reason);
        if (normalised is null)
        {
            errors.Add("tags", reason!);
        }

        return normalised;
    }
}
