using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Api.Features.Licence;
using Mislata.Core.Access;
using Mislata.Core.Encryption;
using Mislata.Crypto.Payloads;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Operations;

/// <summary>
/// The cryptographic operations of API.md (scope <c>encryption:write</c>): the wire side only. Fields are read and
/// checked here (encodings, ids, sizes); the rules and the crypto are <see cref="CryptoOperations"/>'s, and its
/// failures become problems in <see cref="ProblemOf"/>. Bodies are limited to 1 MiB, batches to 8 MiB and 1000 items.
/// </summary>
public static class OperationsApi
{
    public const long MaxBodyBytes = 1024 * 1024;
    public const long MaxBatchBodyBytes = 8 * 1024 * 1024;

    public static IEndpointRouteBuilder MapOperationsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1").WithTags("Cryptographic operations");
        Limit(group.MapPost("/encrypt", EncryptAsync), MaxBodyBytes).RequireLicence(LicensedCreation.NewData)
            .WithSummary("Encrypt").WithDescription("`plaintext` (`encoding` utf8 or base64) under `keyId` or the tenant's default encryption key; `context` is associated data that decrypt must be given again.");
        Limit(group.MapPost("/decrypt", DecryptAsync), MaxBodyBytes)
            .WithSummary("Decrypt").WithDescription("The plaintext of an `encryptedPayload`, in the encoding it was encrypted with. Any failure after parsing is `decryption_failed` and nothing more.");
        Limit(group.MapPost("/encrypt/batch", EncryptBatchAsync), MaxBatchBodyBytes).RequireLicence(LicensedCreation.NewData)
            .WithSummary("Encrypt up to 1000 items").WithDescription("Results in the order of `items`; a failed item is `{error: {code, detail}}`.");
        Limit(group.MapPost("/decrypt/batch", DecryptBatchAsync), MaxBatchBodyBytes)
            .WithSummary("Decrypt up to 1000 items").WithDescription("Results in the order of `items`; a failed item is `{error: {code, detail}}`.");
        Limit(group.MapPost("/rewrap", RewrapAsync), MaxBodyBytes).RequireLicence(LicensedCreation.NewData)
            .WithSummary("Rewrap under the current version").WithDescription("The same plaintext, encoding and context under the key's current version; the plaintext is never returned.");
        Limit(group.MapPost("/datakey", DataKeyAsync), MaxBodyBytes).RequireLicence(LicensedCreation.NewData)
            .WithSummary("Generate a data key").WithDescription("`bytes` 16..64 (default 32) of fresh key, encrypted under the key (`encryptedPayload`, encoding base64) and, unless `includePlaintext` is false, in clear (base64).");
        Limit(group.MapPost("/sign", SignAsync), MaxBodyBytes)
            .WithSummary("Sign").WithDescription("With `keyId` or the tenant's default signing key. `context` for ML-DSA and SLH-DSA only (≤ 255 bytes). SLH-DSA runs under a bounded number of slots: `429` with `Retry-After` when all are busy.");
        Limit(group.MapPost("/verify", VerifyAsync), MaxBodyBytes)
            .WithSummary("Verify a signature").WithDescription("`{valid}`; a bad signature is `200 {valid: false}`. Without `keyVersion` every usable version is tried.");
        Limit(group.MapPost("/hmac", HmacAsync), MaxBodyBytes).WithSummary("Compute an HMAC")
            .WithDescription("`{message, encoding?, keyId}` → `{mac, keyId, keyVersion, algorithm}` with the key's current version (HMAC-SHA256 or HMAC-SHA512).");
        Limit(group.MapPost("/hmac/verify", HmacVerifyAsync), MaxBodyBytes)
            .WithSummary("Verify an HMAC").WithDescription("Constant-time; a wrong MAC is `200 {valid: false}`.");
        Limit(group.MapPost("/random", RandomAsync), MaxBodyBytes)
            .WithSummary("Random bytes").WithDescription("`bytes` 1..4096, base64; `source` says where they came from (`os` or `qrng`).");
        return app;
    }

    private static RouteHandlerBuilder Limit(RouteHandlerBuilder route, long maxBodyBytes) =>
        route.RequireScope(Scopes.EncryptionWrite).WithMetadata(new RequestSizeLimitAttribute(maxBodyBytes));

    private static async Task<Results<Ok<EncryptResponse>, ProblemHttpResult>> EncryptAsync(
        EncryptRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var item = ReadEncrypt(errors, request, batchKeyId: null);
        if (item is null)
        {
            return errors.Problem();
        }

        var outcome = await operations.EncryptAsync(TenantOf(http), item, http.GetActor(), ct);
        return outcome.Value is { } r ? TypedResults.Ok(new EncryptResponse(r.EncryptedPayload, r.KeyId, r.KeyVersion, r.Algorithm)) : ProblemOf(http, outcome.Error, outcome.Detail);
    }

    private static async Task<Results<Ok<DecryptResponse>, ProblemHttpResult>> DecryptAsync(
        DecryptRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var item = ReadDecrypt(errors, request);
        if (item is null)
        {
            return errors.Problem();
        }

        var outcome = await operations.DecryptAsync(TenantOf(http), item, http.GetActor(), ct);
        if (outcome.Value is not { } r)
        {
            return ProblemOf(http, outcome.Error, outcome.Detail);
        }

        var (text, encoding) = Binary.Write(r.Plaintext, r.Encoding);
        return TypedResults.Ok(new DecryptResponse(text, encoding, r.KeyId, r.KeyVersion));
    }

    private static async Task<Results<Ok<BatchResponse<EncryptItemResult>>, ProblemHttpResult>> EncryptBatchAsync(
        EncryptBatchRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var batchKeyId = Binary.KeyId(errors, "keyId", request.KeyId);
        if (!CheckItems(errors, request.Items) || errors.Any)
        {
            return errors.Problem();
        }

        // Items that cannot be read fail on their own; the rest are encrypted, and the answers are put back in order.
        var results = new EncryptItemResult?[request.Items!.Count];
        var readable = new List<(int Index, EncryptRequest Item)>(results.Length);
        for (var i = 0; i < results.Length; i++)
        {
            var itemErrors = new FieldErrors();
            var item = request.Items[i] is { } body ? ReadEncrypt(itemErrors, body, batchKeyId) : null;
            if (item is null)
            {
                results[i] = new EncryptItemResult(null, null, null, null, new ItemError(ErrorCodes.ValidationFailed, ItemDetail(itemErrors, request.Items[i] is null)));
            }
            else
            {
                readable.Add((i, item));
            }
        }

        var outcomes = await operations.EncryptBatchAsync(TenantOf(http), [.. readable.Select(r => r.Item)], http.GetActor(), ct);
        for (var j = 0; j < readable.Count; j++)
        {
            var o = outcomes[j];
            results[readable[j].Index] = o.Value is { } r
                ? new EncryptItemResult(r.EncryptedPayload, r.KeyId, r.KeyVersion, r.Algorithm, null)
                : new EncryptItemResult(null, null, null, null, ItemErrorOf(o.Error, o.Detail));
        }

        return TypedResults.Ok(new BatchResponse<EncryptItemResult>(results!));
    }

    private static async Task<Results<Ok<BatchResponse<DecryptItemResult>>, ProblemHttpResult>> DecryptBatchAsync(
        DecryptBatchRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        if (!CheckItems(errors, request.Items))
        {
            return errors.Problem();
        }

        var results = new DecryptItemResult?[request.Items!.Count];
        var readable = new List<(int Index, DecryptRequest Item)>(results.Length);
        for (var i = 0; i < results.Length; i++)
        {
            var itemErrors = new FieldErrors();
            var item = request.Items[i] is { } body ? ReadDecrypt(itemErrors, body) : null;
            if (item is null)
            {
                results[i] = new DecryptItemResult(null, null, null, null, new ItemError(ErrorCodes.ValidationFailed, ItemDetail(itemErrors, request.Items[i] is null)));
            }
            else
            {
                readable.Add((i, item));
            }
        }

        var outcomes = await operations.DecryptBatchAsync(TenantOf(http), [.. readable.Select(r => r.Item)], http.GetActor(), ct);
        for (var j = 0; j < readable.Count; j++)
        {
            var o = outcomes[j];
            if (o.Value is { } r)
            {
                var (text, encoding) = Binary.Write(r.Plaintext, r.Encoding);
                results[readable[j].Index] = new DecryptItemResult(text, encoding, r.KeyId, r.KeyVersion, null);
            }
            else
            {
                results[readable[j].Index] = new DecryptItemResult(null, null, null, null, ItemErrorOf(o.Error, o.Detail));
            }
        }

        return TypedResults.Ok(new BatchResponse<DecryptItemResult>(results!));
    }

    private static async Task<Results<Ok<RewrapResponse>, ProblemHttpResult>> RewrapAsync(
        DecryptRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var item = ReadDecrypt(errors, request);
        if (item is null)
        {
            return errors.Problem();
        }

        var outcome = await operations.RewrapAsync(TenantOf(http), item, http.GetActor(), ct);
        return outcome.Value is { } r ? TypedResults.Ok(new RewrapResponse(r.EncryptedPayload, r.KeyId, r.KeyVersion, r.Algorithm)) : ProblemOf(http, outcome.Error, outcome.Detail);
    }

    private static async Task<Results<Ok<DataKeyResponse>, ProblemHttpResult>> DataKeyAsync(
        DataKeyRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var keyId = Binary.KeyId(errors, "keyId", request.KeyId);
        errors.Range("bytes", request.Bytes, OperationRules.MinDataKeyBytes, OperationRules.MaxDataKeyBytes);
        Binary.Context(errors, request.Context);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var outcome = await operations.DataKeyAsync(TenantOf(http),
            new DataKeyRequest(keyId, request.Bytes ?? OperationRules.DefaultDataKeyBytes, request.IncludePlaintext ?? true, request.Context), http.GetActor(), ct);
        if (outcome.Value is not { } r)
        {
            return ProblemOf(http, outcome.Error, outcome.Detail);
        }

        string? plaintext = null;
        if (r.Plaintext is { } bytes)
        {
            plaintext = Convert.ToBase64String(bytes);
            CryptographicOperations.ZeroMemory(bytes);
        }

        return TypedResults.Ok(new DataKeyResponse(plaintext, r.EncryptedPayload, r.KeyId, r.KeyVersion, r.Algorithm));
    }

    private static async Task<Results<Ok<SignResponse>, ProblemHttpResult>> SignAsync(
        SignRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var keyId = Binary.KeyId(errors, "keyId", request.KeyId);
        var encoding = Binary.Encoding(errors, request.Encoding);
        var message = Binary.Read(errors, "message", request.Message, encoding);
        Binary.Context(errors, request.Context);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var outcome = await operations.SignAsync(TenantOf(http), new SignRequest(message!, keyId, request.Context), http.GetActor(), ct);
        return outcome.Value is { } r
            ? TypedResults.Ok(new SignResponse(Convert.ToBase64String(r.Signature), r.KeyId, r.KeyVersion, r.Algorithm))
            : ProblemOf(http, outcome.Error, outcome.Detail);
    }

    private static async Task<Results<Ok<VerifyResponse>, ProblemHttpResult>> VerifyAsync(
        VerifyRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var keyId = Binary.KeyId(errors, "keyId", request.KeyId);
        var encoding = Binary.Encoding(errors, request.Encoding);
        var message = Binary.Read(errors, "message", request.Message, encoding);
        var signature = Binary.Read(errors, "signature", request.Signature, PlaintextEncodings.Base64);
        errors.Range("keyVersion", request.KeyVersion, 1, int.MaxValue);
        Binary.Context(errors, request.Context);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var outcome = await operations.VerifyAsync(TenantOf(http), new VerifyRequest(message!, signature!, keyId, request.KeyVersion, request.Context), http.GetActor(), ct);
        return outcome.Value is { } r ? TypedResults.Ok(new VerifyResponse(r.Valid, r.KeyId, r.KeyVersion)) : ProblemOf(http, outcome.Error, outcome.Detail);
    }

    private static async Task<Results<Ok<MacResponse>, ProblemHttpResult>> HmacAsync(
        HmacRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var keyId = Binary.KeyId(errors, "keyId", request.KeyId, required: true);
        var encoding = Binary.Encoding(errors, request.Encoding);
        var message = Binary.Read(errors, "message", request.Message, encoding);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var outcome = await operations.HmacAsync(TenantOf(http), new MacRequest(message!, keyId!.Value), http.GetActor(), ct);
        return outcome.Value is { } r
            ? TypedResults.Ok(new MacResponse(Convert.ToBase64String(r.Mac), r.KeyId, r.KeyVersion, r.Algorithm))
            : ProblemOf(http, outcome.Error, outcome.Detail);
    }

    private static async Task<Results<Ok<VerifyResponse>, ProblemHttpResult>> HmacVerifyAsync(
        HmacVerifyRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var keyId = Binary.KeyId(errors, "keyId", request.KeyId, required: true);
        var encoding = Binary.Encoding(errors, request.Encoding);
        var message = Binary.Read(errors, "message", request.Message, encoding);
        var mac = Binary.Read(errors, "mac", request.Mac, PlaintextEncodings.Base64);
        errors.Range("keyVersion", request.KeyVersion, 1, int.MaxValue);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var outcome = await operations.HmacVerifyAsync(TenantOf(http), new MacVerifyRequest(message!, mac!, keyId!.Value, request.KeyVersion), http.GetActor(), ct);
        return outcome.Value is { } r ? TypedResults.Ok(new VerifyResponse(r.Valid, r.KeyId, r.KeyVersion)) : ProblemOf(http, outcome.Error, outcome.Detail);
    }

    private static async Task<Results<Ok<RandomResponse>, ProblemHttpResult>> RandomAsync(
        RandomRequestBody request, HttpContext http, CryptoOperations operations, CancellationToken ct)
    {
        var errors = new FieldErrors();
        if (request.Bytes is null)
        {
            errors.Add("bytes", $"is required: {OperationRules.MinRandomBytes} to {OperationRules.MaxRandomBytes}.");
        }

        errors.Range("bytes", request.Bytes, OperationRules.MinRandomBytes, OperationRules.MaxRandomBytes);
        if (request.Encoding is not (null or PlaintextEncodings.Base64))
        {
            errors.Add("encoding", "must be base64 (random bytes are not text).");
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        var outcome = await operations.RandomAsync(TenantOf(http), request.Bytes!.Value, http.GetActor(), ct);
        if (outcome.Value is not { } r)
        {
            return ProblemOf(http, outcome.Error, outcome.Detail);
        }

        var text = Convert.ToBase64String(r.Bytes);
        CryptographicOperations.ZeroMemory(r.Bytes);
        return TypedResults.Ok(new RandomResponse(text, r.Source));
    }

    /// <summary>The one place where an operation's failure becomes a problem (API.md codes).</summary>
    internal static ProblemHttpResult ProblemOf(HttpContext http, OperationError error, string? detail)
    {
        var text = detail ?? CryptoOperations.DetailOf(error);
        switch (error)
        {
            case OperationError.NotFound:
            case OperationError.NoDefaultKey:
                return Problem.NotFound(text);
            case OperationError.StateInvalid:
            case OperationError.UsageLimitReached:
                return Problem.Of(409, ErrorCodes.KeyStateInvalid, "Key state invalid", text);
            case OperationError.AlgorithmMismatch:
                return Problem.Of(400, ErrorCodes.AlgorithmMismatch, "Algorithm mismatch", text);
            case OperationError.InvalidPayload:
                return Problem.Of(400, ErrorCodes.InvalidPayload, "Invalid payload", text);
            case OperationError.DecryptionFailed:
                return Problem.Of(400, ErrorCodes.DecryptionFailed, "Decryption failed", CryptoOperations.DetailOf(OperationError.DecryptionFailed));
            case OperationError.InvalidContext:
                return Problem.Validation(new Dictionary<string, string[]> { ["context"] = [text] });
            case OperationError.InvalidVersion:
                return Problem.Validation(new Dictionary<string, string[]> { ["keyVersion"] = ["the key has no such version."] });
            case OperationError.Busy:
                http.Response.Headers.RetryAfter = SlowSignatureGate.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                return Problem.Of(429, ErrorCodes.RateLimited, "Rate limited", text);
            case OperationError.EntropyUnavailable:
                http.Response.Headers.RetryAfter = "5";
                return Problem.Of(503, ErrorCodes.Unavailable, "Service unavailable", text);
            default:
                throw new ArgumentOutOfRangeException(nameof(error), error, "not a failure");
        }
    }

    private static ItemError ItemErrorOf(OperationError error, string? detail) =>
        new(CryptoOperations.CodeOf(error), error == OperationError.DecryptionFailed ? CryptoOperations.DetailOf(error) : detail ?? CryptoOperations.DetailOf(error));

    private static Guid TenantOf(HttpContext http) => http.GetCaller().TenantId!.Value;

    private static bool CheckItems<T>(FieldErrors errors, IReadOnlyList<T>? items)
    {
        if (items is null || items.Count == 0)
        {
            errors.Add("items", $"is required: 1 to {OperationRules.MaxBatchItems} items.");
            return false;
        }

        if (items.Count > OperationRules.MaxBatchItems)
        {
            errors.Add("items", $"must have at most {OperationRules.MaxBatchItems} items.");
            return false;
        }

        return true;
    }

    private static string ItemDetail(FieldErrors errors, bool isNull) =>
        isNull ? "The item must be an object." : string.Join(" ", errors.Messages.Select(e => e.Field + ": " + string.Join(" ", e.Messages)));

    private static EncryptRequest? ReadEncrypt(FieldErrors errors, EncryptRequestBody request, Guid? batchKeyId)
    {
        var keyId = Binary.KeyId(errors, "keyId", request.KeyId) ?? batchKeyId;
        var encoding = Binary.Encoding(errors, request.Encoding);
        var plaintext = Binary.Read(errors, "plaintext", request.Plaintext, encoding);
        Binary.Context(errors, request.Context);
        return errors.Any ? null : new EncryptRequest(plaintext!, encoding, keyId, request.Context);
    }

    private static DecryptRequest? ReadDecrypt(FieldErrors errors, DecryptRequestBody request)
    {
        if (string.IsNullOrEmpty(request.EncryptedPayload))
        {
            errors.Add("encryptedPayload", "is required.");
        }

        Binary.Context(errors, request.Context);
        return errors.Any ? null : new DecryptRequest(request.EncryptedPayload!, request.Context);
    }
}

