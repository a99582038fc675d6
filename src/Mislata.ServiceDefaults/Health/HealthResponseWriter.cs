using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mislata.ServiceDefaults.Health;

public static class HealthTags
{
    public const string Ready = "ready";
}

/// <summary>Writes <c>{status, checks:{name:{status, description, durationMs}}}</c>; never exception text.</summary>
internal static class HealthResponseWriter
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        if (report.Status == HealthStatus.Unhealthy)
        {
            // Not ready because a dependency does not answer: a load balancer or client may ask again after this.
            context.Response.Headers.RetryAfter = Problems.DependencyOutages.RetryAfterSeconds;
        }
        var checks = report.Entries.ToDictionary(
            e => e.Key,
            e => new CheckReport(e.Value.Status.ToString(), e.Value.Description, Math.Round(e.Value.Duration.TotalMilliseconds, 1)));
        return JsonSerializer.SerializeAsync(
            context.Response.Body,
            new HealthReportBody(report.Status.ToString(), checks),
            HealthJsonContext.Default.HealthReportBody,
            context.RequestAborted);
    }
}

internal sealed record CheckReport(string Status, string? Description, double DurationMs);

internal sealed record HealthReportBody(string Status, Dictionary<string, CheckReport> Checks);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(
    PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
[System.Text.Json.Serialization.JsonSerializable(typeof(HealthReportBody))]
internal sealed partial class HealthJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
