using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Client;
using static Mislata.Cli.CliOptions;

namespace Mislata.Cli.Commands;

/// <summary>login, profiles, shell completion.</summary>
internal static class AccountCommands
{
    public static Command Login()
    {
        var url = new Option<string>("--url") { Description = "The gateway's address, e.g. https://kms.example.com", Required = true };
        var clientId = new Option<string?>("--client-id") { Description = "Log in with OAuth client credentials of this application (the secret is read from stdin or prompted)" };
        var scope = new Option<string?>("--scope") { Description = "Scopes to ask for with client credentials" };
        var ca = new Option<string?>("--ca-cert") { Description = "PEM file of the CA that signed the gateway's certificate" };
        var noCheck = new Option<bool>("--no-check") { Description = "Save without calling the API" };
        return Leaf("login", "Save a profile: the API key (or client secret) is read from stdin or typed without echo, never taken from the command line", async c =>
        {
            var name = c.Get(CliOptions.Profile) ?? Environment.GetEnvironmentVariable("MISLATA_PROFILE") ?? "default";
            var caPath = c.Get(ca) is { } path ? Path.GetFullPath(path) : null;
            if (caPath is not null && !File.Exists(caPath))
            {
                throw new UsageException($"no file {caPath}");
            }

            Profile profile = c.Get(clientId) is { } id
                ? new Profile { Url = c.Get(url)!, ClientId = id, ClientSecret = Io.ReadSecret("client secret: "), Scope = c.Get(scope), CaCertificate = caPath }
                : new Profile { Url = c.Get(url)!, ApiKey = Io.ReadSecret("API key: "), CaCertificate = caPath };
            if (profile.ApiKey is "" || profile.ClientSecret is "")
            {
                throw new UsageException("no credential given on stdin");
            }

            if (!c.Get(noCheck))
            {
                await CheckAsync(profile, c.Cancellation);
            }

            var file = ProfileStore.Load();
            file.Profiles[name] = profile;
            file.Current ??= name;
            var current = file.Current;
            ProfileStore.Save(file);
            Console.Error.WriteLine($"profile '{name}' saved to {ProfileStore.FilePath}{(current == name ? " (current)" : "")}");
            return ExitCodes.Ok;
        }, url, clientId, scope, ca, noCheck);
    }

    /// <summary>The credential works: a call that any valid credential may make answers (403 insufficient_scope still proves it).</summary>
    private static async Task CheckAsync(Profile profile, CancellationToken cancellationToken)
    {
        await using var services = CommandContext.Build(profile, verbose: false);
        var client = services.GetRequiredService<MislataClient>();
        await client.PingAsync(cancellationToken);
        try
        {
            await client.Keys.ListAsync(new Mislata.Client.Contracts.KeyListQuery(Limit: 1), cancellationToken);
        }
        catch (MislataApiException e) when (e.Error is "insufficient_scope" or "forbidden")
        {
            // Authenticated; this credential just may not read keys.
        }
    }

    public static Command Profiles()
    {
        var name = new Argument<string>("name") { Description = "Profile name" };
        return Group("profile", "Saved profiles (secrets are never printed)",
            Leaf("list", "List profiles", c =>
            {
                var file = ProfileStore.Load();
                c.Output.Write(file.Profiles.Select(p => new ProfileRow(p.Key, p.Value.Url, p.Value.ApiKey is not null ? "apiKey" : "clientCredentials", p.Key == file.Current)).ToList());
                return Task.FromResult(ExitCodes.Ok);
            }),
            Leaf("show", "Show the profile in use", c =>
            {
                var (n, p) = ProfileStore.Resolve(c.Get(CliOptions.Profile));
                Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(p.Redacted(n), Output.Json));
                return Task.FromResult(ExitCodes.Ok);
            }),
            Leaf("use", "Make a profile the current one", c =>
            {
                var file = ProfileStore.Load();
                if (!file.Profiles.ContainsKey(c.Get(name)!))
                {
                    throw new UsageException($"no profile '{c.Get(name)}'");
                }

                file.Current = c.Get(name);
                ProfileStore.Save(file);
                return Task.FromResult(ExitCodes.Ok);
            }, name),
            Leaf("remove", "Remove a profile and its credential", c =>
            {
                var file = ProfileStore.Load();
                if (!file.Profiles.Remove(c.Get(name)!))
                {
                    throw new UsageException($"no profile '{c.Get(name)}'");
                }

                if (file.Current == c.Get(name))
                {
                    file.Current = file.Profiles.Keys.FirstOrDefault();
                }

                ProfileStore.Save(file);
                return Task.FromResult(ExitCodes.Ok);
            }, name));
    }

    private sealed record ProfileRow(string Name, string Url, string Auth, bool Current);

    public static Command Completion()
    {
        var shell = new Argument<string>("shell") { Description = "bash, zsh or pwsh" };
        shell.AcceptOnlyFromAmong("bash", "zsh", "pwsh");
        return Leaf("completion", "Print a shell completion script: eval \"$(mislata completion bash)\"", c =>
        {
            Console.Out.Write(c.Get(shell) switch
            {
                "bash" => """
                    _mislata_complete() {
                        local IFS=$'\n'
                        COMPREPLY=( $(mislata "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null) )
                    }
                    complete -o default -F _mislata_complete mislata

                    """,
                "zsh" => """
                    _mislata_complete() {
                        local -a completions
                        completions=("${(@f)$(mislata "[suggest:${#BUFFER}]" "${BUFFER}" 2>/dev/null)}")
                        compadd -- $completions
                    }
                    compdef _mislata_complete mislata

                    """,
                _ => """
                    Register-ArgumentCompleter -Native -CommandName mislata -ScriptBlock {
                        param($wordToComplete, $commandAst, $cursorPosition)
                        mislata "[suggest:$cursorPosition]" "$commandAst" | ForEach-Object { [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_) }
                    }

                    """,
            });
            return Task.FromResult(ExitCodes.Ok);
        }, shell);
    }
}
