using Mislata.Core.Licensing;

// mislata-licence keygen <keyId> <directory>
// mislata-licence issue <spec.json> <vendor.private.json> [out.lic]
// mislata-licence inspect <licence file> [vendor.public.json]   (default: the vendor keys built into this release)
const string Usage = """
    usage:
      keygen  <keyId> <directory>                        writes <keyId>.private.json (keep offline) and <keyId>.public.json
      issue   <spec.json> <vendor.private.json> [out]    signs a licence (stdout when no out file)
      inspect <licence> [vendor.public.json]             the payload and its signature check (built-in keys by default)
    """;

try
{
    switch (args)
    {
        case ["keygen", var keyId, var directory]:
            var (privatePath, publicPath) = LicenceVendorTool.KeyGen(keyId, directory);
            Console.WriteLine($"private key: {privatePath} (keep it offline)\npublic key:  {publicPath}");
            return 0;
        case ["issue", var spec, var privateKey, .. var rest] when rest.Length <= 1:
            var licence = LicenceVendorTool.Issue(File.ReadAllText(spec), File.ReadAllText(privateKey), DateTimeOffset.UtcNow);
            if (rest.Length == 1)
            {
                File.WriteAllText(rest[0], licence);
            }
            else
            {
                Console.Write(licence);
            }

            return 0;
        case ["inspect", var file, .. var keys] when keys.Length <= 1:
            ILicenceTrustAnchors anchors = keys.Length == 1
                ? new LicenceTrustAnchors([VendorPublicKey.FromJson(File.ReadAllText(keys[0]))])
                : new BuiltInLicenceTrustAnchors();
            Console.Write(LicenceVendorTool.Inspect(File.ReadAllText(file), anchors, DateTimeOffset.UtcNow));
            return 0;
        default:
            Console.Error.WriteLine(Usage);
            return 2;
    }
}
catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 1;
}
