using System.Security.Cryptography;
using Mislata.Client;

namespace Mislata.Cli;

/// <summary>
/// The process exit codes, stable for scripts (README "Exit codes"):
/// 0 ok · 1 other failure · 2 usage or rejected input (400) · 3 authentication or authorisation (401, 403) ·
/// 4 not found (404) · 5 conflict or wrong key state (409) · 6 server unavailable, rate limited or server error
/// (429, 5xx, unreachable) · 7 decryption or verification failed (a bad signature/MAC, a tampered payload or envelope) ·
/// 8 a limit (413 payload too large, quota exceeded, licence restricted).
/// </summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int Auth = 3;
    public const int NotFound = 4;
    public const int Conflict = 5;
    public const int Unavailable = 6;
    public const int Invalid = 7;
    public const int Limit = 8;

    public static int Of(MislataApiException e) => e.Error switch
    {
        "decryption_failed" or "invalid_payload" => Invalid,
        "payload_too_large" or "quota_exceeded" or "license_restricted" => Limit,
        "unauthorized" or "insufficient_scope" or "forbidden" => Auth,
        "not_found" => NotFound,
        "conflict" or "key_state_invalid" => Conflict,
        "rate_limited" or "unavailable" => Unavailable,
        _ => e.Status switch
        {
            400 or 422 => Usage,
            401 or 403 => Auth,
            404 => NotFound,
            409 => Conflict,
            413 => Limit,
            0 or 429 or >= 500 => Unavailable,
            _ => Failure,
        },
    };

    public static int Of(Exception e) => e switch
    {
        MislataApiException api => Of(api),
        CryptographicException => Invalid,
        InvalidDataException => Invalid,
        UsageException or System.Text.Json.JsonException or FormatException or ArgumentException => Usage,
        _ => Failure,
    };
}

/// <summary>A command line that parses but makes no sense (a missing profile, a file that does not exist).</summary>
internal sealed class UsageException(string message) : Exception(message);
