using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;
using Mislata.Identity.Features.Server;

namespace Mislata.Identity.Tests.Server;

/// <summary>Server nonces of DPoP proofs (RFC 9449 §8) and the public URL a proof's htu is compared with.</summary>
public sealed class DpopNoncesTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-07T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly EphemeralDataProtectionProvider _protection = new();

    [Fact]
    public void A_nonce_is_accepted_for_its_lifetime_and_refused_after()
    {
        var nonces = new DpopNonces(_protection, _time);
        var nonce = nonces.Issue();
        Assert.True(nonces.Accepts(nonce));
        _time.Advance(DpopNonces.Lifetime);
        Assert.True(nonces.Accepts(nonce));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(nonces.Accepts(nonce));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("made-up")]
    [InlineData("CfDJ8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void Made_up_or_missing_nonces_are_refused(string? nonce) =>
        Assert.False(new DpopNonces(_protection, _time).Accepts(nonce));

    [Fact]
    public void A_nonce_of_another_key_ring_or_a_tampered_one_is_refused()
    {
        var nonce = new DpopNonces(new EphemeralDataProtectionProvider(), _time).Issue();
        Assert.False(new DpopNonces(_protection, _time).Accepts(nonce));

        var own = new DpopNonces(_protection, _time);
        var issued = own.Issue();
        var tampered = issued[..^2] + (issued[^2] == 'A' ? 'B' : 'A') + issued[^1];
        Assert.False(own.Accepts(tampered));
    }

    [Fact]
    public void The_public_url_is_the_issuer_origin_and_the_request_path_never_the_internal_host()
    {
        var context = new DefaultHttpContext();
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("127.0.0.1", 5100);
        context.Request.Path = "/connect/token";
        context.Request.QueryString = new QueryString("?a=b");
        Assert.Equal("https://mislata.example/connect/token", DpopBinding.PublicUrl(new Uri("https://mislata.example/"), context.Request).ToString());
    }

    [Theory]
    [InlineData("DPoP abc.def.ghi", "abc.def.ghi")]
    [InlineData("dpop  abc.def.ghi ", "abc.def.ghi")]
    [InlineData("Bearer abc.def.ghi", null)]
    [InlineData("DPoP ", null)]
    [InlineData("DPoPabc", null)]
    public void The_DPoP_scheme_token_is_read_from_the_authorization_header(string header, string? token)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.Authorization = header;
        Assert.Equal(token, DpopBinding.DpopToken(context.Request));
    }
}
