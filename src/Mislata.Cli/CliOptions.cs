using System.CommandLine;
using System.Security.Cryptography;
using Mislata.Client;

namespace Mislata.Cli;

/// <summary>The global options and the helpers every command uses to declare itself.</summary>
internal static class CliOptions
{
    public static readonly Option<string> OutputMode = Make();

    public static readonly Option<string?> Profile = new("--profile", "-p") { Description = "Profile to use (default: $MISLATA_PROFILE, else the current one)", Recursive = true };

    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Report retries on stderr", Recursive = true };

    private static Option<string> Make()
    {
        var o = new Option<string>("--output", "-o") { Description = "table (default) or json", DefaultValueFactory = _ => "table", Recursive = true };
        o.AcceptOnlyFromAmong("table", "json");
        return o;
    }

    public static Option<string?> In(string description = "Input file (default: stdin)") => new("--in", "-i") { Description = description };

    public static Option<string?> Out(string description = "Output file (default: stdout)") => new("--out") { Description = description };

    public static Option<Guid?> KeyId(string description = "Key id (default: the tenant's default key)") => new("--key", "-k") { Description = description };

    public static Option<string?> Context() => new("--context") { Description = "Associated data: the same string is needed to decrypt or verify" };

    public static Argument<Guid> Id(string name = "id", string description = "Id") => new(name) { Description = description };

    public static Option<int?> Limit() => new("--limit") { Description = "Page size 1..100" };

    public static Option<string?> Cursor() => new("--cursor") { Description = "Cursor of the next page" };

    public static Command Group(string name, string description, params Command[] children)
    {
        var group = new Command(name, description);
        foreach (var c in children)
        {
            group.Subcommands.Add(c);
        }

        return group;
    }

    /// <summary>A command whose action gets a <see cref="CommandContext"/>; failures become the documented exit codes.</summary>
    public static Command Leaf(string name, string description, Func<CommandContext, Task<int>> action, params Symbol[] symbols)
    {
        var command = new Command(name, description);
        foreach (var s in symbols)
        {
            switch (s)
            {
                case Option o:
                    command.Options.Add(o);
                    break;
                case Argument a:
                    command.Arguments.Add(a);
                    break;
            }
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = new Output(parse.GetValue(OutputMode) == "json");
            await using var context = new CommandContext(parse, output, cancellationToken);
            try
            {
                return await action(context);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return 130;
            }
            catch (Exception e) when (e is MislataApiException or UsageException or CryptographicException or InvalidDataException or IOException
                or UnauthorizedAccessException or NotSupportedException or ArgumentException or FormatException or System.Text.Json.JsonException)
            {
                Report(e, output);
                return ExitCodes.Of(e);
            }
        });
        return command;
    }

    /// <summary>The failure on stderr: the problem's code, title, detail and trace id (JSON with <c>--output json</c>); never request data.</summary>
    private static void Report(Exception e, Output output)
    {
        if (e is MislataApiException api)
        {
            if (output.IsJson)
            {
                Console.Error.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                {
                    error = api.Error, status = api.Status, title = api.Title, detail = api.Detail, traceId = api.TraceId,
                    errors = api.Errors.Count == 0 ? null : api.Errors,
                }, Output.Json));
                return;
            }

            Console.Error.WriteLine($"error: {api.Error}{(api.Status == 0 ? "" : $" ({api.Status})")}{(api.Title is null ? "" : ": " + api.Title)}{(api.Detail is null ? "" : " — " + api.Detail)}");
            foreach (var (field, messages) in api.Errors)
            {
                Console.Error.WriteLine($"  {field}: {string.Join("; ", messages)}");
            }

            if (api.TraceId is not null)
            {
                Console.Error.WriteLine($"  traceId: {api.TraceId}");
            }

            return;
        }

        Console.Error.WriteLine(output.IsJson
            ? System.Text.Json.JsonSerializer.Serialize(new { error = e is UsageException ? "usage" : e is CryptographicException or InvalidDataException ? "invalid" : "failure", detail = e.Message }, Output.Json)
            : "error: " + e.Message);
    }
}
