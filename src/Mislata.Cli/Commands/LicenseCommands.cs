using System.CommandLine;
using Mislata.Core.Licensing;
using static Mislata.Cli.CliOptions;

namespace Mislata.Cli.Commands;

/// <summary>
/// <c>admin license</c> (the installation's licence over the API) and <c>license</c> (the vendor's offline tools: key
/// pairs, signing, inspecting — no server involved).
/// </summary>
internal static class LicenseCommands
{
    private static readonly string[] StatusColumns = ["state", "reason", "restricted", "installedAt"];

    /// <summary><c>mislata admin license get|install</c>.</summary>
    public static Command Admin()
    {
        var get = Leaf("get", "The licence's state, licensee, validity, limits and the installation's usage", async c =>
        {
            c.Output.Write(await c.Client.Admin.GetLicenseAsync(c.Cancellation));
            return ExitCodes.Ok;
        });
        var input = In("Licence file as the vendor issued it (default: stdin)");
        var install = Leaf("install", "Install a licence (refused with exit 2 when it is not valid now; the installed one stays)", async c =>
        {
            var text = await Io.ReadTextAsync(c.Get(input), c.Cancellation);
            if (text.Length == 0)
            {
                throw new UsageException("no licence given (--in FILE or stdin)");
            }

            c.Output.Write(await c.Client.Admin.InstallLicenseAsync(text, c.Cancellation));
            return ExitCodes.Ok;
        }, input);
        return Group("license", "The installation's licence: get, install", get, install);
    }

    /// <summary><c>mislata license keygen|issue|inspect</c>: the licence vendor's tools.</summary>
    public static Command Vendor()
    {
        var keyId = new Argument<string>("key-id") { Description = "Name of the vendor key pair, e.g. mislata-vendor-2027-1" };
        var directory = new Argument<string>("directory") { Description = "Folder for <key-id>.private.json (mode 600: keep it offline) and <key-id>.public.json" };
        var keygen = Leaf("keygen", "Create a vendor signing key pair (ML-DSA-65 + Ed25519)", c =>
        {
            var (privatePath, publicPath) = LicenceVendorTool.KeyGen(c.Get(keyId)!, c.Get(directory)!);
            c.Output.Write(new { privateKey = privatePath, publicKey = publicPath });
            return Task.FromResult(ExitCodes.Ok);
        }, keyId, directory);

        var spec = new Argument<string>("spec") { Description = "JSON spec: licensee, edition, expiresAt (required); id, notBefore, graceDays, maxTenants, maxUsers, maxKeys, features" };
        var privateKey = new Argument<string>("private-key") { Description = "The vendor's <key-id>.private.json" };
        var output = Out("Licence file to write (default: stdout)");
        var issue = Leaf("issue", "Sign a licence with both of the vendor key's signatures", async c =>
        {
            var licence = LicenceVendorTool.Issue(
                await File.ReadAllTextAsync(c.Get(spec)!, c.Cancellation), await File.ReadAllTextAsync(c.Get(privateKey)!, c.Cancellation), DateTimeOffset.UtcNow);
            await Io.WriteAsync(c.Get(output), System.Text.Encoding.UTF8.GetBytes(licence), c.Cancellation);
            return ExitCodes.Ok;
        }, spec, privateKey, output);

        var file = new Argument<string>("licence") { Description = "Licence file" };
        var publicKey = new Option<string?>("--public-key") { Description = "Check against this <key-id>.public.json instead of the vendor keys built into this release" };
        var inspect = Leaf("inspect", "Show a licence's payload and whether its signatures verify (exit 7 when they do not)", async c =>
        {
            ILicenceTrustAnchors anchors = c.Get(publicKey) is { } path
                ? new LicenceTrustAnchors([VendorPublicKey.FromJson(await File.ReadAllTextAsync(path, c.Cancellation))])
                : new BuiltInLicenceTrustAnchors();
            var text = await File.ReadAllTextAsync(c.Get(file)!, c.Cancellation);
            Console.Out.Write(LicenceVendorTool.Inspect(text, anchors, DateTimeOffset.UtcNow));
            return LicenceDocument.Verify(text, anchors).IsAuthentic ? ExitCodes.Ok : ExitCodes.Invalid;
        }, file, publicKey);
        return Group("license", "Licence vendor tools (offline): keygen, issue, inspect", keygen, issue, inspect);
    }
}
