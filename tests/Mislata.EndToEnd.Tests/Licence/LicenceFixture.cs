using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Licence;

/// <summary>
/// A platform of its own (two api replicas) for the licence tests, which change the installation's licence. Its api and
/// worker are the test host (tests/Mislata.Testing.LicensedHost): the shipped services with the TEST vendor key as the
/// only trusted key, so that these tests can sign licences.
/// </summary>
public sealed class LicenceFixture : TenancyFixture
{
    protected override StackOptions Options() => base.Options() with { TrustTestVendor = true };
}

[CollectionDefinition(Name)]
public sealed class LicenceCollection : ICollectionFixture<LicenceFixture>
{
    public const string Name = "licence";
}
