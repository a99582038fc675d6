using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mislata.Crypto.Certificates;

/// <summary>One extension in DER: extnID, critical, and the DER of its value (the content of extnValue).</summary>
public sealed record CertificateExtension(string Oid, bool Critical, byte[] Value)
{
    public static CertificateExtension From(X509Extension extension)
    {
        ArgumentNullException.ThrowIfNull(extension);
        return new(extension.Oid!.Value!, extension.Critical, extension.RawData);
    }
}

/// <summary>The fields of a TBSCertificate (v3). <see cref="SignatureAlgorithm"/> is the issuer key's Mislata algorithm.</summary>
public sealed record CertificateFields(
    byte[] SerialNumber,
    string SignatureAlgorithm,
    byte[] IssuerName,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    byte[] SubjectName,
    byte[] SubjectPublicKeyInfo,
    IReadOnlyList<CertificateExtension> Extensions);

/// <summary>One revoked certificate of a CRL. <see cref="ReasonCode"/> null: no reasonCode entry extension (RFC 5280 §5.3.1: not "unspecified").</summary>
public sealed record RevokedEntry(byte[] SerialNumber, DateTimeOffset RevokedAt, int? ReasonCode);

/// <summary>The fields of a TBSCertList (v2) with its cRLNumber and authorityKeyIdentifier.</summary>
public sealed record CrlFields(
    string SignatureAlgorithm,
    byte[] IssuerName,
    byte[] IssuerKeyIdentifier,
    DateTimeOffset ThisUpdate,
    DateTimeOffset NextUpdate,
    long CrlNumber,
    IReadOnlyList<RevokedEntry> Revoked);

/// <summary>
/// DER of RFC 5280 certificates and CRLs, written with <see cref="AsnWriter"/>: the TBS part is built here, signed by
/// the caller with the issuer's Mislata key (which never leaves the key store), and wrapped with <see cref="Signed"/>.
/// </summary>
public static class X509Writer
{
    public const string KeyUsageServerAuth = "1.3.6.1.5.5.7.3.1";
    public const string KeyUsageClientAuth = "1.3.6.1.5.5.7.3.2";
    public const string KeyUsageCodeSigning = "1.3.6.1.5.5.7.3.3";
    private const string CrlNumberOid = "2.5.29.20";
    private const string ReasonCodeOid = "2.5.29.21";
    private const string AuthorityKeyIdentifierOid = "2.5.29.35";

    public static byte[] TbsCertificate(CertificateFields fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                writer.WriteInteger(2);
            }

            WriteSerial(writer, fields.SerialNumber);
            X509Algorithms.WriteSignatureAlgorithm(writer, fields.SignatureAlgorithm);
            writer.WriteEncodedValue(fields.IssuerName);
            using (writer.PushSequence())
            {
                WriteTime(writer, fields.NotBefore);
                WriteTime(writer, fields.NotAfter);
            }

