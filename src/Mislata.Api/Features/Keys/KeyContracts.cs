using System.Text.Json;
using System.Text.Json.Serialization;
using Mislata.Core.Keys;

namespace Mislata.Api.Features.Keys;

/// <summary><c>POST /keys</c>: without <c>algorithm</c>, the default of <c>type</c> (ML-KEM-768 for encryption, ML-DSA-65 for signing).</summary>
public sealed record CreateKeyRequest(
    string? Name, string? Algorithm, string? Type, string? Description, IReadOnlyList<string?>? Tags, int? RotationPeriodDays, bool? IsDefault);

/// <summary><c>POST /keys/import</c> (BYOK): <c>material</c> is base64 or PEM for pkcs8/raw, a JWK (object or JSON text) for jwk.</summary>
public sealed record ImportKeyRequest(
    string? Name, string? Algorithm, string? Type, JsonElement? Material, string? Format, string? Description, IReadOnlyList<string?>? Tags,
    int? RotationPeriodDays, bool? IsDefault);

/// <summary>
/// <c>PATCH /keys/{id}</c>: absent fields stay; <c>rotationPeriodDays: 0</c> turns automatic rotation off; <c>description: ""</c>
/// clears it. Any other member (a name, an algorithm) is refused rather than silently ignored: they cannot change.
/// <c>force: true</c> raises <c>minDecryptionVersion</c> even above registered payload references (they stop decrypting).
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record UpdateKeyRequest(
    string? Description, IReadOnlyList<string?>? Tags, int? RotationPeriodDays, bool? IsDefault, int? MinDecryptionVersion, bool? Force = null);

public sealed record KeyVersionResponse(int Version, string State, DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt);

/// <summary>The key object of API.md (never any private material), plus <c>minDecryptionVersion</c>, <c>origin</c> and the <c>operations</c> it allows.</summary>
public sealed record KeyResponse(
    Guid Id, string Name, string Algorithm, string Type, string State, int CurrentVersion, int MinDecryptionVersion,
    IReadOnlyList<KeyVersionResponse> Versions, bool IsDefault, IReadOnlyList<string> Tags, string? Description, int? RotationPeriodDays,
    DateTimeOffset? NextRotationAt, DateTimeOffset? DeletionDate, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, string Origin,
    IReadOnlyList<string> Operations)
{
    public static KeyResponse From(Key key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new(key.Id, key.Name, key.Algorithm, KeyCatalogue.TypeName(key.Type), StateName(key.State), key.CurrentVersion, key.MinDecryptionVersion,
            [.. key.Versions.OrderBy(v => v.Version).Select(v => new KeyVersionResponse(v.Version, VersionStateName(v.State), v.CreatedAt, v.LastUsedAt))],
            key.IsDefault, key.Tags, key.Description, key.RotationPeriodDays, key.NextRotationAt, key.DeletionDate, key.CreatedAt, key.UpdatedAt,
            key.Origin == KeyOrigin.Imported ? "imported" : "generated",
            key.State == KeyState.Enabled ? KeyCatalogue.Operations(key.Info, key.Type) : []);
    }

    public static string StateName(KeyState state) => state switch
    {
        KeyState.Enabled => "enabled",
        KeyState.Disabled => "disabled",
        KeyState.PendingDeletion => "pendingDeletion",
        KeyState.Destroyed => "destroyed",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    public static bool TryParseState(string? name, out KeyState state)
    {
        (var ok, state) = name switch
        {
            "enabled" => (true, KeyState.Enabled),
            "disabled" => (true, KeyState.Disabled),
            "pendingDeletion" => (true, KeyState.PendingDeletion),
            "destroyed" => (true, KeyState.Destroyed),
            _ => (false, KeyState.Enabled),
        };
        return ok;
    }

    public static string VersionStateName(KeyVersionState state) => state switch
    {
        KeyVersionState.Active => "active",
        KeyVersionState.Deprecated => "deprecated",
        KeyVersionState.Destroyed => "destroyed",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };
}

/// <summary>
/// <c>GET /keys/{id}/public</c>: <c>publicKey</c> is base64 (raw) or PEM text (pem); for jwk the key is in <c>jwk</c>
/// (RFC 7517, AKP for ML-KEM/ML-DSA/SLH-DSA, <c>kid</c> = <c>{keyId}.{version}</c>, <c>use</c> sig|enc).
/// </summary>
public sealed record PublicKeyResponse(Guid KeyId, int Version, string Algorithm, string Format, string? PublicKey, JsonElement? Jwk);

/// <summary>RFC 7517 JWK Set.</summary>
public sealed record JwksResponse(IReadOnlyList<JsonElement> Keys);
