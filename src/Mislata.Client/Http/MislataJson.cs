using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mislata.Client.Http;

/// <summary>The wire's JSON: camelCase, null members left out of requests, unknown response members ignored (the API may add fields).</summary>
internal static class MislataJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
