namespace Mislata.Client.Contracts;

/// <summary><c>POST /secrets</c>: <c>value</c> in <c>encoding</c> (utf8 default, or base64).</summary>
public sealed record CreateSecretRequest(
    string Name, string Value, string? Encoding = null, string? Description = null, IReadOnlyList<string>? Labels = null, string? ContentType = null,
    DateTimeOffset? ExpiresAt = null);

/// <summary><c>PUT /secrets/{id}</c>: a new version; with <c>expectedVersion</c> a check-and-set (409 when stale).</summary>
public sealed record WriteSecretRequest(string Value, string? Encoding = null, int? ExpectedVersion = null);

/// <summary><c>PATCH /secrets/{id}</c>: absent (null) members stay as they are.</summary>
public sealed record UpdateSecretRequest(string? Description = null, IReadOnlyList<string>? Labels = null, string? ContentType = null, DateTimeOffset? ExpiresAt = null);

/// <summary>The answer to a create or a write: <c>{id, name, version}</c>.</summary>
public sealed record SecretVersionCreated(Guid Id, string Name, int Version, DateTimeOffset CreatedAt);

/// <summary>A secret's metadata (never its value): <c>state</c> live or deleted.</summary>
public sealed record Secret(
    Guid Id, string Name, string? Description, IReadOnlyList<string> Labels, string? ContentType, DateTimeOffset? ExpiresAt,
    int CurrentVersion, string State, DateTimeOffset? DeletedAt, DateTimeOffset? PurgeAt, string? CreatedBy, DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>A secret's metadata and one version's <c>value</c> in <c>encoding</c>.</summary>
public sealed record SecretValue(
    Guid Id, string Name, string? Description, IReadOnlyList<string> Labels, string? ContentType, DateTimeOffset? ExpiresAt,
    int CurrentVersion, int Version, string Value, string Encoding, DateTimeOffset VersionCreatedAt, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>The value's bytes, whatever its encoding.</summary>
    public byte[] ValueBytes() => Encoding == ValueEncoding.Base64 ? Convert.FromBase64String(Value) : System.Text.Encoding.UTF8.GetBytes(Value);
}

/// <summary>One entry of a secret's version history (no value).</summary>
public sealed record SecretVersion(int Version, DateTimeOffset CreatedAt, string? CreatedBy, bool Current);

/// <summary>Filters of <c>GET /secrets</c>: <c>name</c> prefix, <c>label</c> exact, <c>state</c> live (default) or deleted.</summary>
public sealed record SecretListQuery(string? Name = null, string? Label = null, string? State = null, bool? IncludeExpired = null, int? Limit = null, string? Cursor = null);
