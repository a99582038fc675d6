using Microsoft.Extensions.DependencyInjection;
using Mislata.Core.Audit;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Persistence.Audit;
using Mislata.Worker.Features.Audit;

namespace Mislata.Worker.Tests.Audit;

/// <summary>The worker's recurring verification of every audit chain, on real PostgreSQL.</summary>
public sealed class AuditChainVerificationJobTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new();

    public Task InitializeAsync() => _db.InitializeAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private static AuditEvent Event(Guid? tenant, string action) => new()
    {
        TenantId = tenant,
        ActorType = AuditActorType.User,
        ActorId = "u-1",
        Action = action,
        Outcome = AuditOutcome.Success,
    };

    [Fact]
    public async Task Every_chain_is_checked_and_a_broken_one_is_reported_in_its_own_trail()
    {
        var (healthy, tampered) = (Guid.NewGuid(), Guid.NewGuid());
        using var platformKey = PlatformKey.Generate();
        using var keys = new AuditChainKeys(platformKey);
        await using var log = new PostgresAuditLog(_db.DataSource, keys, TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());
        foreach (var tenant in new Guid?[] { healthy, tampered, null })
        {
            for (var i = 0; i < 3; i++)
            {
                await log.RecordAsync(Event(tenant, "key.create"), CancellationToken.None);
            }
        }

        var reader = new PostgresAuditReader(_db.Contexts, keys, TimeProvider.System);
        using var meters = new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(meters);
        long brokenCount = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "mislata.audit.chains.broken" && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref brokenCount, value));
        listener.Start();
        var job = new AuditChainVerificationJob(_db.Contexts, reader, log, MislataDatabase.Logger<AuditChainVerificationJob>(), new AuditChainAlerts(factory));
        var clean = await job.RunAsync(CancellationToken.None);
        Assert.Equal(0, Interlocked.Read(ref brokenCount));
        Assert.Equal(3, clean.Chains);
        Assert.Equal(9, clean.Events);
        Assert.Empty(clean.BrokenChains);

        var edited = await _db.ScalarAsync<Guid>($"SELECT id FROM mislata.audit_events WHERE chain = '{tampered}' AND sequence = 2");
        await _db.ExecuteAsync($"UPDATE mislata.audit_events SET actor_id = 'someone-else' WHERE id = '{edited}'");

        var report = await job.RunAsync(CancellationToken.None);
        Assert.Equal([tampered], report.BrokenChains);
        Assert.Equal(1, Interlocked.Read(ref brokenCount)); // the alert metric

        // The tenant's auditors see the finding in their own trail, pointing at the first broken event.
        var finding = Assert.Single((await reader.ListAsync(new AuditQuery { TenantId = tampered, Action = AuditChainVerificationJob.BrokenAction }, CancellationToken.None)).Data);
        Assert.Equal(edited.ToString(), finding.ResourceId);
        Assert.Equal("system", finding.ActorType);
        Assert.Equal("failure", finding.Outcome);
        Assert.Empty((await reader.ListAsync(new AuditQuery { TenantId = healthy, Action = AuditChainVerificationJob.BrokenAction }, CancellationToken.None)).Data);
    }

    [Fact]
    public async Task A_chain_edited_and_rechained_with_the_unkeyed_rule_using_the_database_alone_is_reported_by_the_job()
    {
        var (healthy, tampered) = (Guid.NewGuid(), Guid.NewGuid());
        using var platformKey = PlatformKey.Generate();
        using var keys = new AuditChainKeys(platformKey);
        await using var log = new PostgresAuditLog(_db.DataSource, keys, TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());
        foreach (var tenant in new[] { healthy, tampered })
        {
            for (var i = 0; i < 4; i++)
            {
                await log.RecordAsync(Event(tenant, "secret.read"), CancellationToken.None);
            }
        }

        var reader = new PostgresAuditReader(_db.Contexts, keys, TimeProvider.System);
        var job = new AuditChainVerificationJob(_db.Contexts, reader, log, MislataDatabase.Logger<AuditChainVerificationJob>());
        Assert.Empty((await job.RunAsync(CancellationToken.None)).BrokenChains);

        // The attacker hides the deletion of a secret read: rewrites the row and recomputes the chain and the head's hash.
        var edited = await _db.ScalarAsync<Guid>($"SELECT id FROM mislata.audit_events WHERE chain = '{tampered}' AND sequence = 2");
        await _db.ExecuteAsync($"UPDATE mislata.audit_events SET action = 'key.create' WHERE id = '{edited}'");
        await UnkeyedAuditRewrite.RechainAsync(_db.AdminConnectionString, tampered, 2);

        var report = await job.RunAsync(CancellationToken.None);
        Assert.Equal([tampered], report.BrokenChains);
        var finding = Assert.Single((await reader.ListAsync(new AuditQuery { TenantId = tampered, Action = AuditChainVerificationJob.BrokenAction }, CancellationToken.None)).Data);
        Assert.Equal(edited.ToString(), finding.ResourceId);
    }
}
