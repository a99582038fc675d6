namespace Mislata.ServiceDefaults.Problems;

/// <summary>The stable machine codes of API.md, carried in the problem's <c>error</c> member.</summary>
public static class ErrorCodes
{
    public const string InvalidRequest = "invalid_request";
    public const string ValidationFailed = "validation_failed";
    public const string Unauthorized = "unauthorized";
    public const string InsufficientScope = "insufficient_scope";
    public const string Forbidden = "forbidden";
    public const string NotFound = "not_found";
    public const string Conflict = "conflict";
    public const string KeyStateInvalid = "key_state_invalid";
    public const string AlgorithmMismatch = "algorithm_mismatch";
    public const string InvalidPayload = "invalid_payload";
    public const string DecryptionFailed = "decryption_failed";
    public const string PayloadTooLarge = "payload_too_large";
    public const string RateLimited = "rate_limited";
    public const string QuotaExceeded = "quota_exceeded";
    public const string LicenseRestricted = "license_restricted";

    /// <summary>A licence given to PUT /admin/license is not installable (malformed, untrusted key, bad signature, not valid now).</summary>
    public const string LicenseInvalid = "license_invalid";
    public const string Unavailable = "unavailable";

    /// <summary>Only for bugs: never the answer to client input.</summary>
    public const string InternalError = "internal_error";

    public static string ForStatus(int status) => status switch
    {
        400 => InvalidRequest,
        401 => Unauthorized,
        403 => Forbidden,
        404 => NotFound,
        405 => InvalidRequest,
        406 => InvalidRequest,
        409 => Conflict,
        411 => InvalidRequest,
        413 => PayloadTooLarge,
        415 => InvalidRequest,
        422 => ValidationFailed,
        429 => RateLimited,
        503 => Unavailable,
        >= 500 => InternalError,
        _ => InvalidRequest,
    };

    public static string TypeUri(string code) => "https://mislata.dev/problems/" + code;
}
