using System.Security.Cryptography;
using System.Text;

namespace Mislata.Crypto.Envelope;

/// <summary>
/// The platform's root keys: the active <c>QAPI_MASTER_KEY</c> and, during a rotation, <c>QAPI_MASTER_KEY_PREVIOUS</c>.
/// Key bytes never leave this type except through purpose-bound derivations.
/// </summary>
public sealed class MasterKeyRing : IDisposable
{
    public const string CurrentVariable = "QAPI_MASTER_KEY";
    public const string PreviousVariable = "QAPI_MASTER_KEY_PREVIOUS";
    public const int KeyLength = 32;

    private MasterKeyRing(MasterKey current, MasterKey? previous)
    {
        Current = current;
        Previous = previous;
    }

    public MasterKey Current { get; }

    public MasterKey? Previous { get; }

    /// <summary>Finds a master key by its id (current or previous).</summary>
    public MasterKey? Find(string id) =>
        Current.Id == id ? Current : Previous is not null && Previous.Id == id ? Previous : null;

    /// <summary>
    /// Parses the two environment values. Throws <see cref="MasterKeyException"/> with a one-line reason that names
    /// the variable and never echoes its value.
    /// </summary>
    public static MasterKeyRing FromBase64(string? current, string? previous)
    {
        var currentKey = Parse(CurrentVariable, current, required: true)!;
        var previousKey = Parse(PreviousVariable, previous, required: false);
        if (previousKey is not null && previousKey.Id == currentKey.Id)
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the dropped duplicate previous key is never exposed
            previousKey.Dispose();
            previousKey = null;
        }

        return new MasterKeyRing(currentKey, previousKey);
    }

    private static MasterKey? Parse(string variable, string? value, bool required)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return required
                ? throw new MasterKeyException($"{variable} is not set: it must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`).")
                : null;
        }

        var buffer = new byte[(value.Length * 3 / 4) + 3];
        try
        {
            if (!Convert.TryFromBase64String(value.Trim(), buffer, out var written))
            {
                throw new MasterKeyException($"{variable} is malformed: it is not valid base64.");
            }

            if (written != KeyLength)
            {
                throw new MasterKeyException($"{variable} is malformed: it decodes to {written} bytes, 32 are required.");
            }

            return new MasterKey(buffer.AsSpan(0, KeyLength));
        }
        finally
        {
            // Stryker disable once Statement : unobservable hygiene (zeroing of a private buffer): the decode buffer of the environment value
            CryptographicOperations.ZeroMemory(buffer);
        }
    }

    public void Dispose()
    {
        Current.Dispose();
        Previous?.Dispose();
    }
}

/// <summary>One 32-byte master key with a public, non-secret identifier derived one-way from it (<c>mk-…</c>).</summary>
public sealed class MasterKey : RootKey
{
    internal MasterKey(ReadOnlySpan<byte> key)
        : base(key, IdOf(key))
    {
    }

    private static string IdOf(ReadOnlySpan<byte> key)
    {
        Span<byte> idBytes = stackalloc byte[8];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, key, idBytes, ReadOnlySpan<byte>.Empty, "mislata/v1/master-key-id"u8);
        return "mk-" + Convert.ToHexStringLower(idBytes);
    }
}

/// <summary>The master key configuration is missing or malformed. The message never contains key material.</summary>
public sealed class MasterKeyException(string message) : Exception(message);
