using System.Security.Cryptography;
using System.Text;
using Mislata.Crypto;
using Mislata.Crypto.Algorithms;

namespace Mislata.Core.Ssh;

/// <summary>
/// An OpenSSH public key (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709): its type name and its wire blob (which starts with that
/// name). Subject keys of certificates are parsed and checked here (a valid point, an RSA modulus of 2048 bits or more);
/// a CA key is built from a Mislata key's public part.
/// </summary>
public sealed class SshPublicKey
{
    public const string Ed25519 = "ssh-ed25519";
    public const string EcdsaP256 = "ecdsa-sha2-nistp256";
    public const string EcdsaP384 = "ecdsa-sha2-nistp384";
    public const string Rsa = "ssh-rsa";

    /// <summary>The longest authorized_keys line accepted (an RSA-16384 key is about 2.8 KB of base64).</summary>
    public const int MaxLineLength = 8192;

    public const int MinRsaBits = 2048;
    public const int MaxRsaBits = 16384;

    private readonly byte[] _blob;

    private SshPublicKey(string type, byte[] blob)
    {
        Type = type;
        _blob = blob;
    }

    /// <summary>The key's type name: <c>ssh-ed25519</c>, <c>ecdsa-sha2-nistp256</c>, <c>ecdsa-sha2-nistp384</c> or <c>ssh-rsa</c>.</summary>
    public string Type { get; }

    /// <summary>The wire encoding: string type, then the key's fields.</summary>
    public ReadOnlySpan<byte> Blob => _blob;

    /// <summary>The key's fields after its type name, as a certificate of this key carries them.</summary>
    public ReadOnlySpan<byte> Fields => _blob.AsSpan(4 + Encoding.ASCII.GetByteCount(Type));

    /// <summary>The OpenSSH fingerprint: <c>SHA256:</c> and the unpadded base64 of the blob's SHA-256 (as <c>ssh-keygen -l</c> prints it).</summary>
    public string Fingerprint => FingerprintOf(_blob);

    /// <summary>The authorized_keys form: type, base64 blob and an optional comment.</summary>
    public string ToLine(string? comment = null) =>
        Type + " " + Convert.ToBase64String(_blob) + (string.IsNullOrEmpty(comment) ? string.Empty : " " + comment);

    public static string FingerprintOf(ReadOnlySpan<byte> blob) => "SHA256:" + Convert.ToBase64String(SHA256.HashData(blob)).TrimEnd('=');

    /// <summary>The SSH form of a Mislata Ed25519 or ECDSA P-256/P-384 public key (a CA key).</summary>
    public static SshPublicKey FromMislata(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Algorithm switch
        {
            AlgorithmNames.Ed25519 => new(Ed25519, new SshWriter().String(Ed25519).String(key.Raw).ToArray()),
            AlgorithmNames.EcdsaP256 => new(EcdsaP256, new SshWriter().String(EcdsaP256).String("nistp256").String(key.Raw).ToArray()),
            AlgorithmNames.EcdsaP384 => new(EcdsaP384, new SshWriter().String(EcdsaP384).String("nistp384").String(key.Raw).ToArray()),
            _ => throw new ArgumentOutOfRangeException(nameof(key), key.Algorithm, "not an SSH CA algorithm"),
        };
    }

    /// <summary>
    /// Parses an authorized_keys style line (<c>type base64 [comment]</c>, no options). False with a reason that names
    /// the defect, never the input, for anything else: another type, a certificate, a blob that does not match its type,
    /// an invalid point, a short RSA modulus.
    /// </summary>
    public static bool TryParse(string? line, out SshPublicKey? key, out string reason)
    {
        key = null;
        if (string.IsNullOrWhiteSpace(line))
        {
            reason = "is required: an OpenSSH public key line (e.g. \"ssh-ed25519 AAAA… user@host\").";
            return false;
        }

        if (line.Length > MaxLineLength)
        {
            reason = $"must be at most {MaxLineLength} characters.";
            return false;
        }

        var parts = line.Trim().Split((char[])[' ', '\t'], 3, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2)
        {
            reason = "must be \"<type> <base64> [comment]\" as in an authorized_keys or .pub file.";
            return false;
        }

        var type = parts[0];
        if (type.EndsWith("-cert-v01@openssh.com", StringComparison.Ordinal))
        {
            reason = "is a certificate; send the plain public key.";
            return false;
        }

        if (type is not (Ed25519 or EcdsaP256 or EcdsaP384 or Rsa))
        {
            reason = $"has an unsupported key type; one of {Ed25519}, {EcdsaP256}, {EcdsaP384}, {Rsa} (≥ {MinRsaBits} bits).";
            return false;
        }

        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(parts[1]);
        }
        catch (FormatException)
        {
            reason = "has a key part that is not base64.";
            return false;
        }

        try
        {
            reason = Check(type, blob);
        }
        catch (FormatException)
        {
            reason = "has a malformed key blob.";
        }

        if (reason.Length > 0)
        {
            return false;
        }

        key = new SshPublicKey(type, blob);
        return true;
    }

    /// <summary>Empty when the blob is a valid key of <paramref name="type"/>, else why not.</summary>
    private static string Check(string type, byte[] blob)
    {
        var reader = new SshReader(blob);
        if (reader.Text() != type)
        {
            return "has a key blob of another type than the line names.";
        }

        switch (type)
        {
            case Ed25519:
            {
                var point = reader.String();
                reader.End();
                return Valid(AlgorithmNames.Ed25519, point) ? string.Empty : "is not a valid Ed25519 public key.";
            }

            case EcdsaP256:
            case EcdsaP384:
            {
                var curve = reader.Text();
                var point = reader.String();
                reader.End();
                var (expected, algorithm) = type == EcdsaP256 ? ("nistp256", AlgorithmNames.EcdsaP256) : ("nistp384", AlgorithmNames.EcdsaP384);
                return curve == expected && Valid(algorithm, point) ? string.Empty : $"is not a valid {expected} public key.";
            }

            default:
            {
                var e = reader.PositiveMpInt().ToArray();
                var n = reader.PositiveMpInt().ToArray();
                reader.End();
                var bits = n.Length == 0 ? 0 : ((n.Length - 1) * 8) + (32 - System.Numerics.BitOperations.LeadingZeroCount((uint)n[0]));
                if (bits is < MinRsaBits or > MaxRsaBits)
                {
                    return $"is an RSA key of {bits} bits; {MinRsaBits} to {MaxRsaBits} bits are accepted.";
                }

                if (e.Length is 0 or > 8 || (e[^1] & 1) == 0 || (e.Length == 1 && e[0] < 3))
                {
                    return "is an RSA key with an invalid public exponent.";
                }

                try
                {
                    using var rsa = RSA.Create();
                    rsa.ImportParameters(new RSAParameters { Exponent = e, Modulus = n });
                    return string.Empty;
                }
                catch (CryptographicException)
                {
                    return "is not a valid RSA public key.";
                }
            }
        }
    }

    private static bool Valid(string algorithm, ReadOnlySpan<byte> raw)
    {
        try
        {
            PublicKey.FromRaw(algorithm, KeyType.Signing, raw);
            return true;
        }
        catch (CryptoException)
        {
            return false;
        }
    }
}
