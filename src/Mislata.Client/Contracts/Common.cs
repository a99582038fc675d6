using System.Text.Json;

namespace Mislata.Client.Contracts;

/// <summary>One page of a list: <c>{data, nextCursor}</c>; <c>nextCursor</c> is null on the last page.</summary>
public sealed record Page<T>(IReadOnlyList<T> Data, string? NextCursor);

/// <summary>How a binary value travels as a JSON string (API.md "Binary values").</summary>
public static class ValueEncoding
{
    /// <summary>UTF-8 text (the default of most calls).</summary>
    public const string Utf8 = "utf8";

    /// <summary>Standard base64.</summary>
    public const string Base64 = "base64";
}

/// <summary>Field error map of a <c>validation_failed</c> problem.</summary>
public sealed class FieldErrors : Dictionary<string, string[]>
{
    /// <summary>An empty map.</summary>
    public FieldErrors()
        : base(StringComparer.Ordinal)
    {
    }
}

/// <summary>An untyped JSON document, for members the API returns as free-form JSON (a JWK).</summary>
public readonly record struct RawJson(JsonElement Value)
{
    /// <inheritdoc/>
    public override string ToString() => Value.GetRawText();
}
