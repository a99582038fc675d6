// The bare reference of bench/run-ops.sh: Kestrel and one endpoint answering 204, nothing else. It starts the way the
// Mislata services do since issue 10 (content root = the app folder, no configuration file watching, no per-request
// logging), so the gap between it and the product's GET /api/v1/ping is the product's own pipeline.
// Listens on ASPNETCORE_URLS (bench/run-ops.sh sets http://127.0.0.1:<free port>).
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
{
    Args = [.. args, "--hostBuilder:reloadConfigOnChange=false"],
    ContentRootPath = AppContext.BaseDirectory,
});
builder.Logging.ClearProviders();
builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);

var app = builder.Build();
app.MapGet("/", () => Results.NoContent());
app.Run();
