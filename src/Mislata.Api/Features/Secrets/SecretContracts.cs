using System.Text.Json;
using System.Text.Json.Serialization;
using Mislata.Core.Secrets;

namespace Mislata.Api.Features.Secrets;

/// <summary><c>POST /secrets</c>: <c>value</c> in <c>encoding</c> (<c>utf8</c> default, or <c>base64</c>), at most 64 KiB once decoded.</summary>
public sealed record CreateSecretRequest(
    string? Name, string? Value, string? Encoding, string? Description, IReadOnlyList<string?>? Labels, string? ContentType, DateTimeOffset? ExpiresAt);

/// <summary><c>PUT /secrets/{id}</c>: a new version; with <c>expectedVersion</c>, only if it is still the current one (else 409).</summary>
public sealed record WriteSecretRequest(string? Value, string? Encoding, int? ExpectedVersion);

/// <summary>
/// <c>PATCH /secrets/{id}</c>: absent fields stay; <c>description: ""</c> and <c>contentType: ""</c> clear them;
/// <c>expiresAt: null</c> removes the expiry. Any other member (a name, a value) is refused rather than ignored.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record UpdateSecretRequest(string? Description, IReadOnlyList<string?>? Labels, string? ContentType, JsonElement ExpiresAt);

/// <summary>The answer to a create or a write: the secret and the version just stored (API.md <c>{id, name, version}</c>).</summary>
public sealed record SecretVersionCreated(Guid Id, string Name, int Version, DateTimeOffset CreatedAt);

/// <summary>A secret's metadata: never its value.</summary>
public sealed record SecretResponse(
    Guid Id, string Name, string? Description, IReadOnlyList<string> Labels, string? ContentType, DateTimeOffset? ExpiresAt,
    int CurrentVersion, string State, DateTimeOffset? DeletedAt, DateTimeOffset? PurgeAt, string CreatedBy, DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public static SecretResponse From(Secret s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return new(s.Id, s.Name, s.Description, s.Labels, s.ContentType, s.ExpiresAt, s.CurrentVersion, StateName(s.State), s.DeletedAt, s.PurgeAt,
            s.CreatedBy, s.CreatedAt, s.UpdatedAt);
    }

    public static string StateName(SecretState state) => state switch
    {
        SecretState.Live => "live",
        SecretState.Deleted => "deleted",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };
}

/// <summary><c>GET /secrets/{id}</c>: the metadata plus one version's <c>value</c> in <c>encoding</c>.</summary>
public sealed record SecretValueResponse(
    Guid Id, string Name, string? Description, IReadOnlyList<string> Labels, string? ContentType, DateTimeOffset? ExpiresAt,
    int CurrentVersion, int Version, string Value, string Encoding, DateTimeOffset VersionCreatedAt, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>One entry of <c>GET /secrets/{id}/versions</c> (no value).</summary>
public sealed record SecretVersionResponse(int Version, DateTimeOffset CreatedAt, string CreatedBy, bool Current);
