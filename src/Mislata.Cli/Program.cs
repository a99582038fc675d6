using System.CommandLine;
using Mislata.Cli;
using Mislata.Cli.Commands;

var root = new RootCommand("mislata — the command line of a Mislata post-quantum Encryption-as-a-Service platform. Exit codes: 0 ok, 1 failure, 2 usage, 3 auth, 4 not found, 5 conflict, 6 unavailable, 7 invalid (decryption/verification), 8 limit.");
root.Options.Add(CliOptions.OutputMode);
root.Options.Add(CliOptions.Profile);
root.Options.Add(CliOptions.Verbose);
root.Subcommands.Add(AccountCommands.Login());
root.Subcommands.Add(AccountCommands.Profiles());
root.Subcommands.Add(KeyCommands.Build());
foreach (var command in CryptoCommands.Build())
{
    root.Subcommands.Add(command);
}

root.Subcommands.Add(SecretCommands.Build());
root.Subcommands.Add(CertificateCommands.BuildCas());
root.Subcommands.Add(CertificateCommands.BuildCertificates());
root.Subcommands.Add(SshCommands.Build());
root.Subcommands.Add(TenancyCommands.ApiKeys());
root.Subcommands.Add(TenancyCommands.Audit());
root.Subcommands.Add(TenancyCommands.Billing());
root.Subcommands.Add(TenancyCommands.Admin());
root.Subcommands.Add(TenancyCommands.Partner());
root.Subcommands.Add(LicenseCommands.Vendor());
root.Subcommands.Add(AccountCommands.Completion());

var parse = root.Parse(args);
if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
{
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine("error: " + error.Message);
    }

    Console.Error.WriteLine($"see: mislata {string.Join(' ', parse.CommandResult.Command.Name == root.Name ? [] : new[] { parse.CommandResult.Command.Name })} --help".Replace("  ", " ", StringComparison.Ordinal));
    return ExitCodes.Usage;
}

return await parse.InvokeAsync();
