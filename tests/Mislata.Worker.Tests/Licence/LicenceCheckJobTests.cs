using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.Licensing;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Licensing;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Testing.Licensing;
using Mislata.Worker.Features.Licence;
using StackExchange.Redis;

namespace Mislata.Worker.Tests.Licence;

/// <summary>
/// The worker's hourly licence check, as the worker's own database role, with a real Redis for the announcement and a
/// real HTTP server for the optional revocation check: state changes by the clock are audited once and announced; a
/// revoked answer makes the licence invalid; an unreachable server changes nothing.
/// </summary>
public sealed class LicenceCheckJobTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private readonly MislataDatabase _db = new(DatabaseGrants.WorkerService);
    private readonly ConcurrentQueue<string> _announced = new();
    private RedisInstance? _redis;
    private ConnectionMultiplexer? _publisher;
    private ConnectionMultiplexer? _listener;

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        _redis = await RedisInstance.LaunchAsync();
        _publisher = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        _listener = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        await _listener.GetSubscriber().SubscribeAsync(AccessInvalidation.Channel, (_, message) => _announced.Enqueue(message.ToString()));
    }

    public async Task DisposeAsync()
    {
        _publisher?.Dispose();
        _listener?.Dispose();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        await _db.DisposeAsync();
    }

    private async Task<Guid> InstallAsync(DateTimeOffset expiresAt, int graceDays)
    {
        var id = Guid.NewGuid();
        var licence = TestVendor.Issue(Now.AddDays(-10), expiresAt, graceDays, id: id);
        await _db.ExecuteAsync($"""
            INSERT INTO mislata.licence (slot, licence_id, document, installed_at, installed_by, recorded_state)
            VALUES (1, '{id}', '{licence}', now(), 'test', 'valid')
            """);
        return id;
    }

    private async Task<T> WithJobAsync<T>(FakeTimeProvider time, string? licenceServer, Func<LicenceCheckJob, Task<T>> run)
    {
        using var platformKey = PlatformKey.Generate();
        using var chainKeys = new AuditChainKeys(platformKey);
        await using var log = new PostgresAuditLog(_db.DataSource, chainKeys, TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());
        var invalidation = new AccessInvalidation(_publisher!, MislataDatabase.Logger<AccessInvalidation>());
        var monitor = new LicenceMonitor(_db.Contexts, TestVendor.Anchors, time, invalidation, MislataDatabase.Logger<LicenceMonitor>());
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [LicenceRevocationClient.ServerVariable] = licenceServer }).Build();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var revocation = new LicenceRevocationClient(http, configuration, MislataDatabase.Logger<LicenceRevocationClient>());
        var job = new LicenceCheckJob(_db.Contexts, monitor, revocation, log, invalidation, time, MislataDatabase.Logger<LicenceCheckJob>());
        return await run(job);
    }

    private Task<long> StateChangesAsync(Guid id) =>
        _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE action = 'license.state_change' AND resource_id = '{id}'");

    private async Task AnnouncedAsync()
    {
        for (var i = 0; i < 200 && !_announced.Contains(AccessInvalidation.Licence); i++)
        {
            await Task.Delay(25);
        }

        Assert.True(_announced.TryDequeue(out var message), "the change was not announced");
        Assert.Equal(AccessInvalidation.Licence, message);
    }

    [Fact]
    public async Task State_changes_by_the_clock_are_audited_once_and_announced()
    {
        var id = await InstallAsync(Now.AddDays(1), graceDays: 2);
        var time = new FakeTimeProvider(Now);

        Assert.Equal(LicenceState.Valid, await WithJobAsync(time, null, job => job.RunAsync(CancellationToken.None)));
        Assert.Equal(0L, await StateChangesAsync(id));

        time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(LicenceState.Grace, await WithJobAsync(time, null, job => job.RunAsync(CancellationToken.None)));
        Assert.Equal(1L, await StateChangesAsync(id));
        Assert.Equal("grace", await _db.ScalarAsync<string>("SELECT recorded_state FROM mislata.licence"));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE action = 'license.state_change' AND details->>'from' = 'valid' AND details->>'to' = 'grace'"));
        await AnnouncedAsync();

        // Checked again in the same state: nothing new is audited or announced.
        Assert.Equal(LicenceState.Grace, await WithJobAsync(time, null, job => job.RunAsync(CancellationToken.None)));
        Assert.Equal(1L, await StateChangesAsync(id));

        time.Advance(TimeSpan.FromDays(2));
        Assert.Equal(LicenceState.Restricted, await WithJobAsync(time, null, job => job.RunAsync(CancellationToken.None)));
        Assert.Equal(2L, await StateChangesAsync(id));
        Assert.Equal("restricted", await _db.ScalarAsync<string>("SELECT recorded_state FROM mislata.licence"));
        await AnnouncedAsync();
    }

    [Fact]
    public async Task A_revoked_answer_makes_the_licence_invalid_and_an_unreachable_server_changes_nothing()
    {
        var id = await InstallAsync(Now.AddDays(100), graceDays: 30);
        var time = new FakeTimeProvider(Now);
        var revoked = false;
        var asked = new ConcurrentQueue<string>();
        var port = Processes.FreePort();
        var server = $"http://127.0.0.1:{port}/licensing";
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var serving = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                asked.Enqueue(context.Request.Url!.AbsolutePath);
                var body = Encoding.UTF8.GetBytes(revoked ? "{\"revoked\":true}" : "{\"revoked\":false}");
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            }
        });

        Assert.Equal(LicenceState.Valid, await WithJobAsync(time, server, job => job.RunAsync(CancellationToken.None)));
        Assert.Equal($"/licensing/v1/licenses/{id}/status", Assert.Single(asked));
        Assert.Equal(0L, await StateChangesAsync(id));

        revoked = true;
        Assert.Equal(LicenceState.Invalid, await WithJobAsync(time, server, job => job.RunAsync(CancellationToken.None)));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.licence WHERE revoked_at IS NOT NULL AND recorded_state = 'invalid'"));
        Assert.Equal(1L, await StateChangesAsync(id));
        await AnnouncedAsync();

        revoked = false;
        Assert.Equal(LicenceState.Valid, await WithJobAsync(time, server, job => job.RunAsync(CancellationToken.None)));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.licence WHERE revoked_at IS NULL AND recorded_state = 'valid'"));
        await AnnouncedAsync();

        // The server goes away: the licence's state and the last check stand.
        var checkedAt = await _db.ScalarAsync<DateTime>("SELECT revocation_checked_at FROM mislata.licence");
        listener.Stop();
        await serving;
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(LicenceState.Valid, await WithJobAsync(time, server, job => job.RunAsync(CancellationToken.None)));
        Assert.Equal(checkedAt, await _db.ScalarAsync<DateTime>("SELECT revocation_checked_at FROM mislata.licence"));
        Assert.Equal(2L, await StateChangesAsync(id));
    }
}
