using System.Text.Json;

namespace Mislata.Client.Contracts;

/// <summary><c>POST /keys</c>: without <c>algorithm</c>, the default of <c>type</c> (ML-KEM-768 for encryption, ML-DSA-65 for signing).</summary>
public sealed record CreateKeyRequest(
    string Name, string? Algorithm = null, string? Type = null, string? Description = null, IReadOnlyList<string>? Tags = null,
    int? RotationPeriodDays = null, bool? IsDefault = null);

/// <summary><c>POST /keys/import</c> (BYOK): <c>material</c> is base64 or PEM text for pkcs8/raw, a JWK for jwk.</summary>
public sealed record ImportKeyRequest(
    string Name, string Algorithm, JsonElement Material, string Format, string? Type = null, string? Description = null,
    IReadOnlyList<string>? Tags = null, int? RotationPeriodDays = null, bool? IsDefault = null);

/// <summary><c>PATCH /keys/{id}</c>: absent (null) members stay as they are.</summary>
public sealed record UpdateKeyRequest(
    string? Description = null, IReadOnlyList<string>? Tags = null, int? RotationPeriodDays = null, bool? IsDefault = null, int? MinDecryptionVersion = null,
    bool? Force = null);

/// <summary>A version of a key: <c>state</c> active, deprecated or destroyed.</summary>
public sealed record KeyVersion(int Version, string State, DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt);

/// <summary>
/// The key object (never any private material): <c>state</c> enabled, disabled, pendingDeletion or destroyed;
/// <c>operations</c> lists what an enabled key allows.
/// </summary>
public sealed record Key(
    Guid Id, string Name, string Algorithm, string Type, string State, int CurrentVersion, int MinDecryptionVersion,
    IReadOnlyList<KeyVersion> Versions, bool IsDefault, IReadOnlyList<string> Tags, string? Description, int? RotationPeriodDays,
    DateTimeOffset? NextRotationAt, DateTimeOffset? DeletionDate, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, string? Origin,
    IReadOnlyList<string>? Operations);

/// <summary>Filters of <c>GET /keys</c>.</summary>
public sealed record KeyListQuery(string? Algorithm = null, string? State = null, string? Tag = null, string? Name = null, int? Limit = null, string? Cursor = null);

/// <summary>
/// <c>GET /keys/{id}/public</c>: <c>publicKey</c> is base64 (raw) or PEM text (pem); for jwk the key is in <c>jwk</c>.
/// </summary>
public sealed record PublicKey(
    Guid KeyId, int Version, string Algorithm, string Format, [property: System.Text.Json.Serialization.JsonPropertyName("publicKey")] string? PublicKeyText, JsonElement? Jwk)
{
    /// <summary>The raw encoding, when <see cref="Format"/> is <c>raw</c>.</summary>
    public byte[] RawBytes() => Format == "raw" && PublicKeyText is not null
        ? Convert.FromBase64String(PublicKeyText)
        : throw new InvalidOperationException("the public key was not fetched with format=raw");
}

/// <summary>RFC 7517 JWK Set of the tenant's enabled asymmetric keys.</summary>
public sealed record JsonWebKeySet(IReadOnlyList<JsonElement> Keys);

/// <summary><c>POST /keys/{id}/payloads</c>: a ciphertext you store elsewhere, under your own reference (1..200 characters, unique per key).</summary>
public sealed record RegisterPayloadRequest(string Reference, string EncryptedPayload, string? Context = null);

/// <summary>A registered payload reference (the context is never echoed).</summary>
public sealed record PayloadReference(
    string Reference, string EncryptedPayload, int KeyVersion, bool HasContext, DateTimeOffset RegisteredAt, DateTimeOffset UpdatedAt);

/// <summary>A key job (rewrap-all): <c>state</c> queued, running, succeeded or failed.</summary>
public sealed record KeyJob(
    Guid JobId, Guid KeyId, string Kind, string State, int Total, int Done, int Failed, IReadOnlyList<string> FailedReferences,
    DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error);

/// <summary>One version's coverage: registered payloads and encryptions Mislata made under it.</summary>
public sealed record VersionCoverage(int Version, string State, long RegisteredPayloads, long Encryptions);

/// <summary><c>GET /keys/{id}/coverage</c>.</summary>
public sealed record KeyCoverage(Guid KeyId, int CurrentVersion, int MinDecryptionVersion, long RegisteredBelowCurrent, IReadOnlyList<VersionCoverage> Versions);
