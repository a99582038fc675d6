using Mislata.Core.Audit;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Persistence.Audit;

namespace Mislata.Infrastructure.Tests.Audit;

/// <summary>
/// The keyed audit chain against real PostgreSQL: links MAC'd under a master-key derived key, so that rewriting rows and
/// recomputing the chain with database access alone is detected; the upgrade from v1 (unkeyed) rows; incremental,
/// bounded verification from a MAC'd checkpoint; master-key rotation.
/// </summary>
public sealed class KeyedAuditChainTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new();
    private readonly List<IDisposable> _owned = [];

    public Task InitializeAsync() => _db.InitializeAsync();

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        foreach (var d in Enumerable.Reverse(_owned))
        {
            d.Dispose();
        }
    }

    /// <summary>The chain keys of an installation whose platform key has <paramref name="root"/>'s bytes (a legacy installation's).</summary>
    private AuditChainKeys Keys(string root)
    {
        var ring = MasterKeyRing.FromBase64(root, null);
        var platformKey = PlatformKey.FromLegacyMasterKey(ring.Current);
        var keys = new AuditChainKeys(platformKey);
        _owned.Add(ring);
        _owned.Add(platformKey);
        _owned.Add(keys);
        return keys;
    }

    private PostgresAuditLog Log(AuditChainKeys keys) => new(_db.DataSource, keys, TimeProvider.System, MislataDatabase.Logger<PostgresAuditLog>());

    private PostgresAuditReader Reader(AuditChainKeys keys) => new(_db.Contexts, keys, TimeProvider.System);

    private static AuditEvent Event(Guid tenant, string action, int i) => new()
    {
        TenantId = tenant,
        ActorType = AuditActorType.ApiKey,
        ActorId = "key-" + i,
        Action = action,
        ResourceType = "key",
        ResourceId = "res-" + i,
        Outcome = AuditOutcome.Success,
        SourceIp = "127.0.0.1",
        Details = new Dictionary<string, string> { ["algorithm"] = "ML-KEM-768", ["n"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) },
    };

    private async Task<Guid> ChainWithEventsAsync(AuditChainKeys keys, int count, Guid? tenant = null)
    {
        var chain = tenant ?? Guid.NewGuid();
        await using var log = Log(keys);
        for (var i = 0; i < count; i++)
        {
            await log.RecordAsync(Event(chain, "key.create", i), CancellationToken.None);
        }

        return chain;
    }

    private Task<Guid> IdAtAsync(Guid chain, long sequence) =>
        _db.ScalarAsync<Guid>($"SELECT id FROM mislata.audit_events WHERE chain = '{chain}' AND sequence = {sequence}");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_row_edited_and_rechained_with_the_unkeyed_rule_using_the_database_alone_is_reported(bool markUnkeyed)
    {
        var keys = Keys(TestEnvironment.NewMasterKey());
        var chain = await ChainWithEventsAsync(keys, 6);
        Assert.True((await Reader(keys).VerifyAllAsync(chain, CancellationToken.None)).Valid);

        var edited = await IdAtAsync(chain, 3);
        await _db.ExecuteAsync($"UPDATE mislata.audit_events SET action = 'key.nothing-happened' WHERE id = '{edited}'");
        await UnkeyedAuditRewrite.RechainAsync(_db.AdminConnectionString, chain, 3, markUnkeyed);

        var full = await Reader(keys).VerifyAllAsync(chain, CancellationToken.None);
        Assert.False(full.Valid);
        Assert.Equal(edited, full.FirstInvalidEventId);

        // The incremental check of /audit/verify finds it too, on its re-check of links it had verified before.
        var incremental = await Reader(keys).VerifyAsync(chain, PostgresAuditReader.MaxVerifyRows, CancellationToken.None);
        Assert.False(incremental.Valid);
        Assert.Equal(edited, incremental.FirstInvalidEventId);
    }

    [Fact]
    public async Task A_whole_chain_rewritten_as_unkeyed_rows_is_reported_by_its_head()
    {
        var keys = Keys(TestEnvironment.NewMasterKey());
        var chain = await ChainWithEventsAsync(keys, 4);
        await _db.ExecuteAsync($"UPDATE mislata.audit_events SET actor_id = 'someone-else' WHERE chain = '{chain}' AND sequence = 2");
        await UnkeyedAuditRewrite.RechainAsync(_db.AdminConnectionString, chain, 1, markUnkeyed: true);

        // Every row now holds under the v1 rule; the head's MAC, which the attacker cannot recompute, does not.
        var result = await Reader(keys).VerifyAllAsync(chain, CancellationToken.None);
        Assert.False(result.Valid);
        Assert.Equal(AuditVerification.HeadReason, result.Reason);

        await _db.ExecuteAsync($"UPDATE mislata.audit_chain_heads SET mac = NULL, mac_key_id = NULL WHERE chain = '{chain}'");
        Assert.Equal(AuditVerification.HeadReason, (await Reader(keys).VerifyAsync(chain, 100, CancellationToken.None)).Reason);
    }

    [Fact]
    public async Task Removing_the_last_rows_and_rewinding_the_head_is_reported()
    {
        var keys = Keys(TestEnvironment.NewMasterKey());
        var chain = await ChainWithEventsAsync(keys, 5);
        await _db.ExecuteAsync($"DELETE FROM mislata.audit_events WHERE chain = '{chain}' AND sequence = 5");
        await _db.ExecuteAsync($"""
            UPDATE mislata.audit_chain_heads h SET last_sequence = 4, last_hash = e.hash
            FROM mislata.audit_events e WHERE h.chain = '{chain}' AND e.chain = h.chain AND e.sequence = 4
            """);

        var result = await Reader(keys).VerifyAsync(chain, 100, CancellationToken.None);
        Assert.False(result.Valid);
        Assert.Equal(AuditVerification.HeadReason, result.Reason);
    }

    [Fact]
    public async Task Rows_written_before_the_upgrade_verify_once_sealed_and_stay_anchored_by_the_keyed_links_after_them()
    {
        var keys = Keys(TestEnvironment.NewMasterKey());
        var chain = Guid.NewGuid();
        await UnkeyedChains.InsertAsync(_db.AdminConnectionString, chain, 3);
        var reader = Reader(keys);

        // Before the seal a v1 head is not trusted; the seal (once, at the upgrade) MACs the head as it stands.
        Assert.Equal(AuditVerification.HeadReason, (await reader.VerifyAsync(chain, 100, CancellationToken.None)).Reason);
        await using (var connection = await _db.DataSource.OpenConnectionAsync())
        {
            Assert.Equal(1, await AuditChainUpgrade.SealLegacyHeadsAsync(connection, keys, CancellationToken.None));
        }

        Assert.True((await reader.VerifyAsync(chain, 100, CancellationToken.None)).Valid);
        await ChainWithEventsAsync(keys, 2, chain);
        var after = await reader.VerifyAllAsync(chain, CancellationToken.None);
        Assert.Equal(new AuditVerification(true, 5, null) { VerifiedThrough = 5 }, after);
        Assert.Equal(2L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.audit_events WHERE chain = '{chain}' AND mac_key_id IS NOT NULL"));

        // Rewriting the v1 prefix consistently under its own (public) rule breaks at the first keyed link, which MACs its end.
        await _db.ExecuteAsync($"UPDATE mislata.audit_events SET action = 'key.nothing-happened' WHERE chain = '{chain}' AND sequence = 2");
        await UnkeyedAuditRewrite.RechainAsync(_db.AdminConnectionString, chain, 2, markUnkeyed: true, throughSequence: 3);
        var firstKeyed = await IdAtAsync(chain, 4);
        Assert.Equal(firstKeyed, (await reader.VerifyAllAsync(chain, CancellationToken.None)).FirstInvalidEventId);
    }

    [Fact]
    public async Task An_unkeyed_row_after_a_keyed_row_is_invalid()
    {
        var keys = Keys(TestEnvironment.NewMasterKey());
        var chain = Guid.NewGuid();
        await UnkeyedChains.InsertAsync(_db.AdminConnectionString, chain, 1);
        await using (var connection = await _db.DataSource.OpenConnectionAsync())
        {
            await AuditChainUpgrade.SealLegacyHeadsAsync(connection, keys, CancellationToken.None);
        }

        await ChainWithEventsAsync(keys, 2, chain);

        // The last keyed row turned into a v1 row, correctly linked and hashed under v1, with a head that matches it.
        var last = await IdAtAsync(chain, 3);
        await UnkeyedAuditRewrite.RechainAsync(_db.AdminConnectionString, chain, 3, markUnkeyed: true);
        var result = await Reader(keys).VerifyAllAsync(chain, CancellationToken.None);
        Assert.False(result.Valid);
        Assert.Equal(last, result.FirstInvalidEventId);
    }

    [Fact]
    public async Task Verification_reads_at_most_the_bound_per_call_and_continues_from_its_checkpoint()
    {
        var keys = Keys(TestEnvironment.NewMasterKey());
        var chain = await ChainWithEventsAsync(keys, 25);
        var reader = Reader(keys);

        var first = await reader.VerifyAsync(chain, 10, CancellationToken.None);
        Assert.Equal(new AuditVerification(true, 10, null) { Complete = false, VerifiedThrough = 10 }, first);
        var second = await reader.VerifyAsync(chain, 10, CancellationToken.None);
        Assert.Equal(new AuditVerification(true, 10, null) { Complete = false, VerifiedThrough = 20 }, second);

        // The last five new links, then the budget left re-checks the oldest links.
        var third = await reader.VerifyAsync(chain, 10, CancellationToken.None);
        Assert.Equal(new AuditVerification(true, 10, null) { Complete = true, VerifiedThrough = 25 }, third);
        Assert.Equal(5L, await _db.ScalarAsync<long>($"SELECT rescan_after FROM mislata.audit_checkpoints WHERE chain = '{chain}'"));

        // New events after the checkpoint are checked first.
        await ChainWithEventsAsync(keys, 3, chain);
        var fourth = await reader.VerifyAsync(chain, 10, CancellationToken.None);
        Assert.True(fourth.Valid);
        Assert.Equal(28, fourth.VerifiedThrough);
        Assert.Equal(10, fourth.Checked);
    }

    [Fact]
    public async Task An_edit_below_the_checkpoint_is_found_by_the_round_robin_recheck()
    {
        var keys = Keys(TestEnvironment.NewMasterKey());
        var chain = await ChainWithEventsAsync(keys, 30);
        var reader = Reader(keys);
        Assert.Equal(30, (await reader.VerifyAsync(chain, 100, CancellationToken.None)).VerifiedThrough);

        var edited = await IdAtAsync(chain, 7);
        await _db.ExecuteAsync($"UPDATE mislata.audit_events SET outcome = 'failure' WHERE id = '{edited}'");
        Assert.True((await reader.VerifyAsync(chain, 5, CancellationToken.None)).Valid);
        var found = await reader.VerifyAsync(chain, 5, CancellationToken.None);
        Assert.False(found.Valid);
        Assert.Equal(edited, found.FirstInvalidEventId);
    }

    [Theory]
    [InlineData("rescan_after = sequence")]
    [InlineData("sequence = sequence - 1, hash = (SELECT prev_hash FROM mislata.audit_events e WHERE e.chain = audit_checkpoints.chain AND e.sequence = audit_checkpoints.sequence)")]
    [InlineData("mac = sha256(mac)")]
    public async Task A_forged_checkpoint_is_reported(string assignment)
    {
        var keys = Keys(TestEnvironment.NewMasterKey());
        var chain = await ChainWithEventsAsync(keys, 4);
        var reader = Reader(keys);
        Assert.True((await reader.VerifyAsync(chain, 100, CancellationToken.None)).Valid);

        await _db.ExecuteAsync($"UPDATE mislata.audit_checkpoints SET {assignment} WHERE chain = '{chain}'");
        var result = await reader.VerifyAsync(chain, 100, CancellationToken.None);
        Assert.False(result.Valid);
        Assert.Equal(AuditVerification.CheckpointReason, result.Reason);
    }

    [Fact]
    public async Task Links_verify_at_every_replica_holding_the_same_platform_key_and_nowhere_else()
    {
        // The platform key outlives master-key rotations: a replica restarted after one loads the same key.
        var root = TestEnvironment.NewMasterKey();
        var before = Keys(root);
        var chain = await ChainWithEventsAsync(before, 3);

        var restarted = Keys(root);
        Assert.True((await Reader(restarted).VerifyAsync(chain, 100, CancellationToken.None)).Valid);
        await ChainWithEventsAsync(restarted, 2, chain);
        var all = await Reader(restarted).VerifyAllAsync(chain, CancellationToken.None);
        Assert.True(all.Valid, all.Reason);

        // A key that never made them verifies nothing.
        Assert.Equal(AuditVerification.CheckpointReason, (await Reader(Keys(TestEnvironment.NewMasterKey())).VerifyAsync(chain, 100, CancellationToken.None)).Reason);
    }
}
