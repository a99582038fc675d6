using Mislata.Identity.Features.Accounts;

namespace Mislata.Identity.Tests.Accounts;

/// <summary>The one local-URL check of identity: hostile encodings fall back to <c>/account</c>, local paths pass.</summary>
public sealed class LocalReturnUrlTests
{
    public static TheoryData<string?> Hostile() =>
    [
        null,
        "",
        // Absolute and scheme-relative.
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "\\/evil.example",
        // Browsers drop tabs and line breaks: "/\t/evil" is "//evil".
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "/\r\n/evil.example",
        "/ /evil.example",
        "/\u0000/evil.example",
        "/\u007f/evil.example",
        " /account",
        "/account ",
        // Backslash anywhere.
        "/account\\..\\evil",
        "/account?next=\\evil.example",
        // Percent-encoded slashes, backslashes and control characters in the path, once or twice encoded.
        "/%2f/evil.example",
        "/%2F%2Fevil.example",
        "%2f%2fevil.example",
        "/%5cevil.example",
        "/%5Cevil.example",
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%0D%0A/evil.example",
        "/%20/evil.example",
        "/%00",
        "/%252f/evil.example",
        "/%25252f%25252fevil.example",
        "/%255c",
        "/%2509/evil.example",
        // Still changing after three decodings: refused whatever it decodes to.
        "/%25252541",
        // Encoded control characters after the path (response splitting, dropped characters).
        "/account?x=%0d%0aLocation:%20https://evil.example",
        "/account#%09",
        "/account?x=%250a",
        "/account?x=%25252509",
        // Unicode look-alikes and non-ASCII.
        "/\uff0f/evil.example",
        "/\u2215evil.example",
        "/%EF%BC%8F/evil.example",
        "/%E2%80%A8",
        "/\u3000",
        "/caf\u00e9",
        // Does not start with one slash.
        "account",
        "evil.example/account",
        "./account",
        "?ReturnUrl=/account",
        // Too long.
        "/" + new string('a', LocalReturnUrl.MaxLength),
    ];

    public static TheoryData<string> Local() =>
    [
        "/",
        "/account",
        "/account/mfa/setup",
        "/account/password?x=1#top",
        "/jobs",
        "/a/b/../c",
        // The printable ASCII range ends at '!' and '~'.
        "/~user!",
        // Encoded once, twice, three times: each decoding is checked and the third one is stable ("/A").
        "/%41",
        "/%252541",
        "/account?x=%252F%2520",
        // A '%' that decodes no further ("100%") is data, not an encoding.
        "/account?q=100%25",
        // An authorize request as the challenge builds it: its query carries encoded "//" and spaces as data.
        "/connect/authorize?response_type=code&client_id=abc&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&scope=openid%20offline_access%20keys%3Aread&state=s1&code_challenge=xyz&code_challenge_method=S256",
        "/" + new string('a', LocalReturnUrl.MaxLength - 1),
    ];

    [Theory]
    [MemberData(nameof(Hostile))]
    public void A_hostile_return_url_becomes_the_account_page(string? candidate)
    {
        Assert.False(LocalReturnUrl.IsLocal(candidate));
        Assert.Equal("/account", LocalReturnUrl.OrDefault(candidate));
    }

    [Theory]
    [MemberData(nameof(Local))]
    public void A_local_path_is_kept_as_it_is(string candidate)
    {
        Assert.True(LocalReturnUrl.IsLocal(candidate));
        Assert.Equal(candidate, LocalReturnUrl.OrDefault(candidate));
    }
}