            writer.WriteEncodedValue(fields.SubjectName);
            writer.WriteEncodedValue(fields.SubjectPublicKeyInfo);
            if (fields.Extensions.Count > 0)
            {
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 3)))
                {
                    WriteExtensions(writer, fields.Extensions);
                }
            }
        }

        return writer.Encode();
    }

    public static byte[] TbsCertList(CrlFields fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(1);
            X509Algorithms.WriteSignatureAlgorithm(writer, fields.SignatureAlgorithm);
            writer.WriteEncodedValue(fields.IssuerName);
            WriteTime(writer, fields.ThisUpdate);
            WriteTime(writer, fields.NextUpdate);
            if (fields.Revoked.Count > 0)
            {
                using (writer.PushSequence())
                {
                    foreach (var entry in fields.Revoked)
                    {
                        using (writer.PushSequence())
                        {
                            WriteSerial(writer, entry.SerialNumber);
                            WriteTime(writer, entry.RevokedAt);
                            if (entry.ReasonCode is { } reason)
                            {
                                var value = new AsnWriter(AsnEncodingRules.DER);
                                value.WriteEnumeratedValue((RevocationReasonCode)reason);
                                WriteExtensions(writer, [new CertificateExtension(ReasonCodeOid, false, value.Encode())]);
                            }
                        }
                    }
                }
            }

            var number = new AsnWriter(AsnEncodingRules.DER);
            number.WriteInteger(fields.CrlNumber);
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                WriteExtensions(writer, [AuthorityKeyIdentifier(fields.IssuerKeyIdentifier), new CertificateExtension(CrlNumberOid, false, number.Encode())]);
            }
        }

        return writer.Encode();
    }

    /// <summary>Certificate or CertificateList: SEQUENCE { tbs, signatureAlgorithm, signatureValue }.</summary>
    public static byte[] Signed(byte[] tbs, string algorithm, byte[] mislataSignature)
    {
        ArgumentNullException.ThrowIfNull(tbs);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(tbs);
            X509Algorithms.WriteSignatureAlgorithm(writer, algorithm);
            writer.WriteBitString(X509Algorithms.ToX509Signature(algorithm, mislataSignature));
        }

        return writer.Encode();
    }

    /// <summary>A random positive serial of 16 bytes (RFC 5280 §4.1.2.2: at most 20 octets; CA/B BR: ≥ 64 random bits).</summary>
    public static byte[] NewSerialNumber(Func<int, byte[]> randomBytes)
    {
        ArgumentNullException.ThrowIfNull(randomBytes);
        var serial = randomBytes(16);
        serial[0] &= 0x7F;

        // Never zero and never with a leading zero byte, so the DER INTEGER is always 16 octets.
        serial[0] |= 0x40;
        return serial;
    }

    /// <summary>SHA-1 of the subjectPublicKey BIT STRING of an SPKI (RFC 5280 §4.2.1.2 method 1).</summary>
    public static byte[] KeyIdentifier(byte[] subjectPublicKeyInfo)
    {
        var reader = new AsnReader(subjectPublicKeyInfo, AsnEncodingRules.DER).ReadSequence();
        reader.ReadSequence();
        var key = reader.ReadBitString(out _);
#pragma warning disable CA5350 // SHA-1 is what RFC 5280 names for key identifiers; no security rests on it.
        return SHA1.HashData(key);
#pragma warning restore CA5350
    }

    public static CertificateExtension AuthorityKeyIdentifier(byte[] keyIdentifier)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteOctetString(keyIdentifier, new Asn1Tag(TagClass.ContextSpecific, 0));
        }

        return new CertificateExtension(AuthorityKeyIdentifierOid, false, writer.Encode());
    }

    public static CertificateExtension SubjectKeyIdentifier(byte[] keyIdentifier) =>
        CertificateExtension.From(new X509SubjectKeyIdentifierExtension(keyIdentifier, false));

    public static CertificateExtension BasicConstraints(bool certificateAuthority, int? pathLength) =>
        CertificateExtension.From(new X509BasicConstraintsExtension(certificateAuthority, pathLength is not null, pathLength ?? 0, true));

    public static CertificateExtension KeyUsage(X509KeyUsageFlags flags) => CertificateExtension.From(new X509KeyUsageExtension(flags, true));

    public static CertificateExtension ExtendedKeyUsage(params string[] oids)
    {
        var collection = new OidCollection();
        foreach (var oid in oids)
        {
            collection.Add(new Oid(oid));
        }

        return CertificateExtension.From(new X509EnhancedKeyUsageExtension(collection, false));
    }

    /// <summary>
    /// subjectAltName (RFC 5280 §4.2.1.6) from already validated names: dNSName [2], rfc822Name [1], URI [6] as IA5String,
    /// iPAddress [7] as the 4 or 16 address octets. Critical only when the subject is empty.
    /// </summary>
    public static CertificateExtension SubjectAltNames(
        IEnumerable<string> dnsNames, IEnumerable<System.Net.IPAddress> addresses, IEnumerable<string> emails, IEnumerable<string> uris, bool critical)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var email in emails)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, email, new Asn1Tag(TagClass.ContextSpecific, 1));
            }

            foreach (var dns in dnsNames)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, dns, new Asn1Tag(TagClass.ContextSpecific, 2));
            }

            foreach (var uri in uris)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
            }

            foreach (var address in addresses)
            {
                writer.WriteOctetString(address.GetAddressBytes(), new Asn1Tag(TagClass.ContextSpecific, 7));
            }
        }

        return new CertificateExtension("2.5.29.17", critical, writer.Encode());
    }

    /// <summary>Time per RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, UTC.</summary>
    public static void WriteTime(AsnWriter writer, DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var utc = Truncate(time);
        if (utc.Year < 2050)
        {
            writer.WriteUtcTime(utc, 2049);
        }
        else
        {
            writer.WriteGeneralizedTime(utc, omitFractionalSeconds: true);
        }
    }

    public static DateTimeOffset Truncate(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);

    private static void WriteExtensions(AsnWriter writer, IEnumerable<CertificateExtension> extensions)
    {
        using (writer.PushSequence())
        {
            foreach (var extension in extensions)
            {
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(extension.Oid);
                    if (extension.Critical)
                    {
                        writer.WriteBoolean(true);
                    }

                    writer.WriteOctetString(extension.Value);
                }
            }
        }
    }

    private static void WriteSerial(AsnWriter writer, byte[] unsignedBigEndian) =>
        writer.WriteInteger(new BigInteger(unsignedBigEndian, isUnsigned: true, isBigEndian: true));

    /// <summary>The RFC 5280 CRLReason values (8 removeFromCRL is for delta CRLs, never written here).</summary>
    private enum RevocationReasonCode
    {
        Unspecified = 0,
        KeyCompromise = 1,
        CaCompromise = 2,
        AffiliationChanged = 3,
        Superseded = 4,
        CessationOfOperation = 5,
        CertificateHold = 6,
        PrivilegeWithdrawn = 9,
        AaCompromise = 10,
    }
}
