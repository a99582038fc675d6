using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Encryption;
using Mislata.Core.Keys;
using Mislata.Core.Tenants;
using Mislata.Crypto;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.Crypto.Keys;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.Persistence;
using Mislata.Infrastructure.Persistence.Tenants;

namespace Mislata.Infrastructure.Tests.Keys;

/// <summary>
/// Keys against real PostgreSQL, as the api's role: material sealed under the tenant's data key and bound to its row
/// (tenant, key, version, algorithm), never in clear in any column; names, defaults, quota, BYOK feature, destruction.
/// </summary>
public sealed class KeyStorageTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new();
    private readonly MasterKeyRing _masterKeys = MasterKeyRing.FromBase64(TestEnvironment.NewMasterKey(), null);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero));
    private readonly RecordingAudit _audit = new();
    private readonly RecordingKeyChanges _changes = new();
    private readonly Guid _tenant = Guid.NewGuid();
    private readonly Guid _otherTenant = Guid.NewGuid();
    private static readonly RequestActor Actor = new(AuditActorType.ApiKey, "actor-1", "127.0.0.1", "req-1");

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        var wrapper = new AesGcmTenantKeyWrapper(_masterKeys);
        await using var context = _db.Contexts.CreateDbContext();
        foreach (var (id, plan) in new[] { (_tenant, Plan.BusinessId), (_otherTenant, Plan.CommunityId) })
        {
            context.Add(new Tenant(id, "t-" + id.ToString("N")[..8], plan, null, null, _time.GetUtcNow()));
            context.Add(new TenantDataKeyRecord(id, 1, wrapper.CreateDataKey(id, 1), _time.GetUtcNow()));
        }

        await context.SaveChangesAsync();
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        _masterKeys.Dispose();
    }

    private (KeyAdministration Keys, KeyMaterialSealer Sealer, MislataDbContext Db) New(IRandomSource? keyGeneration = null)
    {
        var db = _db.Contexts.CreateDbContext();
        var sealer = new KeyMaterialSealer(db, new AesGcmTenantKeyWrapper(_masterKeys), OsRandomSource.Instance);
        return (new KeyAdministration(db, sealer, keyGeneration ?? OsRandomSource.Instance, _audit, _changes, _time), sealer, db);
    }

    private static KeyDraft Draft(string name, string algorithm, bool isDefault = false, KeyType? type = null)
    {
        Assert.True(KeyCatalogue.TryResolve(algorithm, type, out var info, out var keyType, out var reason), reason);
        return new KeyDraft(name, info, keyType, null, [], null, isDefault);
    }

    private async Task<Key> CreateAsync(Guid tenant, string name, string algorithm = AlgorithmNames.Ed25519, bool isDefault = false)
    {
        var (keys, _, db) = New();
        await using (db)
        {
            var (key, error) = await keys.CreateAsync(tenant, Draft(name, algorithm, isDefault), Actor, CancellationToken.None);
            Assert.Equal(KeyError.None, error);
            return key!;
        }
    }

    private async Task<byte[]> OpenStorageFormAsync(Guid keyId, int version)
    {
        var (_, sealer, db) = New();
        await using (db)
        {
            var key = await db.Set<Key>().AsNoTracking().Include(k => k.Versions).SingleAsync(k => k.Id == keyId);
            using var material = await sealer.OpenAsync(key, key.Version(version)!, CancellationToken.None);
            return material.ExportForStorage();
        }
    }

    [Fact]
    public async Task Imported_secret_material_is_stored_only_sealed_and_opens_back_to_the_same_key()
    {
        var secret = Enumerable.Range(0, 32).Select(i => (byte)(0xA0 ^ i)).ToArray();
        using var imported = KeyImporter.Import(AlgorithmNames.Aes256Gcm, KeyType.Symmetric, ImportFormat.Raw, Convert.ToBase64String(secret));
        var expected = imported.ExportForStorage();
        var (keys, _, db) = New();
        Key key;
        await using (db)
        {
            var (created, error) = await keys.ImportAsync(_tenant, Draft("byok-aes", AlgorithmNames.Aes256Gcm), imported, Actor, CancellationToken.None);
            Assert.Equal(KeyError.None, error);
            key = created!;
        }

        // Neither the key bytes nor any 8-byte window of them appears in any column of either table.
        var hex = Convert.ToHexString(secret[..8]).ToLowerInvariant();
        Assert.Equal(0L, await _db.ScalarAsync<long>(
            $"SELECT count(*) FROM mislata.key_versions WHERE position('\\x{hex}'::bytea in sealed_material) > 0 OR position('\\x{hex}'::bytea in coalesce(public_key, ''::bytea)) > 0"));
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.keys k WHERE position('{hex}' in lower(k::text)) > 0"));
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.key_versions v WHERE position('{hex}' in lower(v::text)) > 0"));
        Assert.Equal(expected, await OpenStorageFormAsync(key.Id, 1));
        Assert.DoesNotContain(_audit.Events, e => e.Details?.Values.Any(v => v.Contains(hex, StringComparison.OrdinalIgnoreCase)) == true);
    }

    [Fact]
    public async Task A_generated_private_key_is_never_in_clear_and_its_public_part_is()
    {
        var key = await CreateAsync(_tenant, "signer", AlgorithmNames.MlDsa65);
        var storageForm = await OpenStorageFormAsync(key.Id, 1);

        // The 32-byte ML-DSA seed is the tail of the storage form: it is nowhere in the row.
        var seedHex = Convert.ToHexString(storageForm[^32..]).ToLowerInvariant();
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.key_versions v WHERE position('{seedHex[..16]}' in lower(v::text)) > 0"));
        Assert.Equal(1952L, await _db.ScalarAsync<long>($"SELECT length(public_key)::bigint FROM mislata.key_versions WHERE key_id = '{key.Id}'"));
    }

    [Theory]
    [InlineData("another key of the tenant")]
    [InlineData("another tenant's key")]
    [InlineData("another version of the key")]
    [InlineData("the key relabelled with another algorithm")]
    public async Task Sealed_material_moved_to_another_row_does_not_open(string move)
    {
        var victim = await CreateAsync(_tenant, "victim-" + Guid.NewGuid().ToString("N")[..6]);
        var source = move switch
        {
            "another tenant's key" => await CreateAsync(_otherTenant, "src-" + Guid.NewGuid().ToString("N")[..6]),
            "another key of the tenant" => await CreateAsync(_tenant, "src-" + Guid.NewGuid().ToString("N")[..6]),
            _ => victim,
        };
        Assert.NotEmpty(await OpenStorageFormAsync(victim.Id, 1));

        switch (move)
        {
            case "another version of the key":
                var (keys, _, db) = New();
                await using (db)
                {
                    Assert.Equal(KeyError.None, (await keys.RotateAsync(_tenant, victim.Id, Actor, CancellationToken.None)).Error);
                }

                await _db.ExecuteAsync($"UPDATE mislata.key_versions SET sealed_material = (SELECT sealed_material FROM mislata.key_versions WHERE key_id = '{victim.Id}' AND version = 1) WHERE key_id = '{victim.Id}' AND version = 2");
                await AssertDoesNotOpenAsync(victim.Id, 2);
                return;
            case "the key relabelled with another algorithm":
                await _db.ExecuteAsync($"UPDATE mislata.keys SET algorithm = 'ECDSA-P256' WHERE id = '{victim.Id}'");
                await AssertDoesNotOpenAsync(victim.Id, 1);
                return;
            default:
                await _db.ExecuteAsync($"UPDATE mislata.key_versions v SET sealed_material = s.sealed_material, dek_version = s.dek_version FROM mislata.key_versions s WHERE v.key_id = '{victim.Id}' AND s.key_id = '{source.Id}'");
                await AssertDoesNotOpenAsync(victim.Id, 1);
                return;
        }
    }

    private async Task AssertDoesNotOpenAsync(Guid keyId, int version)
    {
        var failure = await Assert.ThrowsAsync<CryptoException>(() => OpenStorageFormAsync(keyId, version));
        Assert.Equal(CryptoError.DecryptionFailed, failure.Error);
    }

    [Fact]
    public async Task Names_are_unique_per_tenant_only()
    {
        await CreateAsync(_tenant, "shared-name");
        await CreateAsync(_otherTenant, "shared-name");
        var (keys, _, db) = New();
        await using (db)
        {
            Assert.Equal(KeyError.NameTaken, (await keys.CreateAsync(_tenant, Draft("shared-name", AlgorithmNames.Ed25519), Actor, CancellationToken.None)).Error);
        }
    }

    [Fact]
    public async Task A_new_default_key_takes_the_flag_from_the_previous_default_of_the_same_type_only()
    {
        var first = await CreateAsync(_tenant, "sig-1", AlgorithmNames.Ed25519, isDefault: true);
        var encryption = await CreateAsync(_tenant, "enc-1", AlgorithmNames.MlKem512, isDefault: true);
        var second = await CreateAsync(_tenant, "sig-2", AlgorithmNames.EcdsaP256, isDefault: true);

        Assert.Equal(second.Id, await _db.ScalarAsync<Guid>($"SELECT id FROM mislata.keys WHERE tenant_id = '{_tenant}' AND is_default AND type = 'Signing'"));
        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.keys WHERE tenant_id = '{_tenant}' AND is_default AND type = 'Signing'"));
        Assert.True(await _db.ScalarAsync<bool>($"SELECT is_default FROM mislata.keys WHERE id = '{encryption.Id}'"));
        Assert.False(await _db.ScalarAsync<bool>($"SELECT is_default FROM mislata.keys WHERE id = '{first.Id}'"));
    }

    [Fact]
    public async Task The_plans_max_keys_counts_every_key_not_destroyed()
    {
        await _db.ExecuteAsync($"UPDATE mislata.plans SET max_keys = 2 WHERE id = '{Plan.CommunityId}'");
        await CreateAsync(_otherTenant, "q1");
        var second = await CreateAsync(_otherTenant, "q2");
        var (keys, _, db) = New();
        await using (db)
        {
            Assert.Equal(KeyError.QuotaExceeded, (await keys.CreateAsync(_otherTenant, Draft("q3", AlgorithmNames.Ed25519), Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.None, (await keys.ScheduleDeletionAsync(_otherTenant, second.Id, 7, Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.QuotaExceeded, (await keys.CreateAsync(_otherTenant, Draft("q3", AlgorithmNames.Ed25519), Actor, CancellationToken.None)).Error);
        }

        _time.Advance(TimeSpan.FromDays(7));
        var (purge, _, purgeDb) = New();
        await using (purgeDb)
        {
            Assert.Equal(1, await purge.DestroyDueAsync(CancellationToken.None));
            Assert.Equal(KeyError.None, (await purge.CreateAsync(_otherTenant, Draft("q3", AlgorithmNames.Ed25519), Actor, CancellationToken.None)).Error);
        }
    }

    [Fact]
    public async Task A_create_that_will_be_refused_spends_no_time_generating_a_key()
    {
        await _db.ExecuteAsync($"UPDATE mislata.plans SET max_keys = 1 WHERE id = '{Plan.CommunityId}'");
        await CreateAsync(_otherTenant, "only");
        await CreateAsync(_tenant, "taken");
        var generation = new CountingRandom();
        var (keys, _, db) = New(generation);
        await using (db)
        {
            Assert.Equal(KeyError.QuotaExceeded, (await keys.CreateAsync(_otherTenant, Draft("more", AlgorithmNames.Rsa4096), Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.NameTaken, (await keys.CreateAsync(_tenant, Draft("taken", AlgorithmNames.Rsa4096), Actor, CancellationToken.None)).Error);
        }

        Assert.Equal(0, generation.Calls);
    }

    [Fact]
    public async Task Importing_needs_a_plan_with_byok()
    {
        using var imported = KeyImporter.Import(AlgorithmNames.HmacSha256, KeyType.Hmac, ImportFormat.Raw, Convert.ToBase64String(new byte[32]));
        var (keys, _, db) = New();
        await using (db)
        {
            Assert.Equal(KeyError.FeatureNotInPlan, (await keys.ImportAsync(_otherTenant, Draft("m", AlgorithmNames.HmacSha256), imported, Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.None, (await keys.ImportAsync(_tenant, Draft("m", AlgorithmNames.HmacSha256), imported, Actor, CancellationToken.None)).Error);
        }
    }

    [Fact]
    public async Task Destruction_after_the_window_erases_the_sealed_material_of_every_version_and_is_audited()
    {
        var key = await CreateAsync(_tenant, "doomed");
        var (keys, _, db) = New();
        await using (db)
        {
            Assert.Equal(KeyError.None, (await keys.RotateAsync(_tenant, key.Id, Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.None, (await keys.ScheduleDeletionAsync(_tenant, key.Id, 7, Actor, CancellationToken.None)).Error);
            Assert.Equal(0, await keys.DestroyDueAsync(CancellationToken.None));
        }

        _time.Advance(TimeSpan.FromDays(7));
        var (purge, _, purgeDb) = New();
        await using (purgeDb)
        {
            Assert.Equal(1, await purge.DestroyDueAsync(CancellationToken.None));
        }

        Assert.Equal("Destroyed", await _db.ScalarAsync<string>($"SELECT state FROM mislata.keys WHERE id = '{key.Id}'"));
        Assert.Equal(2L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.key_versions WHERE key_id = '{key.Id}' AND length(sealed_material) = 0 AND state = 'Destroyed'"));
        Assert.Contains(_audit.Events, e => e.Action == "key.destroy" && e.ResourceId == key.Id.ToString() && e.ActorType == AuditActorType.System);

        // rotate, delete, destroy: each told every replica to drop the key's cached material.
        Assert.Equal(3, _changes.Changed.Count(c => c == (_tenant, key.Id)));
    }

    [Fact]
    public async Task Every_committed_change_is_announced_to_the_replicas_and_a_refused_one_is_not()
    {
        var key = await CreateAsync(_tenant, "announced");
        Assert.DoesNotContain(_changes.Changed, c => c.KeyId == key.Id);
        var (keys, _, db) = New();
        await using (db)
        {
            Assert.Equal(KeyError.None, (await keys.UpdateAsync(_tenant, key.Id, new KeyChanges("d", null, null, false, null, null), Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.None, (await keys.RotateAsync(_tenant, key.Id, Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.None, (await keys.DisableAsync(_tenant, key.Id, Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.StateInvalid, (await keys.RotateAsync(_tenant, key.Id, Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.None, (await keys.EnableAsync(_tenant, key.Id, Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.None, (await keys.ScheduleDeletionAsync(_tenant, key.Id, 7, Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.None, (await keys.RestoreAsync(_tenant, key.Id, Actor, CancellationToken.None)).Error);
            Assert.Equal(KeyError.NotFound, (await keys.DisableAsync(_otherTenant, key.Id, Actor, CancellationToken.None)).Error);
        }

        Assert.Equal(6, _changes.Changed.Count(c => c == (_tenant, key.Id)));
        Assert.DoesNotContain(_changes.Changed, c => c.TenantId == _otherTenant);

        // A new default key changes which key the tenant's default is: announced too.
        var newDefault = await CreateAsync(_tenant, "new-default", isDefault: true);
        Assert.Contains((_tenant, newDefault.Id), _changes.Changed);
    }

    [Fact]
    public async Task Nothing_changes_when_the_audit_log_is_unavailable()
    {
        var key = await CreateAsync(_tenant, "audited");
        _audit.Unavailable = true;
        var (keys, _, db) = New();
        await using (db)
        {
            await Assert.ThrowsAsync<AuditUnavailableException>(() => keys.RotateAsync(_tenant, key.Id, Actor, CancellationToken.None));
            await Assert.ThrowsAsync<AuditUnavailableException>(() => keys.CreateAsync(_tenant, Draft("unaudited", AlgorithmNames.Ed25519), Actor, CancellationToken.None));
        }

        Assert.Equal(1L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.key_versions WHERE key_id = '{key.Id}'"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.keys WHERE name = 'unaudited'"));
    }

    private sealed class CountingRandom : IRandomSource
    {
        private int _calls;

        public int Calls => _calls;

        public void Fill(Span<byte> destination)
        {
            Interlocked.Increment(ref _calls);
            OsRandomSource.Instance.Fill(destination);
        }
    }

    private sealed class RecordingKeyChanges : IKeyChangeNotifier
    {
        private readonly ConcurrentQueue<(Guid TenantId, Guid KeyId)> _changed = new();

        public IReadOnlyList<(Guid TenantId, Guid KeyId)> Changed => [.. _changed];

        public Task KeyChangedAsync(Guid tenantId, Guid keyId)
        {
            _changed.Enqueue((tenantId, keyId));
            return Task.CompletedTask;
        }
    }

    private sealed class RecordingAudit : IAuditLog
    {
        public ConcurrentQueue<AuditEvent> Events { get; } = new();

        public bool Unavailable { get; set; }

        public Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
        {
            if (Unavailable)
            {
                throw new AuditUnavailableException("test: the audit log is down");
            }

            Events.Enqueue(auditEvent);
            return Task.CompletedTask;
        }
    }
}
