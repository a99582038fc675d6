using Mislata.Crypto.Algorithms;

namespace Mislata.Core.Ssh;

/// <summary>The certificate types of OpenSSH PROTOCOL.certkeys (the uint32 <c>type</c> field).</summary>
public enum SshCertificateType
{
    User = 1,
    Host = 2,
}

/// <summary>What a certificate certifies. Options and extensions are kept in the lexical order the format requires.</summary>
public sealed record SshCertificateFields(
    SshCertificateType Type,
    SshPublicKey SubjectKey,
    ulong Serial,
    string KeyId,
    IReadOnlyList<string> Principals,
    DateTimeOffset ValidAfter,
    DateTimeOffset ValidBefore,
    IReadOnlyList<KeyValuePair<string, string>> CriticalOptions,
    IReadOnlyList<string> Extensions);

/// <summary>A certificate read back from its wire blob (<see cref="SshCertificateFormat.Parse"/>).</summary>
public sealed record ParsedSshCertificate(
    string CertificateType,
    byte[] Nonce,
    string SubjectKeyType,
    byte[] SubjectKeyFields,
    ulong Serial,
    SshCertificateType Type,
    string KeyId,
    IReadOnlyList<string> Principals,
    ulong ValidAfter,
    ulong ValidBefore,
    IReadOnlyList<KeyValuePair<string, string>> CriticalOptions,
    IReadOnlyList<string> Extensions,
    byte[] SignatureKey,
    string SignatureAlgorithm,
    byte[] Signature,
    int SignedLength);

/// <summary>
/// The OpenSSH certificate encoding (PROTOCOL.certkeys, <c>*-cert-v01@openssh.com</c>) for Ed25519 and ECDSA CA keys: the
/// body up to and including the signature key is what the CA signs; the signature is an SSH signature blob (RFC 8709
/// for Ed25519, RFC 5656 §3.1.2 with r and s as mpints for ECDSA). Critical options and extensions are written sorted
/// by name (byte order) with no duplicates, as OpenSSH requires; option values are strings inside the data string,
/// flags carry empty data.
/// </summary>
public static class SshCertificateFormat
{
    private const string Suffix = "-cert-v01@openssh.com";

    /// <summary>The flag critical options (empty data); every other option carries a value.</summary>
    public static readonly IReadOnlySet<string> FlagOptions = new HashSet<string>(StringComparer.Ordinal) { "verify-required" };

    public static string CertificateTypeOf(string keyType) => keyType + Suffix;

    /// <summary>The signed part: type name, nonce, subject key fields, serial … reserved, signature key.</summary>
    public static byte[] ToBeSigned(SshCertificateFields fields, ReadOnlySpan<byte> nonce, SshPublicKey caKey)
    {
        ArgumentNullException.ThrowIfNull(fields);
        ArgumentNullException.ThrowIfNull(caKey);
        var principals = new SshWriter();
        foreach (var principal in fields.Principals)
        {
            principals.String(principal);
        }

        var options = new SshWriter();
        foreach (var (name, value) in fields.CriticalOptions.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            options.String(name).String(FlagOptions.Contains(name) ? [] : new SshWriter().String(value).ToArray());
        }

        var extensions = new SshWriter();
        foreach (var name in fields.Extensions.Order(StringComparer.Ordinal))
        {
            extensions.String(name).String([]);
        }

        return new SshWriter()
            .String(CertificateTypeOf(fields.SubjectKey.Type))
            .String(nonce)
            .Raw(fields.SubjectKey.Fields)
            .UInt64(fields.Serial)
            .UInt32((uint)fields.Type)
            .String(fields.KeyId)
            .String(principals.ToArray())
            .UInt64(Seconds(fields.ValidAfter))
            .UInt64(Seconds(fields.ValidBefore))
            .String(options.ToArray())
            .String(extensions.ToArray())
            .String([])
            .String(caKey.Blob)
            .ToArray();
    }

    /// <summary>
    /// The SSH signature blob of a Mislata signature by the CA key: Ed25519's 64 bytes as they are; ECDSA's IEEE P1363
    /// r‖s (SHA-256 for P-256, SHA-384 for P-384, as the ecdsa-sha2-* names require) as two mpints.
    /// </summary>
    public static byte[] SignatureBlob(SshPublicKey caKey, ReadOnlySpan<byte> signature)
    {
        ArgumentNullException.ThrowIfNull(caKey);
        if (caKey.Type == SshPublicKey.Ed25519)
        {
            return new SshWriter().String(SshPublicKey.Ed25519).String(signature).ToArray();
        }

        var half = signature.Length / 2;
        var rs = new SshWriter().MpInt(signature[..half]).MpInt(signature[half..]).ToArray();
        return new SshWriter().String(caKey.Type).String(rs).ToArray();
    }

    /// <summary>The whole certificate blob: the signed part and the signature string.</summary>
    public static byte[] Assemble(ReadOnlySpan<byte> toBeSigned, ReadOnlySpan<byte> signatureBlob) =>
        new SshWriter().Raw(toBeSigned).String(signatureBlob).ToArray();

    /// <summary>The <c>-cert.pub</c> line: certificate type, base64 blob, comment.</summary>
    public static string ToLine(string subjectKeyType, ReadOnlySpan<byte> certificate, string? comment) =>
        CertificateTypeOf(subjectKeyType) + " " + Convert.ToBase64String(certificate) + (string.IsNullOrEmpty(comment) ? string.Empty : " " + comment);

