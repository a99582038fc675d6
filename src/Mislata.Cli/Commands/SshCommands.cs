using System.CommandLine;
using Mislata.Client.Contracts;
using static Mislata.Cli.CliOptions;

namespace Mislata.Cli.Commands;

/// <summary><c>mislata ssh</c>: SSH CAs and certificates. Only public keys travel; the CA key never leaves Mislata.</summary>
internal static class SshCommands
{
    private static readonly string[] CaColumns = ["id", "name", "algorithm", "keyState", "fingerprint", "maxUserValiditySeconds", "maxHostValiditySeconds"];
    private static readonly string[] CertificateColumns = ["id", "serial", "type", "keyId", "principals", "validBefore", "subjectFingerprint"];

    public static Command Build()
    {
        var name = new Argument<string>("name") { Description = "CA name (letters, digits, . _ -)" };
        var algorithm = new Option<string?>("--algorithm") { Description = "Ed25519 (default), ECDSA-P256 or ECDSA-P384" };
        var maxUser = new Option<long?>("--max-user-validity") { Description = "Longest user certificate, in seconds (default 86400)" };
        var maxHost = new Option<long?>("--max-host-validity") { Description = "Longest host certificate, in seconds (default 2592000)" };
        var allow = new Option<string[]>("--allow") { Description = "A principal pattern the CA may certify (* and ?; repeatable; default any)" };
        var create = Leaf("create", "Create an SSH CA (its key is a new Mislata signing key)", async c =>
        {
            c.Output.Write(await c.Client.Ssh.CreateCaAsync(new CreateSshCaRequest(c.Get(name)!, c.Get(algorithm), c.Get(maxUser), c.Get(maxHost),
                c.Get(allow) is { Length: > 0 } a ? a : null), cancellationToken: c.Cancellation), CaColumns);
            return ExitCodes.Ok;
        }, name, algorithm, maxUser, maxHost, allow);

        var limit = Limit();
        var cursor = Cursor();
        var list = Leaf("list", "List SSH CAs", async c =>
        {
            c.Output.Write(await c.Client.Ssh.ListCasAsync(c.Get(limit), c.Get(cursor), c.Cancellation), CaColumns);
            return ExitCodes.Ok;
        }, limit, cursor);

        var id = Id("id", "CA id");
        var line = new Option<string?>("--line") { Description = "Print only this line: public-key, authorized-keys or known-hosts" };
        var get = Leaf("get", "Show a CA (or one of its public key lines, for sshd or known_hosts)", async c =>
        {
            var ca = await c.Client.Ssh.GetCaAsync(c.Get(id), c.Cancellation);
            var wanted = c.Get(line);
            if (wanted is null)
            {
                c.Output.Write(ca);
                return ExitCodes.Ok;
            }

            c.Output.Write(wanted switch
            {
                "public-key" => ca.PublicKey,
                "authorized-keys" => ca.AuthorizedKeysLine,
                "known-hosts" => ca.KnownHostsLine,
                _ => throw new UsageException("--line must be public-key, authorized-keys or known-hosts"),
            });
            return ExitCodes.Ok;
        }, id, line);

        var ca = new Option<Guid>("--ca") { Description = "CA id", Required = true };
        var publicKey = In("The public key to certify (an OpenSSH .pub file; default stdin)");
        var type = new Option<string>("--type") { Description = "user (default) or host", DefaultValueFactory = _ => "user" };
        var keyId = new Option<string>("--key-id") { Description = "The certificate's key id (sshd logs it)", Required = true };
        var principals = new Option<string[]>("--principal", "-n") { Description = "A user or host name the certificate is valid for (repeatable)", Required = true };
        var validity = new Option<long>("--validity") { Description = "Seconds (default 3600)", DefaultValueFactory = _ => 3600 };
        var options = new Option<string[]>("--option", "-O") { Description = "Critical option name=value (force-command, source-address, verify-required; repeatable)" };
        var extensions = new Option<string[]?>("--extension") { Description = "Extension (repeatable; default: the ssh-keygen set for user certificates)" };
        var noExtensions = new Option<bool>("--no-extensions") { Description = "No extensions at all" };
        var output = Out("Write the -cert.pub line to this file (default: stdout)");
        var sign = Leaf("sign", "Issue a certificate for a public key (prints the -cert.pub line)", async c =>
        {
            var key = (await Io.ReadTextAsync(c.Get(publicKey), c.Cancellation)).Trim();
            var critical = c.Get(options) is { Length: > 0 } o
                ? o.Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : string.Empty, StringComparer.Ordinal)
                : null;
            IReadOnlyList<string>? wanted = c.Get(noExtensions) ? [] : c.Get(extensions) is { Length: > 0 } e ? e : null;
            var issued = await c.Client.Ssh.IssueAsync(new IssueSshCertificateRequest(c.Get(ca), key, c.Get(type)!, c.Get(keyId)!, c.Get(principals)!, c.Get(validity),
                critical, wanted), cancellationToken: c.Cancellation);
            if (c.Output.IsJson)
            {
                c.Output.Write(issued);
            }
            else
            {
                await Io.WriteLineAsync(c.Get(output), issued.Certificate!, c.Cancellation);
            }

            return ExitCodes.Ok;
        }, ca, publicKey, type, keyId, principals, validity, options, extensions, noExtensions, output);

        var ofCa = new Option<Guid?>("--ca") { Description = "Only certificates of this CA" };
        var certificates = Leaf("certificates", "List issued certificates (records, no keys)", async c =>
        {
            c.Output.Write(await c.Client.Ssh.ListCertificatesAsync(c.Get(ofCa), c.Get(limit), c.Get(cursor), c.Cancellation), CertificateColumns);
            return ExitCodes.Ok;
        }, ofCa, limit, cursor);

        return Group("ssh", "SSH certificate authorities: ca create|list|get, sign, certificates", Group("ca", "SSH CAs", create, list, get), sign, certificates);
    }
}