/// <summary>Binary values on the wire (API.md): strings with an <c>encoding</c> of <c>utf8</c> (default) or <c>base64</c>.</summary>
internal static class Binary
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string Encoding(FieldErrors errors, string? encoding)
    {
        switch (encoding)
        {
            case null or PlaintextEncodings.Utf8:
                return PlaintextEncodings.Utf8;
            case PlaintextEncodings.Base64:
                return PlaintextEncodings.Base64;
            default:
                errors.Add("encoding", "must be utf8 or base64.");
                return PlaintextEncodings.Utf8;
        }
    }

    /// <summary>The bytes of a required value; canonical standard base64 only, UTF-8 without lone surrogates.</summary>
    public static byte[]? Read(FieldErrors errors, string field, string? value, string encoding)
    {
        if (value is null)
        {
            errors.Add(field, "is required.");
            return null;
        }

        if (encoding == PlaintextEncodings.Base64)
        {
            var bytes = Base64(value);
            if (bytes is null)
            {
                errors.Add(field, "is not valid base64 (standard alphabet, with padding).");
            }

            return bytes;
        }

        var utf8 = Utf8(value);
        if (utf8 is null)
        {
            errors.Add(field, "is not valid Unicode text (a lone surrogate).");
        }

        return utf8;
    }

    /// <summary>A context must be valid Unicode: two different strings must never give the same associated data.</summary>
    public static void Context(FieldErrors errors, string? context)
    {
        if (context is not null && Utf8(context) is null)
        {
            errors.Add("context", "is not valid Unicode text (a lone surrogate).");
        }
    }

    public static Guid? KeyId(FieldErrors errors, string field, string? value, bool required = false)
    {
        if (value is null)
        {
            if (required)
            {
                errors.Add(field, "is required.");
            }

            return null;
        }

        if (!Guid.TryParseExact(value, "D", out var id))
        {
            errors.Add(field, "must be a key id (GUID).");
            return null;
        }

        return id;
    }

    /// <summary>Plaintext as its payload asked (<c>e</c>); bytes that are not UTF-8 are given as base64 and say so. Zeroes <paramref name="plaintext"/>.</summary>
    public static (string Text, string Encoding) Write(byte[] plaintext, string encoding)
    {
        try
        {
            if (encoding == PlaintextEncodings.Utf8)
            {
                try
                {
                    return (StrictUtf8.GetString(plaintext), PlaintextEncodings.Utf8);
                }
                catch (DecoderFallbackException)
                {
                    // A payload built elsewhere with e = utf8 over bytes that are not UTF-8.
                }
            }

            return (Convert.ToBase64String(plaintext), PlaintextEncodings.Base64);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private static byte[]? Utf8(string value)
    {
        try
        {
            return StrictUtf8.GetBytes(value);
        }
        catch (EncoderFallbackException)
        {
            return null;
        }
    }

    private static byte[]? Base64(string text)
    {
        if (text.Length % 4 != 0)
        {
            return null;
        }

        var bytes = new byte[text.Length / 4 * 3];
        if (!Convert.TryFromBase64String(text, bytes, out var written))
        {
            return null;
        }

        var result = bytes.AsSpan(0, written).ToArray();
        return Convert.ToBase64String(result) == text ? result : null;
    }
}
