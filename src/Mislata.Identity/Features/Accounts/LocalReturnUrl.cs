namespace Mislata.Identity.Features.Accounts;

/// <summary>
/// The one check for every return or redirect parameter of identity's pages (login, second factor, the cookie
/// handler's own ReturnUrl): only a path of this site is followed, anything else becomes <see cref="Default"/>.
/// </summary>
/// <remarks>
/// Browsers drop tabs and line breaks inside URLs and read <c>\</c> as <c>/</c>, so <c>/\t/evil.example</c> and
/// <c>/\evil.example</c> both become the scheme-relative <c>//evil.example</c>. The check therefore allows only
/// printable ASCII without backslash, a single leading <c>/</c>, and no <c>//</c>; and since a later hop (a proxy,
/// a framework, a second redirect) may decode the path once more, the path is also percent-decoded repeatedly and
/// each decoding must pass the same rules (<c>%2f%2f</c>, <c>%5c</c>, <c>%09</c>, <c>%0a</c>, <c>%252f</c>…).
/// The query and fragment are data, not location: they may carry encoded <c>/</c> and spaces (an authorize
/// request's <c>redirect_uri</c> and <c>scope</c>), but never an encoded control character.
/// </remarks>
internal static class LocalReturnUrl
{
    public const string Default = "/account";

    /// <summary>Longer return URLs are refused (an authorize request with PKCE and state fits easily).</summary>
    public const int MaxLength = 2048;

    /// <summary>How many percent-decodings of the path are checked; a path still changing after that is refused.</summary>
    private const int MaxDecodings = 3;

    /// <summary><paramref name="candidate"/> when it is a strict local path, otherwise <see cref="Default"/>.</summary>
    public static string OrDefault(string? candidate) => IsLocal(candidate) ? candidate : Default;

    public static bool IsLocal([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? candidate)
    {
        if (string.IsNullOrEmpty(candidate) || candidate.Length > MaxLength)
        {
            return false;
        }

        // Printable ASCII only: no control characters, no whitespace, no backslash, no look-alike slashes.
        if (!IsPrintableAsciiWithoutBackslash(candidate))
        {
            return false;
        }

        var end = candidate.AsSpan().IndexOfAny('?', '#');
        var path = end < 0 ? candidate : candidate[..end];
        var rest = end < 0 ? string.Empty : candidate[end..];
        if (HasEncodedControlCharacter(rest))
        {
            return false;
        }

        for (var i = 0; i <= MaxDecodings; i++)
        {
            if (!IsPlainLocalPath(path))
            {
                return false;
            }

            var decoded = Uri.UnescapeDataString(path);
            if (decoded == path)
            {
                return true;
            }

            path = decoded;
        }

        return false;
    }

    /// <summary>One leading slash, no <c>//</c>, and printable ASCII without backslash (no Unicode look-alike slashes).</summary>
    private static bool IsPlainLocalPath(string path) =>
        path.Length > 0 && path[0] == '/' && !path.Contains("//", StringComparison.Ordinal) && IsPrintableAsciiWithoutBackslash(path);

    private static bool IsPrintableAsciiWithoutBackslash(string text)
    {
        foreach (var c in text)
        {
            if (c is <= ' ' or >= '\u007f' or '\\')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary><c>%00</c>–<c>%1F</c> and <c>%7F</c>, at any depth of encoding (<c>%2509</c>).</summary>
    private static bool HasEncodedControlCharacter(string text)
    {
        for (var i = 0; i <= MaxDecodings && text.Contains('%', StringComparison.Ordinal); i++)
        {
            var decoded = Uri.UnescapeDataString(text);
            foreach (var c in decoded)
            {
                if (char.IsControl(c))
                {
                    return true;
                }
            }

            if (decoded == text)
            {
                return false;
            }

            text = decoded;
        }

        return false;
    }
}
