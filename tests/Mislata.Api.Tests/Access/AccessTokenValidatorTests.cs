using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Mislata.Api.Access;
using Mislata.Core.Access;

namespace Mislata.Api.Tests.Access;

/// <summary>Tokens minted with a test ES256 key; the JWKS is served by an in-memory handler (no call to identity).</summary>
public sealed class AccessTokenValidatorTests : IDisposable
{
    private const string Issuer = "https://mislata.example";
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly JwksHandler _jwks = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    public AccessTokenValidatorTests() => _jwks.Json = JwksOf(_key, "k1");

    public void Dispose()
    {
        _key.Dispose();
        _jwks.Dispose();
    }

    private AccessTokenValidator NewValidator()
    {
        var options = new AccessTokenOptions { Issuer = Issuer, JwksUri = new Uri("http://identity.test/.well-known/jwks") };
#pragma warning disable CA2000 // the validator owns the client for the test's lifetime
        return new AccessTokenValidator(new JwksCache(new HttpClient(_jwks), options, _time, NullLogger<JwksCache>.Instance), options);
#pragma warning restore CA2000
    }

    private static string Mint(ECDsa key, string kid, Dictionary<string, object> claims, string issuer = Issuer, string audience = AccessTokenOptions.Audience, DateTime? expires = null)
    {
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Claims = claims,
            Expires = expires ?? DateTime.UtcNow.AddMinutes(15),
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(key) { KeyId = kid }, SecurityAlgorithms.EcdsaSha256),
        };
        return new JsonWebTokenHandler().CreateToken(descriptor);
    }

    private static string JwksOf(ECDsa key, string kid)
    {
        var jwk = JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(key) { KeyId = kid });
        return $$"""{"keys":[{"kty":"EC","crv":"P-256","x":"{{jwk.X}}","y":"{{jwk.Y}}","kid":"{{kid}}","use":"sig","alg":"ES256"}]}""";
    }

    private static Dictionary<string, object> OperatorClaims() => new()
    {
        [ClaimNames.Subject] = "op-client",
        [ClaimNames.ClientId] = "op-client",
        [ClaimNames.Role] = Roles.PlatformAdmin,
        [ClaimNames.Scope] = "platform:admin audit:read",
    };

    [Fact]
    public async Task A_valid_operator_token_gives_an_operator_caller()
    {
        var identity = await NewValidator().ValidateAsync(Mint(_key, "k1", OperatorClaims()), CancellationToken.None);
        Assert.NotNull(identity);
        var (caller, refusal) = CallerAuthenticationMiddleware.FromAccessToken(identity);
        Assert.Null(refusal);
        Assert.Null(caller!.TenantId);
        Assert.True(caller.Has(Scopes.PlatformAdmin));
        Assert.Equal("op-client", caller.ActorId);
    }

    [Fact]
    public async Task Wrong_issuer_audience_expired_or_foreign_key_is_refused()
    {
        var validator = NewValidator();
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), issuer: "https://evil.example"), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), audience: "other-api"), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims(), expires: DateTime.UtcNow.AddMinutes(-5)), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync(Mint(other, "k1", OperatorClaims()), CancellationToken.None));
        Assert.Null(await validator.ValidateAsync("not.a.token", CancellationToken.None));
    }

    [Fact]
    public async Task An_unknown_kid_refreshes_the_jwks_at_most_once_per_interval()
    {
        var validator = NewValidator();
        Assert.NotNull(await validator.ValidateAsync(Mint(_key, "k1", OperatorClaims()), CancellationToken.None));
        Assert.Equal(1, _jwks.Requests);

        // Identity rotates to k2: the first token signed with it triggers one refresh.
        using var rotated = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _jwks.Json = JwksOf(rotated, "k2");
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.NotNull(await validator.ValidateAsync(Mint(rotated, "k2", OperatorClaims()), CancellationToken.None));
        Assert.Equal(2, _jwks.Requests);

        // Forged tokens with unknown kids in a burst do not hammer identity.
        using var forger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        for (var i = 0; i < 5; i++)
        {
            Assert.Null(await validator.ValidateAsync(Mint(forger, "k-unknown-" + i, OperatorClaims()), CancellationToken.None));
        }

        Assert.Equal(2, _jwks.Requests);
    }

    [Fact]
    public void Token_scopes_count_only_as_far_as_roles_and_binding_allow()
    {
        var tenant = Guid.NewGuid();
        var member = new ClaimsIdentity(
        [
            new Claim(ClaimNames.Subject, "user-1"),
            new Claim(ClaimNames.ClientId, "app"),
            new Claim(ClaimNames.TenantId, tenant.ToString()),
            new Claim(ClaimNames.Role, Roles.TenantMember),
            new Claim(ClaimNames.Scope, "keys:read apikeys:write platform:admin"),
        ]);
        var (caller, _) = CallerAuthenticationMiddleware.FromAccessToken(member);
        Assert.Equal(tenant, caller!.TenantId);
        Assert.Equal(["keys:read"], caller.Scopes.Order());
        Assert.Equal(Core.Audit.AuditActorType.User, caller.ActorType);

        var partner = Guid.NewGuid();
        var partnerAdmin = new ClaimsIdentity(
        [
            new Claim(ClaimNames.Subject, "user-2"),
            new Claim(ClaimNames.PartnerId, partner.ToString()),
            new Claim(ClaimNames.Role, Roles.PartnerAdmin),
            new Claim(ClaimNames.Scope, "partner:admin"),
        ]);
        (caller, _) = CallerAuthenticationMiddleware.FromAccessToken(partnerAdmin);
        Assert.Equal(partner, caller!.PartnerId);
        Assert.True(caller.Has(Scopes.PartnerAdmin));

        var badTenant = new ClaimsIdentity([new Claim(ClaimNames.Subject, "x"), new Claim(ClaimNames.TenantId, "nope")]);
        Assert.Null(CallerAuthenticationMiddleware.FromAccessToken(badTenant).Caller);
    }

    private sealed class JwksHandler : HttpMessageHandler
    {
        public string Json { get; set; } = "{\"keys\":[]}";

        public int Requests { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests++;
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(Json) });
        }
    }
}
