using System.CommandLine;
using System.Text;
using Mislata.Client.Contracts;
using static Mislata.Cli.CliOptions;

namespace Mislata.Cli.Commands;

/// <summary>
/// <c>mislata cas</c> and <c>mislata certificates</c>: X.509 certificate authorities whose keys stay in Mislata,
/// certificates issued from a CSR or with a generated key (written once, to a file of mode 600), revocation and CRLs.
/// </summary>
internal static class CertificateCommands
{
    private static readonly string[] CaColumns = ["id", "name", "algorithm", "subject", "notAfter", "parentId", "companionId"];
    private static readonly string[] CertificateColumns = ["id", "serialNumber", "subject", "profile", "notAfter", "revoked"];

    public static Command BuildCas()
    {
        var name = new Argument<string>("name") { Description = "CA name" };
        var subject = new Option<string>("--subject") { Description = "RFC 4514 name, e.g. \"CN=Payments Root,O=Example\"", Required = true };
        var validity = new Option<int>("--validity-days") { Description = "Validity of the CA certificate in days (default 3650)", DefaultValueFactory = _ => 3650 };
        var algorithm = new Option<string?>("--algorithm") { Description = "Signing algorithm of the CA key (default ML-DSA-65)" };
        var parent = new Option<Guid?>("--parent") { Description = "Parent CA id: create an intermediate CA" };
        var pathLength = new Option<int?>("--path-length") { Description = "basicConstraints path length" };
        var maxValidity = new Option<int?>("--max-validity-days") { Description = "Longest certificate this CA issues (default 397)" };
        var domains = new Option<string[]>("--allow-domain") { Description = "A domain its DNS and e-mail names must fall under (repeatable; default any)" };
        var hybrid = new Option<bool>("--hybrid") { Description = "Also create a classic ECDSA companion CA under the same name" };
        var classic = new Option<string?>("--classic-algorithm") { Description = "The companion's algorithm (default ECDSA-P256)" };
        var create = Leaf("create", "Create a root or intermediate CA (its key is a new Mislata signing key)", async c =>
        {
            var request = new CreateCaRequest(c.Get(name)!, c.Get(subject)!, c.Get(validity), c.Get(algorithm), c.Get(parent), c.Get(pathLength), c.Get(maxValidity),
                c.Get(domains) is { Length: > 0 } d ? d : null, c.Get(hybrid) || c.Get(classic) is not null ? new HybridCaRequest(c.Get(classic)) : null);
            c.Output.Write(await c.Client.Certificates.CreateCaAsync(request, cancellationToken: c.Cancellation), CaColumns);
            return ExitCodes.Ok;
        }, name, subject, validity, algorithm, parent, pathLength, maxValidity, domains, hybrid, classic);

        var limit = Limit();
        var cursor = Cursor();
        var list = Leaf("list", "List CAs", async c =>
        {
            c.Output.Write(await c.Client.Certificates.ListCasAsync(c.Get(limit), c.Get(cursor), c.Cancellation), CaColumns);
            return ExitCodes.Ok;
        }, limit, cursor);

        var id = Id("id", "CA id");
        var pem = new Option<string?>("--pem") { Description = "Print only this PEM: certificate or chain" };
        var get = Leaf("get", "Show a CA (or its certificate or chain in PEM)", async c =>
        {
            var ca = await c.Client.Certificates.GetCaAsync(c.Get(id), c.Cancellation);
            switch (c.Get(pem))
            {
                case null:
                    c.Output.Write(ca);
                    break;
                case "certificate":
                    await Io.WriteAsync(null, Encoding.ASCII.GetBytes(ca.CertificatePem), c.Cancellation);
                    break;
                case "chain":
                    await Io.WriteAsync(null, Encoding.ASCII.GetBytes(ca.ChainPem), c.Cancellation);
                    break;
                default:
                    throw new UsageException("--pem must be certificate or chain");
            }

            return ExitCodes.Ok;
        }, id, pem);

        var crlId = Id("id", "CA id");
        var crlOut = Out("Write the CRL to this file (default: stdout)");
        var crlPem = new Option<bool>("--pem") { Description = "PEM instead of DER" };
        var crl = Leaf("crl", "The CA's current CRL (DER, or PEM with --pem)", async c =>
        {
            var der = await c.Client.Certificates.GetCrlAsync(c.Get(crlId), c.Cancellation);
            await Io.WriteAsync(c.Get(crlOut), c.Get(crlPem) ? Encoding.ASCII.GetBytes(new string(System.Security.Cryptography.PemEncoding.Write("X509 CRL", der)) + "\n") : der,
                c.Cancellation);
            return ExitCodes.Ok;
        }, crlId, crlOut, crlPem);

        return Group("cas", "X.509 certificate authorities: create|list|get|crl", create, list, get, crl);
    }

