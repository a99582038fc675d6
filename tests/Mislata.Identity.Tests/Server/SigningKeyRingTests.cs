using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Mislata.Crypto.Envelope;
using Mislata.Identity.Features.Server;
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

    [Fact]
    public async Task A_key_is_published_a_day_before_it_signs_and_its_predecessor_stays_published_until_its_tokens_expire()
    {
        var replica1 = NewReplica();
        var replica2 = NewReplica();
        await Task.WhenAll(replica1.LoadAsync(CancellationToken.None), replica2.LoadAsync(CancellationToken.None));

        // Two replicas starting together agree on one key.
        var first = Assert.Single(replica1.KeyIds);
        Assert.Equal([first], replica2.KeyIds);

        // Rotation due: the successor is published at once but the old key still signs.
        _time.Advance(SigningKeyRing.RotationPeriod + TimeSpan.FromMinutes(1));
        var changes = 0;
        using var subscription = ((IOptionsChangeTokenSource<OpenIddictServerOptions>)replica1).GetChangeToken().RegisterChangeCallback(_ => changes++, null);
        await replica1.LoadAsync(CancellationToken.None);
        Assert.Equal(2, replica1.KeyIds.Count);
        Assert.Equal(first, replica1.KeyIds[0]);
        var second = replica1.KeyIds[1];
        Assert.Equal(1, changes);

        // The other replica picks the same successor from the table on its next reload; nothing changes twice.
        await replica2.LoadAsync(CancellationToken.None);
        Assert.Equal([first, second], replica2.KeyIds);
        await replica1.LoadAsync(CancellationToken.None);
        Assert.Equal(1, changes);

        // A day later the successor signs; the predecessor is still published for tokens it signed.
        _time.Advance(SigningKeyRing.PublishAhead);
        await replica1.LoadAsync(CancellationToken.None);
        Assert.Equal([second, first], replica1.KeyIds);

        // Once every token the predecessor signed has expired, it leaves the key set.
        _time.Advance(SigningKeyRing.Retention + TimeSpan.FromMinutes(1));
        await replica1.LoadAsync(CancellationToken.None);
        Assert.Equal([second], replica1.KeyIds);
    }

    [Fact]
    public async Task Keys_are_stored_encrypted_and_unreadable_without_the_master_key()
    {
        await NewReplica().LoadAsync(CancellationToken.None);

        await using (var scope = _services!.CreateAsyncScope())
        {
            var stored = await scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>().SigningKeys.SingleAsync();
            Assert.Equal(_platformKey.Id, stored.MasterKeyId);
            using var probe = System.Security.Cryptography.ECDsa.Create();
            Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => probe.ImportPkcs8PrivateKey(stored.EncryptedPrivateKey, out _));
        }

        using var otherMaster = PlatformKey.Generate();
        var stranger = new SigningKeyRing(_services!, otherMaster, _time, NullLogger<SigningKeyRing>.Instance);
        await Assert.ThrowsAsync<Mislata.ServiceDefaults.StartupException>(() => stranger.LoadAsync(CancellationToken.None));
    }
}
