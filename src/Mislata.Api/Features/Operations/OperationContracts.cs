using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mislata.Api.Features.Operations;

// Requests: ids arrive as strings so that a malformed one is a field error (validation_failed), not an unreadable body.

public sealed record EncryptRequestBody(string? Plaintext, string? Encoding, string? KeyId, string? Context);

public sealed record DecryptRequestBody(string? EncryptedPayload, string? Context);

public sealed record EncryptBatchRequestBody(IReadOnlyList<EncryptRequestBody?>? Items, string? KeyId);

public sealed record DecryptBatchRequestBody(IReadOnlyList<DecryptRequestBody?>? Items);

public sealed record DataKeyRequestBody(string? KeyId, int? Bytes, bool? IncludePlaintext, string? Context);

public sealed record SignRequestBody(string? Message, string? Encoding, string? KeyId, string? Context);

public sealed record VerifyRequestBody(string? Message, string? Signature, string? Encoding, string? KeyId, int? KeyVersion, string? Context);

public sealed record HmacRequestBody(string? Message, string? Encoding, string? KeyId);

public sealed record HmacVerifyRequestBody(string? Message, string? Mac, string? Encoding, string? KeyId, int? KeyVersion);

public sealed record RandomRequestBody(int? Bytes, string? Encoding);

// Responses.

public sealed record EncryptResponse(string EncryptedPayload, Guid KeyId, int KeyVersion, string Algorithm);

public sealed record DecryptResponse(string Plaintext, string Encoding, Guid KeyId, int KeyVersion);

public sealed record RewrapResponse(string EncryptedPayload, Guid KeyId, int KeyVersion, string Algorithm);

public sealed record DataKeyResponse(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Plaintext, string EncryptedPayload, Guid KeyId, int KeyVersion, string Algorithm);

public sealed record SignResponse(string Signature, Guid KeyId, int KeyVersion, string Algorithm);

/// <summary><c>keyVersion</c>: the version that verified (absent when the signature or MAC is not valid).</summary>
public sealed record VerifyResponse(
    bool Valid, Guid KeyId, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? KeyVersion);

public sealed record MacResponse(string Mac, Guid KeyId, int KeyVersion, string Algorithm);

public sealed record RandomResponse(string Random, string Source);

/// <summary>A batch item's failure: the API.md code and a short reason (a failed decryption says only <c>decryption_failed</c>).</summary>
public sealed record ItemError(string Code, string Detail);

/// <summary>One item of an encrypt batch: the encryption, or <c>error</c>.</summary>
public sealed record EncryptItemResult(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? EncryptedPayload,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Guid? KeyId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? KeyVersion,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Algorithm,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ItemError? Error);

/// <summary>One item of a decrypt batch: the plaintext, or <c>error</c>.</summary>
public sealed record DecryptItemResult(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Plaintext,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Encoding,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Guid? KeyId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? KeyVersion,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ItemError? Error);

public sealed record BatchResponse<T>(IReadOnlyList<T> Results);

/// <summary>
/// Source-generated JSON metadata of the operations' bodies (the hot path): no reflection-built converters, and the
/// responses written by the generated fast path. Web defaults, as the rest of the api (camelCase names, names read
/// case-insensitively, numbers also from strings); put first in the api's resolver chain by <c>ApiSetup</c>.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(EncryptRequestBody))]
[JsonSerializable(typeof(DecryptRequestBody))]
[JsonSerializable(typeof(EncryptBatchRequestBody))]
[JsonSerializable(typeof(DecryptBatchRequestBody))]
[JsonSerializable(typeof(DataKeyRequestBody))]
[JsonSerializable(typeof(SignRequestBody))]
[JsonSerializable(typeof(VerifyRequestBody))]
[JsonSerializable(typeof(HmacRequestBody))]
[JsonSerializable(typeof(HmacVerifyRequestBody))]
[JsonSerializable(typeof(RandomRequestBody))]
[JsonSerializable(typeof(EncryptResponse))]
[JsonSerializable(typeof(DecryptResponse))]
[JsonSerializable(typeof(RewrapResponse))]
[JsonSerializable(typeof(DataKeyResponse))]
[JsonSerializable(typeof(SignResponse))]
[JsonSerializable(typeof(VerifyResponse))]
[JsonSerializable(typeof(MacResponse))]
[JsonSerializable(typeof(RandomResponse))]
[JsonSerializable(typeof(BatchResponse<EncryptItemResult>))]
[JsonSerializable(typeof(BatchResponse<DecryptItemResult>))]
internal sealed partial class OperationsJsonContext : JsonSerializerContext;
