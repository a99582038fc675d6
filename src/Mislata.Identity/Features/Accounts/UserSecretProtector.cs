using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Mislata.Crypto.Envelope;

namespace Mislata.Identity.Features.Accounts;

/// <summary>
/// Encrypts a user's second-factor secrets — the TOTP seed and the recovery codes — before they reach
/// <c>identity."AspNetUserTokens"</c>: AES-256-GCM under a key derived from the platform key (purpose
/// <see cref="Purpose"/>), with associated data binding the value to the user id, the token and the platform key id,
/// so a value copied to another user or token does not decrypt. Stored form:
/// <c>mislata:v1:&lt;platform key id&gt;:&lt;base64url(nonce ‖ ciphertext ‖ tag)&gt;</c>. A value without that prefix was
/// written before encryption existed: it is read as it is and re-encrypted (see <see cref="ProtectedUserStore"/>).
/// </summary>
internal sealed class UserSecretProtector(PlatformKey platformKey)
{
    /// <summary>ASP.NET Core Identity's own provider name for the tokens its store keeps for itself.</summary>
    public const string InternalLoginProvider = "[AspNetUserStore]";

    public const string AuthenticatorKeyName = "AuthenticatorKey";

    public const string RecoveryCodesName = "RecoveryCodes";

    internal const string Purpose = "identity-user-secrets";

    private const string Prefix = "mislata:v1:";
    private const int NonceLength = 12;
    private const int TagLength = 16;

    /// <summary>Whether a user token is one of the secrets kept encrypted.</summary>
    public static bool IsSecret(string loginProvider, string name) =>
        loginProvider == InternalLoginProvider && name is AuthenticatorKeyName or RecoveryCodesName;

    /// <summary>Whether <paramref name="stored"/> is already encrypted under the platform key.</summary>
    public bool IsCurrent(string stored) => stored.StartsWith(Prefix + platformKey.Id + ":", StringComparison.Ordinal);

    public static bool IsEncrypted(string stored) => stored.StartsWith(Prefix, StringComparison.Ordinal);

    public string Protect(Guid userId, string name, string plaintext)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var master = platformKey;
        var clear = Encoding.UTF8.GetBytes(plaintext);
        var blob = new byte[NonceLength + clear.Length + TagLength];
        Span<byte> key = stackalloc byte[32];
        try
        {
            master.DeriveKey(Purpose, key);
            RandomNumberGenerator.Fill(blob.AsSpan(0, NonceLength));
            using var aes = new AesGcm(key, TagLength);
            aes.Encrypt(blob.AsSpan(0, NonceLength), clear, blob.AsSpan(NonceLength, clear.Length), blob.AsSpan(NonceLength + clear.Length), AssociatedData(userId, name, master.Id));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(clear);
        }

        return Prefix + master.Id + ":" + Base64Url.EncodeToString(blob);
    }

    /// <summary>
    /// The plaintext of a stored value: decrypted when encrypted, as it is when written before encryption. False when
    /// the value does not decrypt (altered, moved to another user or token, or under another platform key).
    /// </summary>
    public bool TryUnprotect(Guid userId, string name, string stored, out string plaintext)
    {
        ArgumentNullException.ThrowIfNull(stored);
        plaintext = string.Empty;
        if (!IsEncrypted(stored))
        {
            plaintext = stored;
            return true;
        }

        var parts = stored[Prefix.Length..].Split(':');
        if (parts.Length != 2 || !string.Equals(parts[0], platformKey.Id, StringComparison.Ordinal))
        {
            return false;
        }

        var master = platformKey;

        byte[] blob;
        try
        {
            blob = Base64Url.DecodeFromChars(parts[1]);
        }
        catch (FormatException)
        {
            return false;
        }

        if (blob.Length < NonceLength + TagLength)
        {
            return false;
        }

        var clear = new byte[blob.Length - NonceLength - TagLength];
        Span<byte> key = stackalloc byte[32];
        try
        {
            master.DeriveKey(Purpose, key);
            using var aes = new AesGcm(key, TagLength);
            aes.Decrypt(blob.AsSpan(0, NonceLength), blob.AsSpan(NonceLength, clear.Length), blob.AsSpan(NonceLength + clear.Length), clear, AssociatedData(userId, name, master.Id));
            plaintext = Encoding.UTF8.GetString(clear);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(clear);
        }
    }

    private static byte[] AssociatedData(Guid userId, string name, string masterKeyId) =>
        Encoding.ASCII.GetBytes($"mislata/v1/identity-user-secret|{userId:D}|{InternalLoginProvider}|{name}|{masterKeyId}");
}
