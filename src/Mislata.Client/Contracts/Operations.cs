namespace Mislata.Client.Contracts;

/// <summary><c>POST /encrypt</c>: <c>plaintext</c> in <c>encoding</c> (utf8 default, or base64).</summary>
public sealed record EncryptRequest(string Plaintext, string? Encoding = null, Guid? KeyId = null, string? Context = null);

/// <summary>The answer of <c>/encrypt</c>: a CRYPTO.md <c>encryptedPayload</c>.</summary>
public sealed record EncryptResult(string EncryptedPayload, Guid KeyId, int KeyVersion, string Algorithm);

/// <summary><c>POST /decrypt</c>.</summary>
public sealed record DecryptRequest(string EncryptedPayload, string? Context = null);

/// <summary>The answer of <c>/decrypt</c>: <c>plaintext</c> in <c>encoding</c>.</summary>
public sealed record DecryptResult(string Plaintext, string Encoding, Guid KeyId, int KeyVersion)
{
    /// <summary>The plaintext's bytes, whatever its encoding.</summary>
    public byte[] PlaintextBytes() => Encoding == ValueEncoding.Base64 ? Convert.FromBase64String(Plaintext) : System.Text.Encoding.UTF8.GetBytes(Plaintext);
}

/// <summary><c>POST /encrypt/batch</c>: every item under <c>keyId</c> unless the item names its own.</summary>
public sealed record EncryptBatchRequest(IReadOnlyList<EncryptRequest> Items, Guid? KeyId = null);

/// <summary><c>POST /decrypt/batch</c>.</summary>
public sealed record DecryptBatchRequest(IReadOnlyList<DecryptRequest> Items);

/// <summary>A batch item's failure.</summary>
public sealed record ItemError(string Code, string Detail);

/// <summary>One item of an encrypt batch: the encryption or <c>error</c>.</summary>
public sealed record EncryptItemResult(string? EncryptedPayload, Guid? KeyId, int? KeyVersion, string? Algorithm, ItemError? Error);

/// <summary>One item of a decrypt batch: the plaintext or <c>error</c>.</summary>
public sealed record DecryptItemResult(string? Plaintext, string? Encoding, Guid? KeyId, int? KeyVersion, ItemError? Error);

/// <summary>Per-item results of a batch, in request order.</summary>
public sealed record BatchResult<T>(IReadOnlyList<T> Results);

/// <summary><c>POST /rewrap</c>.</summary>
public sealed record RewrapRequest(string EncryptedPayload, string? Context = null);

/// <summary>The answer of <c>/rewrap</c>: the same plaintext under the key's current version.</summary>
public sealed record RewrapResult(string EncryptedPayload, Guid KeyId, int KeyVersion, string Algorithm);

/// <summary><c>POST /datakey</c>: <c>bytes</c> 16..64 (default 32).</summary>
public sealed record DataKeyRequest(Guid? KeyId = null, int? Bytes = null, bool? IncludePlaintext = null, string? Context = null);

/// <summary>A data key: <c>plaintext</c> (base64, when asked for) and the same key encrypted under the KEK.</summary>
public sealed record DataKeyResult(string? Plaintext, string EncryptedPayload, Guid KeyId, int KeyVersion, string Algorithm);

/// <summary><c>POST /sign</c>.</summary>
public sealed record SignRequest(string Message, string? Encoding = null, Guid? KeyId = null, string? Context = null);

/// <summary>The answer of <c>/sign</c>: a base64 signature.</summary>
public sealed record SignResult(string Signature, Guid KeyId, int KeyVersion, string Algorithm);

/// <summary><c>POST /verify</c>.</summary>
public sealed record VerifyRequest(string Message, string Signature, string? Encoding = null, Guid? KeyId = null, int? KeyVersion = null, string? Context = null);

/// <summary><c>{valid}</c> of <c>/verify</c> and <c>/hmac/verify</c>; a bad signature or MAC is <c>valid: false</c>.</summary>
public sealed record VerifyResult(bool Valid, Guid? KeyId, int? KeyVersion);

/// <summary><c>POST /hmac</c>.</summary>
public sealed record HmacRequest(string Message, Guid KeyId, string? Encoding = null);

/// <summary>The answer of <c>/hmac</c>: a base64 MAC.</summary>
public sealed record HmacResult(string Mac, Guid KeyId, int KeyVersion, string Algorithm);

/// <summary><c>POST /hmac/verify</c>.</summary>
public sealed record HmacVerifyRequest(string Message, string Mac, Guid KeyId, string? Encoding = null, int? KeyVersion = null);

/// <summary><c>POST /random</c>: <c>bytes</c> 1..4096, <c>encoding</c> base64 (default).</summary>
public sealed record RandomRequest(int Bytes, string? Encoding = null);

/// <summary>Random bytes and their <c>source</c> (qrng or os).</summary>
public sealed record RandomResult(string Random, string Source);
