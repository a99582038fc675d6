using Mislata.Core.Certificates;

namespace Mislata.Api.Tests.Certificates;

/// <summary>The pure rules of the X.509 CAs (<see cref="CertificateRules"/>): SANs per profile, allowed domains, TTL, path length.</summary>
public sealed class CertificateRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Server_SANs_are_normalised_deduplicated_and_need_a_dns_or_ip_entry()
    {
        Assert.Null(CertificateRules.CheckSans(["dns:API.Example.com.", "dns:api.example.com", "ip:10.0.0.1", "ip:2001:DB8::1", "dns:*.svc.example.com", "uri:spiffe://example/api"],
            CertificateProfile.Server, [], out var sans));
        Assert.Equal(["dns:api.example.com", "ip:10.0.0.1", "ip:2001:db8::1", "dns:*.svc.example.com", "uri:spiffe://example/api"], sans.Select(s => s.ToString()));
        Assert.NotNull(CertificateRules.CheckSans(null, CertificateProfile.Server, [], out _));
        Assert.NotNull(CertificateRules.CheckSans(["uri:https://example.com/x"], CertificateProfile.Server, [], out _));
        Assert.Null(CertificateRules.CheckSans(null, CertificateProfile.Client, [], out _));
    }

    [Theory]
    [InlineData("dns:*.com", "server")]
    [InlineData("dns:*.*.example.com", "server")]
    [InlineData("dns:a.*.example.com", "server")]
    [InlineData("dns:f*o.example.com", "server")]
    [InlineData("dns:localhost", "server")]
    [InlineData("dns:-bad.example.com", "server")]
    [InlineData("dns:bücher.example", "server")]
    [InlineData("dns:a_b.example.com", "server")]
    [InlineData("ip:10.0.0.1", "client")]
    [InlineData("ip:10.0.0.1", "codeSigning")]
    [InlineData("ip:10.0.0", "server")]
    [InlineData("ip:fe80::1%eth0", "server")]
    [InlineData("dns:api.example.com", "codeSigning")]
    [InlineData("email:ops@example.com", "server")]
    [InlineData("email:Ops <ops@example.com>", "client")]
    [InlineData("email:ops@*.example.com", "client")]
    [InlineData("uri:http://example.com", "client")]
    [InlineData("uri:relative/path", "client")]
    [InlineData("DNS:api.example.com", "server")]
    [InlineData("api.example.com", "server")]
    public void Forbidden_SANs_are_refused_with_a_reason(string san, string profile)
    {
        Assert.True(CertificateRules.TryParseProfile(profile, out var p));
        // Beside a valid name of the profile, so the refusal is the entry's own.
        string?[] sans = p switch
        {
            CertificateProfile.Server => [san, "dns:ok.example.com"],
            CertificateProfile.Client => [san, "email:ok@example.com"],
            _ => [san, "uri:urn:example:ok"],
        };
        Assert.Null(CertificateRules.CheckSans([sans[1]], p, [], out _));
        var reason = CertificateRules.CheckSans(sans, p, [], out var parsed);
        Assert.False(string.IsNullOrEmpty(reason));
        Assert.Contains(san.Length > 20 ? san[..20] : san, reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_CAs_allowed_domains_bound_dns_and_email_names_including_wildcards()
    {
        IReadOnlyList<string> allowed = CertificateRules.NormaliseAllowedDomains(["Example.com", "corp.test"], out _)!;
        Assert.Equal(["example.com", "corp.test"], allowed);
        Assert.Null(CertificateRules.CheckSans(["dns:example.com", "dns:a.b.example.com", "dns:*.corp.test"], CertificateProfile.Server, allowed, out _));
        Assert.NotNull(CertificateRules.CheckSans(["dns:badexample.com"], CertificateProfile.Server, allowed, out _));
        Assert.NotNull(CertificateRules.CheckSans(["dns:example.com.evil.net"], CertificateProfile.Server, allowed, out _));
        Assert.Null(CertificateRules.CheckSans(["email:dev@corp.test"], CertificateProfile.Client, allowed, out _));
        Assert.NotNull(CertificateRules.CheckSans(["email:dev@gmail.com"], CertificateProfile.Client, allowed, out _));
        Assert.Null(CertificateRules.NormaliseAllowedDomains(["*.example.com"], out var why));
        Assert.NotNull(why);
        Assert.Null(CertificateRules.NormaliseAllowedDomains(Enumerable.Repeat("a.example.com", CertificateLimits.MaxAllowedDomains + 1).ToList(), out _));
    }

    [Fact]
    public void Leaf_validity_is_bounded_by_the_CAs_max_TTL_and_its_own_notAfter()
    {
        Assert.Null(CertificateRules.CheckLeafValidity(397, 397, Now, Now.AddYears(5), out var notAfter));
        Assert.Equal(Now.AddDays(397), notAfter);
        Assert.Contains("at most 397", CertificateRules.CheckLeafValidity(398, 397, Now, Now.AddYears(5), out _), StringComparison.Ordinal);
        Assert.Contains("outlive the CA", CertificateRules.CheckLeafValidity(30, 397, Now, Now.AddDays(29), out _), StringComparison.Ordinal);
        Assert.NotNull(CertificateRules.CheckLeafValidity(0, 397, Now, Now.AddYears(5), out _));
        Assert.NotNull(CertificateRules.CheckLeafValidity(null, 397, Now, Now.AddYears(5), out _));
    }

    [Fact]
    public void Path_length_decreases_down_the_chain_and_a_zero_parent_signs_no_CA()
    {
        Assert.Null(CertificateRules.CheckPathLength(2, null, hasParent: false, out var root));
        Assert.Equal(2, root);
        Assert.Null(CertificateRules.CheckPathLength(null, 2, hasParent: true, out var inherited));
        Assert.Equal(1, inherited);
        Assert.NotNull(CertificateRules.CheckPathLength(2, 2, hasParent: true, out _));
        Assert.NotNull(CertificateRules.CheckPathLength(null, 0, hasParent: true, out _));
        Assert.Null(CertificateRules.CheckPathLength(5, null, hasParent: true, out var unlimited));
        Assert.Equal(5, unlimited);
        Assert.NotNull(CertificateRules.CheckPathLength(-1, null, hasParent: false, out _));
        Assert.NotNull(CertificateRules.CheckPathLength(11, null, hasParent: false, out _));
    }

    [Fact]
    public void Revocation_reasons_are_the_RFC_5280_names_without_hold_and_remove()
    {
        Assert.Equal(1, CertificateRules.RevocationReasons["keyCompromise"]);
        Assert.Equal(10, CertificateRules.RevocationReasons["aACompromise"]);
        Assert.False(CertificateRules.RevocationReasons.ContainsKey("certificateHold"));
        Assert.False(CertificateRules.RevocationReasons.ContainsKey("removeFromCRL"));
        Assert.False(CertificateRules.RevocationReasons.ContainsKey("KeyCompromise"));
    }
}
