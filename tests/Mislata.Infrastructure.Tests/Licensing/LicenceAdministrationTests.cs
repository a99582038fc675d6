using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.Access;
using Mislata.Core.Licensing;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Licensing;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Testing.Licensing;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests.Licensing;

/// <summary>
/// Installing the licence as the api's own database role, with two "replicas" (each its own monitor and Redis
/// connection): a refused licence never replaces the installed one; the environment's licence at start does not replace
/// a newer one; a change reaches the other replica over Redis; the state follows the clock.
/// </summary>
public sealed class LicenceAdministrationTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private readonly MislataDatabase _db = new();
    private readonly FakeTimeProvider _time = new(Now);
    private RedisInstance? _redis;
    private Replica? _a;
    private Replica? _b;
    private PlatformKey? _platformKey;
    private AuditChainKeys? _chainKeys;
    private PostgresAuditLog? _audit;

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        _redis = await RedisInstance.LaunchAsync();
        _platformKey = PlatformKey.Generate();
        _chainKeys = new AuditChainKeys(_platformKey);
        _audit = new PostgresAuditLog(_db.DataSource, _chainKeys, TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());
        _a = await Replica.StartAsync(_redis.Configuration, _db, _time);
        _b = await Replica.StartAsync(_redis.Configuration, _db, _time);
    }

    public async Task DisposeAsync()
    {
        _a?.Dispose();
        _b?.Dispose();
        if (_audit is not null)
        {
            await _audit.DisposeAsync();
        }

        _chainKeys?.Dispose();
        _platformKey?.Dispose();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        await _db.DisposeAsync();
    }

    private sealed class Replica : IDisposable
    {
        private Replica(ConnectionMultiplexer redis, MislataDatabase db, TimeProvider time)
        {
            Redis = redis;
            Invalidation = new AccessInvalidation(redis, NullLogger<AccessInvalidation>.Instance);
            Subscriber = new AccessInvalidationSubscriber(redis, Invalidation, NullLogger<AccessInvalidationSubscriber>.Instance);
            Monitor = new LicenceMonitor(db.Contexts, TestVendor.Anchors, time, Invalidation, NullLogger<LicenceMonitor>.Instance);
        }

        public ConnectionMultiplexer Redis { get; }

        public AccessInvalidation Invalidation { get; }

        public AccessInvalidationSubscriber Subscriber { get; }

        public LicenceMonitor Monitor { get; }

        public static async Task<Replica> StartAsync(string configuration, MislataDatabase db, TimeProvider time)
        {
            var replica = new Replica(await ConnectionMultiplexer.ConnectAsync(configuration), db, time);
            await replica.Subscriber.StartAsync(CancellationToken.None);
            return replica;
        }

        public void Dispose() => Redis.Dispose();
    }

    private LicenceAdministration Admin(Replica replica, out MislataDbContext db)
    {
        db = _db.Contexts.CreateDbContext();
        var identity = new IdentityStoreDbContext(new DbContextOptionsBuilder<IdentityStoreDbContext>().UseNpgsql(_db.DataSource).Options);
        return new LicenceAdministration(db, identity, TestVendor.Anchors, replica.Monitor, replica.Invalidation, _audit!, _time, NullLogger<LicenceAdministration>.Instance);
    }

    private async Task<(LicenceCheck Check, LicenceStatus? Installed)> InstallAsync(Replica replica, string licence)
    {
        var admin = Admin(replica, out var db);
        await using (db)
        {
            return await admin.InstallAsync(licence, new RequestActor(Core.Audit.AuditActorType.Client, "operator", "127.0.0.1", "req-1"), CancellationToken.None);
        }
    }

    private async Task InstallAtStartAsync(Replica replica, string licence)
    {
        var admin = Admin(replica, out var db);
        await using (db)
        {
            await admin.InstallAtStartAsync(licence, CancellationToken.None);
        }
    }

    private Task<Guid> InstalledIdAsync() => _db.ScalarAsync<Guid>("SELECT licence_id FROM mislata.licence");

    private static string Licence(Guid id, DateTimeOffset issuedAt, DateTimeOffset? expiresAt = null, int graceDays = 30) =>
        LicenceDocument.Issue(TestVendor.Payload(Now.AddDays(-10), expiresAt ?? Now.AddDays(100), graceDays, id: id) with { IssuedAt = issuedAt }, TestVendor.KeyPair);

    [Fact]
    public async Task A_refused_licence_leaves_the_installed_one_and_is_audited_as_a_failure()
    {
        Assert.Equal(LicenceState.Community, (await _a!.Monitor.CurrentAsync(CancellationToken.None)).State);
        var good = Guid.NewGuid();
        var (check, installed) = await InstallAsync(_a, Licence(good, Now));
        Assert.True(check.IsAuthentic);
        Assert.Equal(LicenceState.Valid, installed!.State);

        using var stranger = VendorKeyPair.Generate("stranger-infra-1");
        var refused = new[]
        {
            LicenceDocument.Issue(TestVendor.Payload(Now.AddDays(-1), Now.AddDays(10)), stranger),
            Licence(Guid.NewGuid(), Now, expiresAt: Now.AddDays(-40), graceDays: 30),
            "garbage",
        };
        foreach (var text in refused)
        {
            var (_, none) = await InstallAsync(_a, text);
            Assert.Null(none);
            Assert.Equal(good, await InstalledIdAsync());
        }

        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE action = 'license.install' AND outcome = 'success' AND resource_id = '{good}' AND details->>'state' = 'valid'"));
        Assert.Equal(3L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.audit_events WHERE action = 'license.install' AND outcome = 'failure' AND error_code = 'license_invalid'"));
    }

    [Fact]
    public async Task The_licence_of_the_environment_does_not_replace_a_newer_installed_one()
    {
        var first = Guid.NewGuid();
        await InstallAtStartAsync(_a!, Licence(first, Now.AddDays(-5)));
        Assert.Equal(first, await InstalledIdAsync());
        var installedAt = await _db.ScalarAsync<DateTime>("SELECT installed_at FROM mislata.licence");

        // The same licence at the next start: nothing happens.
        await InstallAtStartAsync(_a!, Licence(first, Now.AddDays(-5)));
        Assert.Equal(installedAt, await _db.ScalarAsync<DateTime>("SELECT installed_at FROM mislata.licence"));

        // A newer licence installed through the API, then a restart with the older one still in the environment.
        var newer = Guid.NewGuid();
        await InstallAsync(_a!, Licence(newer, Now.AddDays(-1)));
        await InstallAtStartAsync(_a!, Licence(first, Now.AddDays(-5)));
        Assert.Equal(newer, await InstalledIdAsync());

        // A licence issued later than the installed one replaces it; a forged one never does.
        var renewal = Guid.NewGuid();
        await InstallAtStartAsync(_a!, Licence(renewal, Now));
        Assert.Equal(renewal, await InstalledIdAsync());
        using var stranger = VendorKeyPair.Generate("stranger-infra-2");
        await InstallAtStartAsync(_a!, LicenceDocument.Issue(TestVendor.Payload(Now.AddDays(-1), Now.AddDays(10)) with { IssuedAt = Now.AddDays(1) }, stranger));
        Assert.Equal(renewal, await InstalledIdAsync());
    }

    [Fact]
    public async Task Another_replica_sees_a_new_licence_within_seconds_and_the_state_follows_the_clock()
    {
        var first = Guid.NewGuid();
        await InstallAsync(_a!, Licence(first, Now, expiresAt: Now.AddDays(1), graceDays: 2));
        Assert.Equal(first, (await _b!.Monitor.CurrentAsync(CancellationToken.None)).Licence!.Id);

        var second = Guid.NewGuid();
        await InstallAsync(_a!, Licence(second, Now, expiresAt: Now.AddDays(1), graceDays: 2));
        var watch = Stopwatch.StartNew();
        LicenceStatus seen;
        do
        {
            seen = await _b!.Monitor.CurrentAsync(CancellationToken.None);
            await Task.Delay(20);
        }
        while (seen.Licence!.Id != second && watch.Elapsed < TimeSpan.FromSeconds(30));

        // The fake clock stands still, so B's loaded licence never ages: only the message over Redis made B reload.
        Assert.Equal(second, seen.Licence!.Id);

        // The state follows the clock: valid → grace → restricted.
        Assert.Equal(LicenceState.Valid, seen.State);
        _time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(LicenceState.Grace, (await _b.Monitor.CurrentAsync(CancellationToken.None)).State);
        _time.Advance(TimeSpan.FromDays(2));
        var restricted = await _b.Monitor.CurrentAsync(CancellationToken.None);
        Assert.Equal(LicenceState.Restricted, restricted.State);
        Assert.False(restricted.AllowsNewData);
    }
}