    /// <summary>UNIX seconds; OpenSSH's "forever" is 2^64-1, never produced here.</summary>
    public static ulong Seconds(DateTimeOffset time) => (ulong)time.ToUnixTimeSeconds();

    /// <summary>Reads a certificate blob back (strict: every length checked, nothing trailing). Throws <see cref="FormatException"/>.</summary>
    public static ParsedSshCertificate Parse(ReadOnlySpan<byte> blob)
    {
        var reader = new SshReader(blob);
        var certificateType = reader.Text();
        if (!certificateType.EndsWith(Suffix, StringComparison.Ordinal))
        {
            throw new FormatException("not a certificate type");
        }

        var subjectType = certificateType[..^Suffix.Length];
        var nonce = reader.String().ToArray();
        var fieldsStart = blob.Length - reader.Remaining;
        switch (subjectType)
        {
            case SshPublicKey.Ed25519:
                reader.String();
                break;
            case SshPublicKey.EcdsaP256:
            case SshPublicKey.EcdsaP384:
                reader.String();
                reader.String();
                break;
            case SshPublicKey.Rsa:
                reader.PositiveMpInt();
                reader.PositiveMpInt();
                break;
            default:
                throw new FormatException("unsupported subject key type");
        }

        var subjectFields = blob[fieldsStart..(blob.Length - reader.Remaining)].ToArray();
        var serial = reader.UInt64();
        var type = reader.UInt32();
        if (type is not (1 or 2))
        {
            throw new FormatException("unknown certificate type");
        }

        var keyId = reader.Text();
        var principals = new List<string>();
        var principalReader = new SshReader(reader.String());
        while (!principalReader.IsEmpty)
        {
            principals.Add(principalReader.Text());
        }

        var validAfter = reader.UInt64();
        var validBefore = reader.UInt64();
        var options = new List<KeyValuePair<string, string>>();
        var optionReader = new SshReader(reader.String());
        while (!optionReader.IsEmpty)
        {
            var name = optionReader.Text();
            var data = optionReader.String();
            string value;
            if (data.IsEmpty)
            {
                value = string.Empty;
            }
            else
            {
                var inner = new SshReader(data);
                value = inner.Text();
                inner.End();
            }

            options.Add(new(name, value));
        }

        var extensions = new List<string>();
        var extensionReader = new SshReader(reader.String());
        while (!extensionReader.IsEmpty)
        {
            extensions.Add(extensionReader.Text());
            extensionReader.String();
        }

        reader.String(); // reserved
        var signatureKey = reader.String().ToArray();
        var signedLength = blob.Length - reader.Remaining;
        var signatureReader = new SshReader(reader.String());
        reader.End();
        var signatureAlgorithm = signatureReader.Text();
        var signature = signatureReader.String().ToArray();
        signatureReader.End();
        return new ParsedSshCertificate(certificateType, nonce, subjectType, subjectFields, serial, (SshCertificateType)type, keyId, principals,
            validAfter, validBefore, options, extensions, signatureKey, signatureAlgorithm, signature, signedLength);
    }

    /// <summary>
    /// Whether the certificate's signature verifies under its own signature key with Mislata's verifiers (Ed25519 or
    /// ECDSA; the ECDSA mpints are turned back into fixed-length r‖s). Throws <see cref="FormatException"/> on a malformed blob.
    /// </summary>
    public static bool VerifySignature(ReadOnlySpan<byte> blob, ParsedSshCertificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var keyReader = new SshReader(certificate.SignatureKey);
        var keyType = keyReader.Text();
        if (keyType != certificate.SignatureAlgorithm)
        {
            return false;
        }

        string algorithm;
        byte[] raw;
        byte[] signature;
        switch (keyType)
        {
            case SshPublicKey.Ed25519:
                algorithm = AlgorithmNames.Ed25519;
                raw = keyReader.String().ToArray();
                signature = certificate.Signature;
                break;
            case SshPublicKey.EcdsaP256:
            case SshPublicKey.EcdsaP384:
            {
                var p256 = keyType == SshPublicKey.EcdsaP256;
                algorithm = p256 ? AlgorithmNames.EcdsaP256 : AlgorithmNames.EcdsaP384;
                var size = p256 ? 32 : 48;
                if (keyReader.Text() != (p256 ? "nistp256" : "nistp384"))
                {
                    return false;
                }

                raw = keyReader.String().ToArray();
                var rs = new SshReader(certificate.Signature);
                var r = rs.PositiveMpInt();
                var s = rs.PositiveMpInt();
                rs.End();
                if (r.Length > size || s.Length > size)
                {
                    return false;
                }

                signature = new byte[2 * size];
                r.CopyTo(signature.AsSpan(size - r.Length));
                s.CopyTo(signature.AsSpan((2 * size) - s.Length));
                break;
            }

            default:
                return false;
        }

        keyReader.End();
        var publicKey = PublicKey.FromRaw(algorithm, KeyType.Signing, raw);
        return AlgorithmRegistry.Default.GetSigner(algorithm).Verify(publicKey, blob[..certificate.SignedLength], [], signature);
    }

    /// <summary>The certificate's text in a <c>-cert.pub</c> line, decoded (a convenience for readers of lines).</summary>
    public static byte[] BlobOfLine(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var parts = line.Trim().Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 ? Convert.FromBase64String(parts[1]) : throw new FormatException("not a certificate line");
    }
}
