using System.Security.Cryptography;
using Mislata.Core.Ssh;

namespace Mislata.Api.Tests.Ssh;

/// <summary>The issuance rules (Core/Ssh): public keys, principals, validity, critical options and extensions.</summary>
public sealed class SshCertificateRulesTests
{
    private const string Ed25519Key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM user@example";
    private static readonly SshCaPolicy Policy = new(86_400, 30 * 86_400, []);

    private static SshCertificateDraft Draft(
        string? publicKey = Ed25519Key, string? type = "user", string? keyId = "alice", IReadOnlyList<string?>? principals = null, long? validity = 3600,
        IReadOnlyDictionary<string, string?>? options = null, IReadOnlyList<string?>? extensions = null) =>
        new(publicKey, type, keyId, principals ?? ["alice"], validity, options, extensions);

    private static Dictionary<string, List<string>> Errors(SshCertificateDraft draft, SshCaPolicy? policy = null)
    {
        var errors = new Dictionary<string, List<string>>();
        var order = SshCertificateRules.Check(draft, policy ?? Policy, (field, message) =>
        {
            if (!errors.TryGetValue(field, out var list))
            {
                errors[field] = list = [];
            }

            list.Add(message);
        });
        Assert.Equal(errors.Count == 0, order is not null);
        return errors;
    }

    private static string RsaLine(int bits)
    {
        using var rsa = RSA.Create(bits);
        var p = rsa.ExportParameters(false);
        var blob = new SshWriter().String("ssh-rsa").MpInt(p.Exponent).MpInt(p.Modulus).ToArray();
        return "ssh-rsa " + Convert.ToBase64String(blob);
    }

    [Fact]
    public void A_valid_user_request_gets_the_ssh_keygen_default_extensions_sorted()
    {
        var order = SshCertificateRules.Check(Draft(), Policy, (f, m) => Assert.Fail($"{f}: {m}"))!;
        Assert.Equal(SshCertificateType.User, order.Type);
        Assert.Equal(["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc"], order.Extensions);
        Assert.Empty(order.CriticalOptions);
        var host = SshCertificateRules.Check(Draft(type: "host", principals: ["web1.example.com"]), Policy, (f, m) => Assert.Fail($"{f}: {m}"))!;
        Assert.Empty(host.Extensions);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("ssh-ed25519")]
    [InlineData("ssh-ed25519 not*base64")]
    [InlineData("ssh-dss AAAAB3NzaC1kc3MAAACBAP")]
    [InlineData("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDvEZq3mxMrn6D6kwZoGeNsCMZqx6u6WXbLQStmozj")] // truncated blob
    [InlineData("ecdsa-sha2-nistp256 AAAAC3NzaC1lZDI1NTE5AAAAID1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM")] // type mismatch
    [InlineData("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP//////////////////////////////////////////")] // not a point
    [InlineData("ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t")]
    public void A_bad_public_key_is_a_publicKey_error(string? line)
    {
        var errors = Errors(Draft(publicKey: line));
        Assert.True(errors.ContainsKey("publicKey"), string.Join(", ", errors.Keys));
    }