    public static Command BuildCertificates()
    {
        var ca = new Option<Guid>("--ca") { Description = "CA id", Required = true };
        var profile = new Option<string>("--profile") { Description = "server (default), client or codeSigning", DefaultValueFactory = _ => "server" };
        var validity = new Option<int>("--validity-days") { Description = "Validity in days (default 90)", DefaultValueFactory = _ => 90 };
        var csr = new Option<string?>("--csr") { Description = "A PEM certificate signing request (file); without it, Mislata generates the key pair" };
        var subject = new Option<string?>("--subject") { Description = "RFC 4514 subject of a generated key's certificate" };
        var algorithm = new Option<string?>("--algorithm") { Description = "Algorithm of a generated key (default ECDSA-P256)" };
        var sans = new Option<string[]>("--san") { Description = "dns:…, ip:…, email:… or uri:… (repeatable)" };
        var pair = new Option<bool>("--pair") { Description = "On a hybrid CA: also issue from its classic companion" };
        var output = Out("Write the certificate (PEM) to this file (default: stdout)");
        var chainOut = new Option<string?>("--chain-out") { Description = "Write the chain (PEM) to this file" };
        var keyOut = new Option<string?>("--key-out") { Description = "Write a generated private key (PEM, shown once) to this new file (mode 600); required with a generated key" };
        var issue = Leaf("issue", "Issue a certificate from a CSR or with a key Mislata generates", async c =>
        {
            var csrPath = c.Get(csr);
            if (csrPath is null && (c.Get(subject) is null || c.Get(keyOut) is null))
            {
                throw new UsageException("give --csr FILE, or --subject and --key-out for a generated key");
            }

            if (c.Get(keyOut) is { } keyPath && File.Exists(keyPath))
            {
                throw new UsageException($"--key-out {keyPath} exists: the private key is written once, to a new file");
            }

            var request = new IssueCertificateRequest(c.Get(ca), c.Get(profile)!, c.Get(validity), csrPath is null ? null : await Io.ReadTextAsync(csrPath, c.Cancellation),
                csrPath is null ? c.Get(subject) : null, csrPath is null ? c.Get(algorithm) : null, c.Get(sans) is { Length: > 0 } s ? s : null, c.Get(pair) ? true : null);
            var issued = await c.Client.Certificates.IssueAsync(request, cancellationToken: c.Cancellation);
            if (issued.PrivateKeyPem is { } key)
            {
                await Io.WriteSecretFileAsync(c.Get(keyOut)!, key, c.Cancellation);
            }

            if (c.Get(chainOut) is { } chain && issued.ChainPem is { } chainPem)
            {
                await Io.WriteAsync(chain, Encoding.ASCII.GetBytes(chainPem), c.Cancellation);
            }

            if (c.Output.IsJson)
            {
                c.Output.Write(issued with { PrivateKeyPem = null, Companion = issued.Companion is null ? null : issued.Companion with { PrivateKeyPem = null } });
            }
            else
            {
                await Io.WriteAsync(c.Get(output), Encoding.ASCII.GetBytes(issued.CertificatePem), c.Cancellation);
            }

            return ExitCodes.Ok;
        }, ca, profile, validity, csr, subject, algorithm, sans, pair, output, chainOut, keyOut);

        var ofCa = new Option<Guid?>("--ca") { Description = "Only certificates of this CA" };
        var limit = Limit();
        var cursor = Cursor();
        var list = Leaf("list", "List issued certificates (never a private key)", async c =>
        {
            c.Output.Write(await c.Client.Certificates.ListAsync(c.Get(ofCa), c.Get(limit), c.Get(cursor), c.Cancellation), CertificateColumns);
            return ExitCodes.Ok;
        }, ofCa, limit, cursor);

        var id = Id("id", "Certificate id");
        var get = Leaf("get", "Show a certificate", async c =>
        {
            c.Output.Write(await c.Client.Certificates.GetAsync(c.Get(id), c.Cancellation));
            return ExitCodes.Ok;
        }, id);

        var revokeId = Id("id", "Certificate id");
        var reason = new Option<string>("--reason") { Description = "RFC 5280 reason: unspecified (default), keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise", DefaultValueFactory = _ => "unspecified" };
        var revoke = Leaf("revoke", "Revoke a certificate (listed in its CA's next CRL)", async c =>
        {
            c.Output.Write(await c.Client.Certificates.RevokeAsync(c.Get(revokeId), c.Get(reason)!, c.Cancellation), CertificateColumns);
            return ExitCodes.Ok;
        }, revokeId, reason);

        return Group("certificates", "X.509 certificates: issue|list|get|revoke", issue, list, get, revoke);
    }
}
