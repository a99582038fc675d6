using System.Net;
using System.Net.Sockets;
using Mislata.Infrastructure.ApiKeys;

namespace Mislata.Infrastructure.Abuse;

/// <summary>Who knocks, as abuse accounting sees it: the client address after forwarded headers (the gateway states it).</summary>
public static class ClientSource
{
    public const string Unknown = "unknown";

    /// <summary>
    /// An IPv4 address as it is (an IPv4-mapped IPv6 address unmapped); an IPv6 address by its /64, since one subscriber
    /// usually holds a whole /64 and could otherwise count every request from a fresh address.
    /// </summary>
    public static string Of(IPAddress? address)
    {
        if (address is null)
        {
            return Unknown;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes).ToString() + "/64";
    }
}

/// <summary>
/// The non-secret part of a presented credential by which failures are grouped and audited: the public prefix of an
/// API key (<c>qapi_</c> and 8 characters, as the API lists it), <c>client:&lt;client_id&gt;</c> for an OAuth client and
/// <c>bearer</c> for anything else. Never more of a key, and nothing of a token or secret.
/// </summary>
public static class CredentialPrefix
{
    public const string Bearer = "bearer";
    public const string None = "none";
    private const int MaxClientIdLength = 64;

    public static string Of(string? presented)
    {
        if (string.IsNullOrEmpty(presented))
        {
            return None;
        }

        return ApiKeyAuthenticator.IsApiKey(presented)
            ? Printable(presented.AsSpan(0, Math.Min(presented.Length, ApiKeySecret.PrefixLength)))
            : Bearer;
    }

    public static string OfClient(string? clientId) =>
        string.IsNullOrEmpty(clientId) ? "client" : "client:" + Printable(clientId.AsSpan(0, Math.Min(clientId.Length, MaxClientIdLength)));

    /// <summary>Only the characters an API key or client id is made of; anything else (control characters…) becomes '?'.</summary>
    private static string Printable(ReadOnlySpan<char> value) => string.Create(value.Length, value.ToString(), static (span, source) =>
    {
        for (var i = 0; i < span.Length; i++)
        {
            var c = source[i];
            span[i] = char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' ? c : '?';
        }
    });
}
