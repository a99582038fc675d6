using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;

namespace Mislata.Infrastructure.ApiKeys;

/// <summary>
/// The API key format: <c>qapi_</c> + 43 base64url characters (256 random bits). Stored only as
/// HMAC-SHA-256 under a platform-key-derived key, so a database leak alone cannot even confirm a guessed key. The
/// platform key outlives master-key rotations, so stored hashes stay valid across them.
/// </summary>
public sealed class ApiKeySecret(PlatformKey platformKey)
{
    public const string Marker = "qapi_";
    public const int RandomBytes = 32;
    public const int EncodedLength = 43;
    public const int TotalLength = 48;
    public const int PrefixLength = 13;
    private const string HashPurpose = "api-key-hash";

    /// <summary>A new key from <paramref name="source"/> (the api's entropy service; the OS CSPRNG when null).</summary>
    public static string Generate(IRandomSource? source = null)
    {
        Span<byte> random = stackalloc byte[RandomBytes];
        (source ?? OsRandomSource.Instance).Fill(random);
        var key = Marker + Base64Url.EncodeToString(random);
        CryptographicOperations.ZeroMemory(random);
        return key;
    }

    /// <summary>Whether a presented value has the shape of an API key (cheap, before any lookup).</summary>
    public static bool LooksLikeKey(string value)
    {
        if (value.Length != TotalLength || !value.StartsWith(Marker, StringComparison.Ordinal))
        {
            return false;
        }

        foreach (var c in value.AsSpan(Marker.Length))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    public static string PrefixOf(string key) => key[..PrefixLength];

    /// <summary>The stored hash.</summary>
    public byte[] Hash(string key)
    {
        Span<byte> hmacKey = stackalloc byte[32];
        platformKey.DeriveKey(HashPurpose, hmacKey);
        try
        {
            return HMACSHA256.HashData(hmacKey, Encoding.ASCII.GetBytes(key));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(hmacKey);
        }
    }
}
