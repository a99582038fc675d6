using Mislata.Core.Licensing;

namespace Mislata.Testing.Licensing;

/// <summary>
/// The TEST vendor key pair (committed with the tests; no production build trusts it). Test hosts replace the
/// <see cref="ILicenceTrustAnchors"/> registration with <see cref="Anchors"/>; tests sign their licences with <see cref="Issue"/>.
/// </summary>
public static class TestVendor
{
    public const string KeyId = "mislata-test-vendor-1";

    private static readonly Lazy<VendorKeyPair> Pair = new(() => VendorKeyPair.FromPrivateJson(File.ReadAllText(FilePath(KeyId + ".private.json"))));

    public static VendorKeyPair KeyPair => Pair.Value;

    public static ILicenceTrustAnchors Anchors { get; } = new LicenceTrustAnchors([VendorPublicKey.FromJson(File.ReadAllText(FilePath(KeyId + ".public.json")))]);

    public static string FilePath(string name) => Path.Combine(AppContext.BaseDirectory, "Licensing", name);

    /// <summary>A licence signed by the test vendor key.</summary>
    public static string Issue(
        DateTimeOffset notBefore, DateTimeOffset expiresAt, int graceDays = 30, int? maxTenants = null, int? maxUsers = null, int? maxKeys = null,
        string licensee = "Test Licensee", Guid? id = null) =>
        LicenceDocument.Issue(Payload(notBefore, expiresAt, graceDays, maxTenants, maxUsers, maxKeys, licensee, id), KeyPair);

    public static LicencePayload Payload(
        DateTimeOffset notBefore, DateTimeOffset expiresAt, int graceDays = 30, int? maxTenants = null, int? maxUsers = null, int? maxKeys = null,
        string licensee = "Test Licensee", Guid? id = null) =>
        new(LicencePayload.CurrentFormatVersion, id ?? Guid.NewGuid(), licensee, "enterprise", notBefore, notBefore, expiresAt, graceDays,
            new LicenceLimits(maxTenants, maxUsers, maxKeys), ["byok"]);
}
