using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Mislata.Crypto.Envelope;
using Mislata.Identity.Features.Server;
using Mislata.Infrastructure.Authentication;
using Mislata.Infrastructure.Identity;
using OpenIddict.Server;

namespace Mislata.Identity.Tests.Server;

/// <summary>Signing-key rotation against real PostgreSQL with a fake clock: publish ahead, switch, retire.</summary>
public sealed class SigningKeyRingTests : IAsyncLifetime
{
    private PostgresInstance? _postgres;
    private ServiceProvider? _services;
    private readonly PlatformKey _platformKey = PlatformKey.Generate();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public async Task InitializeAsync()
    {
        _postgres = await PostgresInstance.SharedOrOwnAsync();
        var connectionString = await _postgres.CreateDatabaseAsync("idkeys");
        _services = new ServiceCollection()
            .AddDbContext<IdentityStoreDbContext>(o =>
            {
                o.UseNpgsql(connectionString, n => n.MigrationsHistoryTable("__EFMigrationsHistory", IdentityStoreDbContext.Schema));
                o.UseOpenIddict<Guid>();
            })
            .BuildServiceProvider();
        await using var scope = _services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>().Database.MigrateAsync();
    }

    public async Task DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        _platformKey.Dispose();
    }

    private SigningKeyRing NewReplica() => new(_services!, _platformKey, _time, NullLogger<SigningKeyRing>.Instance);

    [Theory]
    [InlineData("ES256")]
    [InlineData("ML-DSA-65")]
    public async Task A_key_is_published_a_day_before_it_signs_and_its_predecessor_stays_published_until_its_tokens_expire(string algorithm)
    {
        var replica1 = NewReplica();
        var replica2 = NewReplica();
        await Task.WhenAll(replica1.LoadAsync(CancellationToken.None), replica2.LoadAsync(CancellationToken.None));

        // Two replicas starting together agree on one key.
        var first = Assert.Single(replica1.KeyIds(algorithm));
        Assert.Equal([first], replica2.KeyIds(algorithm));

        // Rotation due: the successor is published at once but the old key still signs.
        _time.Advance(SigningKeyRing.RotationPeriod + TimeSpan.FromMinutes(1));
        var changes = 0;
        using var subscription = ((IOptionsChangeTokenSource<OpenIddictServerOptions>)replica1).GetChangeToken().RegisterChangeCallback(_ => changes++, null);
        await replica1.LoadAsync(CancellationToken.None);
        Assert.Equal(2, replica1.KeyIds(algorithm).Count);
        Assert.Equal(first, replica1.KeyIds(algorithm)[0]);
        var second = replica1.KeyIds(algorithm)[1];
        Assert.Equal(1, changes);

        // The other replica picks the same successor from the table on its next reload; nothing changes twice.
        await replica2.LoadAsync(CancellationToken.None);
        Assert.Equal([first, second], replica2.KeyIds(algorithm));
        await replica1.LoadAsync(CancellationToken.None);
        Assert.Equal(1, changes);

        // A day later the successor signs; the predecessor is still published for tokens it signed.
        _time.Advance(SigningKeyRing.PublishAhead);
        await replica1.LoadAsync(CancellationToken.None);
        Assert.Equal([second, first], replica1.KeyIds(algorithm));

        // Once every token the predecessor signed has expired, it leaves the key set.
        _time.Advance(SigningKeyRing.Retention + TimeSpan.FromMinutes(1));
        await replica1.LoadAsync(CancellationToken.None);
        Assert.Equal([second], replica1.KeyIds(algorithm));
    }

    [Fact]
    public async Task Keys_are_stored_encrypted_and_unreadable_without_the_master_key()
    {
        await NewReplica().LoadAsync(CancellationToken.None);

        await using (var scope = _services!.CreateAsyncScope())
        {
            var stored = await scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>().SigningKeys.OrderBy(k => k.Algorithm).ToListAsync();
            Assert.Equal(["ES256", "ML-DSA-65"], stored.Select(k => k.Algorithm));
            Assert.All(stored, k => Assert.Equal(_platformKey.Id, k.MasterKeyId));
            using var probe = System.Security.Cryptography.ECDsa.Create();
            Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => probe.ImportPkcs8PrivateKey(stored[0].EncryptedPrivateKey, out _));
            Assert.ThrowsAny<Exception>(() => Mislata.Crypto.Algorithms.KeyMaterial.FromStorage(stored[1].EncryptedPrivateKey));
        }

        using var otherMaster = PlatformKey.Generate();
        var stranger = new SigningKeyRing(_services!, otherMaster, _time, NullLogger<SigningKeyRing>.Instance);
        await Assert.ThrowsAsync<Mislata.ServiceDefaults.StartupException>(() => stranger.LoadAsync(CancellationToken.None));
    }

    [Fact]
    public async Task The_ML_DSA_65_key_signs_tokens_that_its_public_key_verifies()
    {
        var ring = NewReplica();
        await ring.LoadAsync(CancellationToken.None);
        var credentials = ring.Active("ML-DSA-65");
        Assert.Equal("ML-DSA-65", credentials.Algorithm);
        var key = Assert.IsType<MlDsa65SecurityKey>(credentials.Key);
        Assert.Equal(ring.KeyIds("ML-DSA-65")[0], key.KeyId);

        var handler = new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler();
        var token = handler.CreateToken(new Microsoft.IdentityModel.Tokens.SecurityTokenDescriptor
        {
            Issuer = "https://mislata.test", Audience = "mislata-api", Expires = DateTime.UtcNow.AddMinutes(5), SigningCredentials = credentials,
        });
        Assert.Equal("ML-DSA-65", handler.ReadJsonWebToken(token).Alg);
        var publicOnly = new MlDsa65SecurityKey(key.PublicKey, null, key.KeyId);
        var parameters = new Microsoft.IdentityModel.Tokens.TokenValidationParameters
        {
            ValidIssuer = "https://mislata.test", ValidAudience = "mislata-api", IssuerSigningKey = publicOnly, ValidAlgorithms = ["ML-DSA-65"],
        };
        Assert.True((await handler.ValidateTokenAsync(token, parameters)).IsValid);

        // The ES256 key signs first: what no application chose stays ES256.
        Assert.Equal("ES256", ring.Credentials[0].Algorithm);
        Assert.Equal(ring.KeyIds("ES256")[0], ring.Credentials[0].Key.KeyId);
    }
}
