using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Licence;

/// <summary>
/// A platform of its own (two api replicas) for the licence tests, which change the installation's licence. Its services
/// run through the test host (tests/Mislata.Testing.LicensedHost): the shipped services with the TEST vendor key as the
/// only trusted key (identity too, for the users limit), so that these tests can sign licences.
/// </summary>
public sealed class LicenceFixture : TenancyFixture
{
    protected override StackOptions Options() => base.Options() with { TrustTestVendor = true };
}

[ExpectedSeconds(30)]
[CollectionDefinition(Name)]
public sealed class LicenceCollection : ICollectionFixture<LicenceFixture>
{
    public const string Name = "licence";
}
