using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Mislata.Crypto.Certificates;

/// <summary>A parsed distinguished name: its DER (RFC 5280 Name) and its RFC 4514 string.</summary>
public sealed record DistinguishedName(byte[] Der, string Text);

/// <summary>
/// RFC 4514 strings to DER Names and back. The string lists the RDNs from the most specific (CN) to the least (C), the
/// DER from the least to the most, as RFC 4514 §2.1 says. Accepted attribute types: CN, O, OU, C, L, ST, STREET,
/// SERIALNUMBER, DC, UID and dotted OIDs; one attribute per RDN (multi-valued RDNs are refused); values as UTF8String
/// except C and SERIALNUMBER (PrintableString) and DC (IA5String); '#' hex values are refused. Escapes <c>\,</c> and
/// <c>\XX</c> (UTF-8 bytes) are read. The RFC 5280 upper bounds of each type apply.
/// </summary>
public static class DistinguishedNames
{
    public const int MaxLength = 1024;

    private static readonly Dictionary<string, (string Oid, UniversalTagNumber Tag, int Max)> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        ["CN"] = ("2.5.4.3", UniversalTagNumber.UTF8String, 64),
        ["SERIALNUMBER"] = ("2.5.4.5", UniversalTagNumber.PrintableString, 64),
        ["C"] = ("2.5.4.6", UniversalTagNumber.PrintableString, 2),
        ["L"] = ("2.5.4.7", UniversalTagNumber.UTF8String, 128),
        ["ST"] = ("2.5.4.8", UniversalTagNumber.UTF8String, 128),
        ["STREET"] = ("2.5.4.9", UniversalTagNumber.UTF8String, 128),
        ["O"] = ("2.5.4.10", UniversalTagNumber.UTF8String, 64),
        ["OU"] = ("2.5.4.11", UniversalTagNumber.UTF8String, 64),
        ["DC"] = ("0.9.2342.19200300.100.1.25", UniversalTagNumber.IA5String, 63),
        ["UID"] = ("0.9.2342.19200300.100.1.1", UniversalTagNumber.UTF8String, 256),
    };

    /// <summary>Parses an RFC 4514 string; false with a reason (no value echoed beyond the attribute type) when it is not one this CA accepts.</summary>
    public static bool TryParse(string? text, out DistinguishedName? name, out string? reason)
    {
        name = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            reason = "is required: an RFC 4514 distinguished name such as \"CN=api.example.com,O=Example\".";
            return false;
        }

        if (text.Length > MaxLength)
        {
            reason = $"must be at most {MaxLength} characters.";
            return false;
        }

        if (text.Any(c => char.IsControl(c)))
        {
            reason = "must not contain control characters.";
            return false;
        }

        var rdns = new List<(string Type, string Oid, UniversalTagNumber Tag, string Value)>();
        foreach (var part in Split(text, ',', out reason))
        {
            if (reason is not null)
            {
                return false;
            }

            if (Split(part, '+', out _).Count > 1)
            {
                reason = "has a multi-valued RDN ('+'), which this CA does not issue.";
                return false;
            }

            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                reason = "is not an RFC 4514 name: every RDN is type=value.";
                return false;
            }

            var type = part[..eq].Trim();
            var raw = part[(eq + 1)..].Trim();
            string oid;
            UniversalTagNumber tag;
            int max;
            if (Types.TryGetValue(type, out var known))
            {
                (oid, tag, max) = known;
                type = type.ToUpperInvariant();
            }
            else if (IsDottedOid(type))
            {
                (oid, tag, max) = (type, UniversalTagNumber.UTF8String, 256);
            }
            else
            {
                reason = $"has an attribute type this CA does not know ({Clip(type)}); use CN, O, OU, C, L, ST, STREET, SERIALNUMBER, DC, UID or a dotted OID.";
                return false;
            }

            if (raw.StartsWith('#'))
            {
                reason = $"{type}: hex-encoded ('#') values are not accepted.";
                return false;
            }

            var value = Unescape(raw, out reason);
            if (value is null)
            {
                reason = $"{type}: {reason}";
                return false;
            }

            if (value.Length == 0 || value.Length > max)
            {
                reason = $"{type} must be 1 to {max} characters.";
                return false;
            }

            if (tag == UniversalTagNumber.PrintableString && !value.All(IsPrintable) ||
                tag == UniversalTagNumber.IA5String && !value.All(char.IsAscii) ||
                type == "C" && !value.All(char.IsAsciiLetterUpper))
            {
                reason = type == "C" ? "C must be a two-letter upper-case country code." : $"{type} has characters its string type cannot hold.";
                return false;
            }

            rdns.Add((type, oid, tag, value));
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            // The string runs from the most specific RDN to the least; the DER the other way round.
            for (var i = rdns.Count - 1; i >= 0; i--)
            {
                using (writer.PushSetOf())
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(rdns[i].Oid);
                    writer.WriteCharacterString(rdns[i].Tag, rdns[i].Value);
                }
            }
        }

        name = new DistinguishedName(writer.Encode(), string.Join(",", rdns.Select(r => r.Type + "=" + Escape(r.Value))));
        reason = null;
        return true;
    }

    /// <summary>The RFC 4514 string of a DER Name (as .NET formats it: most specific first); null when it does not parse.</summary>
    public static string? Format(ReadOnlySpan<byte> der)
    {
        try
        {
            return new X500DistinguishedName(der).Name;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    private static List<string> Split(string text, char separator, out string? reason)
    {
        reason = null;
        var parts = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\\' && i + 1 < text.Length)
            {
                current.Append(c).Append(text[++i]);
            }
            else if (c == separator)
            {
                parts.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        parts.Add(current.ToString());
        if (parts.Any(p => p.Trim().Length == 0))
        {
            reason = "has an empty RDN.";
        }

        return parts;
    }

    private static string? Unescape(string raw, out string? reason)
    {
        reason = null;
        var bytes = new List<byte>();
        for (var i = 0; i < raw.Length; i++)
        {
            var c = raw[i];
            if (c != '\\')
            {
                if (c is '"' or '<' or '>' or ';' or '=')
                {
                    reason = $"the character '{c}' must be escaped.";
                    return null;
                }

                bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
                continue;
            }

            if (i + 1 >= raw.Length)
            {
                reason = "ends in a lone backslash.";
                return null;
            }

            var next = raw[i + 1];
            if (i + 2 < raw.Length && char.IsAsciiHexDigit(next) && char.IsAsciiHexDigit(raw[i + 2]))
            {
                bytes.Add(byte.Parse(raw.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                i += 2;
            }
            else if (next is ',' or '+' or '"' or '\\' or '<' or '>' or ';' or '=' or ' ' or '#')
            {
                bytes.Add((byte)next);
                i++;
            }
            else
            {
                reason = "has an invalid escape.";
                return null;
            }
        }

        try
        {
            return new UTF8Encoding(false, true).GetString([.. bytes]);
        }
        catch (DecoderFallbackException)
        {
            reason = "has escaped bytes that are not UTF-8.";
            return null;
        }
    }

    private static string Escape(string value)
    {
        var builder = new StringBuilder();
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is ',' or '+' or '"' or '\\' or '<' or '>' or ';' or '=' || (c == '#' && i == 0) || (c == ' ' && (i == 0 || i == value.Length - 1)))
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.ToString();
    }

    private static bool IsDottedOid(string text) =>
        text.Length is > 2 and <= 128 && char.IsAsciiDigit(text[0]) && text.All(c => char.IsAsciiDigit(c) || c == '.') && !text.Contains("..", StringComparison.Ordinal) && !text.EndsWith('.') &&
        text[0] is '0' or '1' or '2';

    private static bool IsPrintable(char c) => char.IsAsciiLetterOrDigit(c) || c is ' ' or '\'' or '(' or ')' or '+' or ',' or '-' or '.' or '/' or ':' or '=' or '?';

    private static string Clip(string text) => text.Length <= 32 ? text : text[..32] + "…";
}
