namespace Mislata.ServiceDefaults;

/// <summary><c>dotnet Mislata.X.dll healthcheck</c>: asks the local process for /health/live (images have no curl).</summary>
internal static class ContainerHealthCheck
{
    public static async Task<int> RunAsync(int defaultPort)
    {
        var port = Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS")?.Split(';', ',')[0] is { Length: > 0 } p
            ? p
            : defaultPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/health/live"));
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (HttpRequestException)
        {
            return 1;
        }
        catch (TaskCanceledException)
        {
            return 1;
        }
    }
}
