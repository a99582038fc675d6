namespace Mislata.Core.Keys;

/// <summary>Why a payload reference cannot be registered, or why a change of the key conflicts with registered ones.</summary>
public enum PayloadReferenceError
{
    None = 0,

    /// <summary>The reference is empty, too long or holds control characters: <c>400 validation_failed</c> on <c>reference</c>.</summary>
    InvalidReference,

    /// <summary>The envelope names another key: <c>400 invalid_payload</c>.</summary>
    OtherKey,

    /// <summary>The envelope names a version the key cannot read (below the minimum, above the current, destroyed): <c>400 invalid_payload</c>.</summary>
    VersionNotReadable,

    /// <summary>The key already holds <see cref="PayloadReferenceRules.MaxPerKey"/> references: <c>429 quota_exceeded</c>.</summary>
    QuotaExceeded,
}

/// <summary>What the registration of a payload needs to know of its key (and of the version the payload names, null when it has none).</summary>
public sealed record PayloadKey(Guid Id, KeyState State, int CurrentVersion, int MinDecryptionVersion, KeyVersionState? PayloadVersionState);

/// <summary>
/// The rules of payload references: ciphertexts a tenant stores elsewhere and registers with the key that made them, so
/// that a rewrap-all job can move them to the key's current version before <c>minDecryptionVersion</c> is raised. Pure:
/// the api and the worker load the figures and apply these.
/// </summary>
public static class PayloadReferenceRules
{
    /// <summary>A reference is the tenant's own name for a payload (a row id, an object path): 1..200 characters.</summary>
    public const int MaxReferenceLength = 200;

    /// <summary>The longest encryptedPayload a reference may hold (characters of the envelope).</summary>
    public const int MaxPayloadLength = 64 * 1024;

    /// <summary>
    /// References per key. No plan limit fits (plans bound keys, secrets, API keys and users), so this is a platform cap,
    /// documented in docs/api.md: a key past it answers <c>429 quota_exceeded</c>.
    /// </summary>
    public const int MaxPerKey = 100_000;

    /// <summary>Failed references a rewrap-all job lists (all of them are counted).</summary>
    public const int MaxListedFailures = 1_000;

    public static bool IsValidReference(string? reference) =>
        reference is { Length: > 0 and <= MaxReferenceLength } && !reference.Any(char.IsControl) && reference.Trim().Length == reference.Length;

    /// <summary>
    /// Whether a parsed envelope (<paramref name="payloadKeyId"/>, <paramref name="payloadVersion"/>) may be registered
    /// with <paramref name="key"/>, which already holds <paramref name="registered"/> references. No decryption happens:
    /// the envelope must only name this key and a version it can still read.
    /// </summary>
    public static PayloadReferenceError CheckRegistration(PayloadKey key, string? reference, Guid payloadKeyId, int payloadVersion, long registered)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!IsValidReference(reference))
        {
            return PayloadReferenceError.InvalidReference;
        }

        if (payloadKeyId != key.Id)
        {
            return PayloadReferenceError.OtherKey;
        }

        if (key.State == KeyState.Destroyed || payloadVersion < key.MinDecryptionVersion || payloadVersion > key.CurrentVersion ||
            key.PayloadVersionState is null or KeyVersionState.Destroyed)
        {
            return PayloadReferenceError.VersionNotReadable;
        }

        return registered >= MaxPerKey ? PayloadReferenceError.QuotaExceeded : PayloadReferenceError.None;
    }

    /// <summary>
    /// Whether <c>minDecryptionVersion</c> may become <paramref name="requested"/> while <paramref name="heldBelow"/>
    /// registered payloads are under older versions: raising it would make them unreadable, so it conflicts unless the
    /// caller forces it. Lowering it, or leaving it, never conflicts.
    /// </summary>
    public static bool MayRaiseMinDecryptionVersion(int current, int requested, long heldBelow, bool force) =>
        requested <= current || heldBelow == 0 || force;
}