    [Fact]
    public void Rsa_keys_need_2048_bits_and_ecdsa_keys_a_point_on_their_curve()
    {
        Assert.Contains("1024 bits", Errors(Draft(publicKey: RsaLine(1024)))["publicKey"][0], StringComparison.Ordinal);
        Assert.Empty(Errors(Draft(publicKey: RsaLine(2048))));
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var q = ec.ExportParameters(false).Q;
        byte[] point = [4, .. q.X!, .. q.Y!];
        var good = "ecdsa-sha2-nistp256 " + Convert.ToBase64String(new SshWriter().String("ecdsa-sha2-nistp256").String("nistp256").String(point).ToArray());
        Assert.Empty(Errors(Draft(publicKey: good)));
        point[^1] ^= 1;
        var offCurve = "ecdsa-sha2-nistp256 " + Convert.ToBase64String(new SshWriter().String("ecdsa-sha2-nistp256").String("nistp256").String(point).ToArray());
        Assert.Contains("publicKey", Errors(Draft(publicKey: offCurve)).Keys);
        var trailing = Convert.ToBase64String([.. new SshWriter().String("ssh-ed25519").String(new byte[32]).ToArray(), 0]);
        Assert.Contains("publicKey", Errors(Draft(publicKey: "ssh-ed25519 " + trailing)).Keys);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-5L)]
    [InlineData(86_401L)]
    public void Validity_must_be_positive_and_within_the_cas_maximum(long validity) =>
        Assert.Contains("validitySeconds", Errors(Draft(validity: validity)).Keys);

    [Fact]
    public void Host_certificates_may_live_up_to_the_host_maximum_and_the_window_starts_five_minutes_early()
    {
        Assert.Empty(Errors(Draft(type: "host", validity: 30 * 86_400)));
        Assert.Contains("validitySeconds", Errors(Draft(type: "host", validity: (30 * 86_400) + 1)).Keys);
        Assert.Contains("validitySeconds", Errors(Draft(validity: null)).Keys);
        var now = new DateTimeOffset(2026, 12, 7, 12, 0, 0, 500, TimeSpan.Zero);
        var (after, before) = SshCertificateRules.Window(now, 3600);
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 11, 55, 0, TimeSpan.Zero), after);
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 13, 0, 0, TimeSpan.Zero), before);
    }

    [Fact]
    public void Principals_are_required_bounded_checked_and_within_the_cas_patterns()
    {
        Assert.Contains("principals", Errors(Draft(principals: [])).Keys);
        Assert.Contains("principals", Errors(Draft(type: "host", principals: [])).Keys);
        Assert.Contains("principals", Errors(Draft(principals: [.. Enumerable.Range(0, 257).Select(i => "u" + i)])).Keys);
        Assert.Empty(Errors(Draft(principals: [.. Enumerable.Range(0, 256).Select(i => "u" + i)])));
        foreach (var bad in new[] { "", "-oProxyCommand", "a b", "a,b", "é", null, new string('a', 256) })
        {
            Assert.True(Errors(Draft(principals: [bad])).ContainsKey("principals"), bad);
        }

        var policy = new SshCaPolicy(86_400, 86_400, ["deploy-*", "root?"]);
        Assert.Empty(Errors(Draft(principals: ["deploy-web", "root1"]), policy));
        Assert.Contains("principals", Errors(Draft(principals: ["deploy-web", "root"]), policy).Keys);
        Assert.Contains("principals", Errors(Draft(principals: ["admin"]), policy).Keys);
    }

    [Fact]
    public void Unknown_critical_options_bad_source_addresses_and_options_on_host_certificates_are_refused()
    {
        Assert.Contains("criticalOptions", Errors(Draft(options: new Dictionary<string, string?> { ["permit-everything"] = "" })).Keys);
        Assert.Contains("criticalOptions", Errors(Draft(options: new Dictionary<string, string?> { ["source-address"] = "10.0.0.0/33" })).Keys);
        Assert.Contains("criticalOptions", Errors(Draft(options: new Dictionary<string, string?> { ["source-address"] = "example.com" })).Keys);
        Assert.Contains("criticalOptions", Errors(Draft(options: new Dictionary<string, string?> { ["force-command"] = "" })).Keys);
        Assert.Contains("criticalOptions", Errors(Draft(type: "host", options: new Dictionary<string, string?> { ["force-command"] = "ls" })).Keys);
        Assert.Contains("extensions", Errors(Draft(type: "host", extensions: ["permit-pty"])).Keys);
        Assert.Contains("extensions", Errors(Draft(extensions: ["permit-root"])).Keys);

        var order = SshCertificateRules.Check(
            Draft(options: new Dictionary<string, string?> { ["source-address"] = " 192.0.2.7 , 10.1.0.0/16,2001:db8::/32", ["verify-required"] = null },
                extensions: ["permit-pty", "permit-pty"]),
            Policy, (f, m) => Assert.Fail($"{f}: {m}"))!;
        Assert.Equal(["source-address", "verify-required"], order.CriticalOptions.Select(o => o.Key));
        Assert.Equal("192.0.2.7,10.1.0.0/16,2001:db8::/32", order.CriticalOptions[0].Value);
        Assert.Equal(["permit-pty"], order.Extensions);
    }

    [Fact]
    public void Type_and_key_id_are_required()
    {
        Assert.Contains("type", Errors(Draft(type: "admin")).Keys);
        Assert.Contains("keyId", Errors(Draft(keyId: " ")).Keys);
        Assert.Contains("keyId", Errors(Draft(keyId: "a\nb")).Keys);
        Assert.Contains("keyId", Errors(Draft(keyId: new string('k', 257))).Keys);
    }

    [Fact]
    public void Ca_names_are_short_and_plain()
    {
        Assert.True(SshCertificateRules.IsValidCaName("prod-users_1.0"));
        Assert.False(SshCertificateRules.IsValidCaName("prod users"));
        Assert.False(SshCertificateRules.IsValidCaName(new string('a', 65)));
        Assert.False(SshCertificateRules.IsValidCaName(null));
    }
}
