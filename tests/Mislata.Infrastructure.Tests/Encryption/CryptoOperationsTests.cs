using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Core.Encryption;
using Mislata.Core.Keys;
using Mislata.Core.Tenants;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Envelope;
using Mislata.Crypto.Payloads;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Encryption;
using Mislata.Infrastructure.Keys;
using Mislata.Infrastructure.Persistence.Tenants;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests.Encryption;

/// <summary>
/// The operations' use cases (<see cref="CryptoOperations"/>) over the real key storage in PostgreSQL and the key cache:
/// rules of state, capability, version and context; the cache serving without the database once warm and dropping a
/// key when <see cref="KeyAdministration"/> changes it; leases that keep material alive past an eviction and zero it
/// after; usage counted in memory, flushed with <c>count = count + delta</c>, and the symmetric limit; fail-closed audit.
/// The Redis connection points at nothing: invalidations are raised on this replica only (what the e2e tests check
/// across replicas).
/// </summary>
public sealed class CryptoOperationsTests : IAsyncLifetime
{
    private static readonly RequestActor Actor = new(AuditActorType.ApiKey, "actor-1", "127.0.0.1", "req-1");
    private readonly MislataDatabase _db = new();
    private readonly MasterKeyRing _masterKeys = MasterKeyRing.FromBase64(TestEnvironment.NewMasterKey(), null);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
    private readonly RecordingAudit _audit = new();
    private readonly Guid _tenant = Guid.NewGuid();
    private readonly Guid _otherTenant = Guid.NewGuid();
    private ConnectionMultiplexer _redis = null!;
    private AccessInvalidation _invalidation = null!;
    private readonly List<IDisposable> _disposables = [];

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        var wrapper = new AesGcmTenantKeyWrapper(_masterKeys);
        await using (var context = _db.Contexts.CreateDbContext())
        {
            foreach (var id in new[] { _tenant, _otherTenant })
            {
                context.Add(new Tenant(id, "t-" + id.ToString("N")[..8], Plan.BusinessId, null, null, _time.GetUtcNow()));
                context.Add(new TenantDataKeyRecord(id, 1, wrapper.CreateDataKey(id, 1), _time.GetUtcNow()));
            }

            await context.SaveChangesAsync();
        }

        _redis = await ConnectionMultiplexer.ConnectAsync("127.0.0.1:1,abortConnect=false,connectRetry=0,connectTimeout=200");
        _invalidation = new AccessInvalidation(_redis, NullLogger<AccessInvalidation>.Instance);
    }

    public async Task DisposeAsync()
    {
        foreach (var d in _disposables)
        {
            d.Dispose();
        }

        await _redis.DisposeAsync();
        await _db.DisposeAsync();
        _masterKeys.Dispose();
    }

    private sealed record Replica(CryptoOperations Operations, KeyMaterialCache Cache, KeyUsageTracker Usage, KeyUsageFlusher Flusher, SlowSignatureGate Gate);

    private Replica NewReplica(long encryptionLimit = long.MaxValue, int maxKeys = 1000, IAuditLog? audit = null)
    {
        var options = Options.Create(new OperationKeyOptions { MaxKeys = maxKeys, EncryptionLimit = Math.Min(encryptionLimit, OperationKeyOptions.DefaultEncryptionLimit) });
        var usage = new KeyUsageTracker(_time, options);
        var cache = new KeyMaterialCache(_db.Contexts, new AesGcmTenantKeyWrapper(_masterKeys), usage, _invalidation, options);
        var gate = new SlowSignatureGate(1);
        _disposables.Add(cache);
        _disposables.Add(gate);
        var flusher = new KeyUsageFlusher(usage, _db.DataSource, _time, options, NullLogger<KeyUsageFlusher>.Instance);
        return new Replica(new CryptoOperations(cache, usage, OsRandomSource.Instance, gate, audit ?? _audit), cache, usage, flusher, gate);
    }

    private async Task<T> AdminAsync<T>(Func<KeyAdministration, Task<T>> action)
    {
        await using var db = _db.Contexts.CreateDbContext();
        var sealer = new KeyMaterialSealer(db, new AesGcmTenantKeyWrapper(_masterKeys), OsRandomSource.Instance);
        return await action(new KeyAdministration(db, sealer, OsRandomSource.Instance, _audit, new CryptoKeyInvalidation(_invalidation), _time));
    }

    private async Task<Guid> CreateKeyAsync(string algorithm, bool isDefault = false, Guid? tenant = null, KeyType? type = null)
    {
        Assert.True(KeyCatalogue.TryResolve(algorithm, type, out var info, out var keyType, out var reason), reason);
        var (key, error) = await AdminAsync(a => a.CreateAsync(tenant ?? _tenant, new KeyDraft("k-" + Guid.NewGuid().ToString("N")[..10], info, keyType, null, [], null, isDefault), Actor, CancellationToken.None));
        Assert.Equal(KeyError.None, error);
        return key!.Id;
    }

    private static EncryptRequest Text(string plaintext, Guid? keyId, string? context = null) =>
        new(Encoding.UTF8.GetBytes(plaintext), PlaintextEncodings.Utf8, keyId, context);

    private static async Task<T> OkAsync<T>(Task<Outcome<T>> outcome)
        where T : class
    {
        var o = await outcome;
        Assert.True(o.Succeeded, $"{o.Error}: {o.Detail}");
        return o.Value!;
    }

    [Theory]
    [InlineData(AlgorithmNames.Aes256Gcm)]
    [InlineData(AlgorithmNames.MlKem768)]
    [InlineData(AlgorithmNames.Rsa2048)]
    public async Task A_payload_decrypts_with_its_context_only_and_the_audit_names_key_and_version_never_data(string algorithm)
    {
        var replica = NewReplica();
        var keyId = await CreateKeyAsync(algorithm);
        var encrypted = await OkAsync(replica.Operations.EncryptAsync(_tenant, Text("the-secret-plaintext", keyId, "ctx-marker"), Actor, CancellationToken.None));
        Assert.Equal((keyId, 1, algorithm), (encrypted.KeyId, encrypted.KeyVersion, encrypted.Algorithm));

        var decrypted = await OkAsync(replica.Operations.DecryptAsync(_tenant, new DecryptRequest(encrypted.EncryptedPayload, "ctx-marker"), Actor, CancellationToken.None));
        Assert.Equal("the-secret-plaintext", Encoding.UTF8.GetString(decrypted.Plaintext));
        Assert.Equal(PlaintextEncodings.Utf8, decrypted.Encoding);

        foreach (var wrong in new[] { null, "ctx-marker ", "other" })
        {
            var failed = await replica.Operations.DecryptAsync(_tenant, new DecryptRequest(encrypted.EncryptedPayload, wrong), Actor, CancellationToken.None);
            Assert.Equal(OperationError.DecryptionFailed, failed.Error);
        }

        // Another tenant's key is not found, whatever the payload says.
        Assert.Equal(OperationError.NotFound, (await replica.Operations.DecryptAsync(_otherTenant, new DecryptRequest(encrypted.EncryptedPayload, "ctx-marker"), Actor, CancellationToken.None)).Error);
        Assert.Equal(OperationError.NotFound, (await replica.Operations.EncryptAsync(_otherTenant, Text("x", keyId), Actor, CancellationToken.None)).Error);

        var events = _audit.Events.Where(e => e.ResourceId == keyId.ToString() && e.Action.StartsWith("crypto.", StringComparison.Ordinal)).ToList();
        Assert.Contains(events, e => e.Action == "crypto.encrypt" && e.Outcome == AuditOutcome.Success && e.Details!["keyVersion"] == "1");
        Assert.Contains(events, e => e.Action == "crypto.decrypt" && e.Outcome == AuditOutcome.Failure && e.ErrorCode == "decryption_failed");
        Assert.DoesNotContain(_audit.Events, e => e.TenantId == _otherTenant && e.ResourceId == keyId.ToString());
        Assert.All(events, e => Assert.DoesNotContain(e.Details!.Values, v => v.Contains("secret", StringComparison.Ordinal) || v.Contains("marker", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Rotation_and_the_minimum_version_reach_the_cache_at_once()
    {
        var replica = NewReplica();
        var keyId = await CreateKeyAsync(AlgorithmNames.Aes256Gcm);
        var v1 = await OkAsync(replica.Operations.EncryptAsync(_tenant, Text("one", keyId), Actor, CancellationToken.None));
        Assert.Equal(KeyError.None, (await AdminAsync(a => a.RotateAsync(_tenant, keyId, Actor, CancellationToken.None))).Error);

        var v2 = await OkAsync(replica.Operations.EncryptAsync(_tenant, Text("two", keyId), Actor, CancellationToken.None));
        Assert.Equal(2, v2.KeyVersion);
        Assert.Equal(1, (await OkAsync(replica.Operations.DecryptAsync(_tenant, new DecryptRequest(v1.EncryptedPayload, null), Actor, CancellationToken.None))).KeyVersion);

        // Rewrap brings the old payload to the current version, same plaintext.
        var rewrapped = await OkAsync(replica.Operations.RewrapAsync(_tenant, new DecryptRequest(v1.EncryptedPayload, null), Actor, CancellationToken.None));
        Assert.Equal(2, rewrapped.KeyVersion);
        Assert.Equal("one", Encoding.UTF8.GetString((await OkAsync(replica.Operations.DecryptAsync(_tenant, new DecryptRequest(rewrapped.EncryptedPayload, null), Actor, CancellationToken.None))).Plaintext));

        Assert.Equal(KeyError.None, (await AdminAsync(a => a.UpdateAsync(_tenant, keyId, new KeyChanges(null, null, null, false, null, 2), Actor, CancellationToken.None))).Error);
        Assert.Equal(OperationError.DecryptionFailed, (await replica.Operations.DecryptAsync(_tenant, new DecryptRequest(v1.EncryptedPayload, null), Actor, CancellationToken.None)).Error);
        Assert.Equal(OperationError.DecryptionFailed, (await replica.Operations.RewrapAsync(_tenant, new DecryptRequest(v1.EncryptedPayload, null), Actor, CancellationToken.None)).Error);
        Assert.True((await replica.Operations.DecryptAsync(_tenant, new DecryptRequest(v2.EncryptedPayload, null), Actor, CancellationToken.None)).Succeeded);
    }

    [Fact]
    public async Task A_disabled_key_refuses_everything_and_a_destroyed_keys_payloads_fail_as_decryption_failed()
    {
        var replica = NewReplica();
        var keyId = await CreateKeyAsync(AlgorithmNames.MlKem512);
        var payload = (await OkAsync(replica.Operations.EncryptAsync(_tenant, Text("p", keyId), Actor, CancellationToken.None))).EncryptedPayload;

        Assert.Equal(KeyError.None, (await AdminAsync(a => a.DisableAsync(_tenant, keyId, Actor, CancellationToken.None))).Error);
        Assert.Equal(OperationError.StateInvalid, (await replica.Operations.EncryptAsync(_tenant, Text("p", keyId), Actor, CancellationToken.None)).Error);
        Assert.Equal(OperationError.StateInvalid, (await replica.Operations.DecryptAsync(_tenant, new DecryptRequest(payload, null), Actor, CancellationToken.None)).Error);
        Assert.Equal(OperationError.StateInvalid, (await replica.Operations.DataKeyAsync(_tenant, new DataKeyRequest(keyId, 32, true, null), Actor, CancellationToken.None)).Error);

        Assert.Equal(KeyError.None, (await AdminAsync(a => a.ScheduleDeletionAsync(_tenant, keyId, 7, Actor, CancellationToken.None))).Error);
        Assert.Equal(OperationError.StateInvalid, (await replica.Operations.DecryptAsync(_tenant, new DecryptRequest(payload, null), Actor, CancellationToken.None)).Error);
        _time.Advance(TimeSpan.FromDays(8));
        Assert.Equal(1, await AdminAsync(a => a.DestroyDueAsync(CancellationToken.None)));
        Assert.Equal(OperationError.DecryptionFailed, (await replica.Operations.DecryptAsync(_tenant, new DecryptRequest(payload, null), Actor, CancellationToken.None)).Error);
        Assert.Equal(OperationError.StateInvalid, (await replica.Operations.EncryptAsync(_tenant, Text("p", keyId), Actor, CancellationToken.None)).Error);
    }

    [Fact]
    public async Task Once_warm_the_operations_need_no_database_and_a_change_reloads_the_key()
    {
        var replica = NewReplica();
        var keyId = await CreateKeyAsync(AlgorithmNames.Aes256Gcm, isDefault: false);
        var signer = await CreateKeyAsync(AlgorithmNames.Ed25519, isDefault: true);
        await OkAsync(replica.Operations.EncryptAsync(_tenant, Text("warm", keyId), Actor, CancellationToken.None));
        await OkAsync(replica.Operations.SignAsync(_tenant, new SignRequest(new byte[] { 1 }, null, null), Actor, CancellationToken.None));

        await _db.ExecuteAsync("ALTER TABLE mislata.keys RENAME TO keys_away");
        try
        {
            for (var i = 0; i < 20; i++)
            {
                var e = await OkAsync(replica.Operations.EncryptAsync(_tenant, Text("hot " + i, keyId), Actor, CancellationToken.None));
                await OkAsync(replica.Operations.DecryptAsync(_tenant, new DecryptRequest(e.EncryptedPayload, null), Actor, CancellationToken.None));
                Assert.Equal(signer, (await OkAsync(replica.Operations.SignAsync(_tenant, new SignRequest(new byte[] { 2 }, null, null), Actor, CancellationToken.None))).KeyId);
            }

            // A change of the key drops it: the next use must read the database again (which is away now).
            await _invalidation.PublishAsync(CryptoKeyInvalidation.Message(_tenant, keyId));
            await Assert.ThrowsAnyAsync<Npgsql.PostgresException>(() => replica.Operations.EncryptAsync(_tenant, Text("cold", keyId), Actor, CancellationToken.None));
        }
        finally
        {
            await _db.ExecuteAsync("ALTER TABLE mislata.keys_away RENAME TO keys");
        }

        await OkAsync(replica.Operations.EncryptAsync(_tenant, Text("back", keyId), Actor, CancellationToken.None));
    }

    [Fact]
    public async Task A_leased_key_keeps_its_material_through_an_eviction_and_it_is_zeroed_when_the_lease_ends()
    {
        var replica = NewReplica();
        var keyId = await CreateKeyAsync(AlgorithmNames.Aes256Gcm);
        var lease = await replica.Cache.AcquireAsync(_tenant, keyId, CancellationToken.None);
        Assert.NotNull(lease);
        var material = lease.Material(1);

        await _invalidation.PublishAsync(CryptoKeyInvalidation.Message(_tenant, keyId));
        var payload = EncryptedPayloadCodec.Encrypt(material, keyId, 1, "still usable"u8, PlaintextEncodings.Utf8, null, OsRandomSource.Instance);
        Assert.NotEmpty(payload);

        lease.Dispose();
        Assert.Throws<ObjectDisposedException>(() => lease.Material(1));

        // The eviction callback runs on the thread pool: wait for it (no time limit decides the outcome).
        var zeroed = false;
        for (var i = 0; i < 3000 && !zeroed; i++)
        {
            try
            {
                material.ExportForStorage();
                await Task.Delay(10);
            }
            catch (ObjectDisposedException)
            {
                zeroed = true;
            }
        }

        Assert.True(zeroed, "the evicted key's material was not disposed (zeroed) after its last lease");

        // A fresh lease loads the key again.
        using var again = await replica.Cache.AcquireAsync(_tenant, keyId, CancellationToken.None);
        Assert.NotSame(material, again!.Material(1));
    }

    [Fact]
    public async Task The_cache_holds_at_most_its_bound_and_evicted_keys_still_work_when_used_again()
    {
        var replica = NewReplica(maxKeys: 2);
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await CreateKeyAsync(AlgorithmNames.HmacSha256));
        }

        for (var round = 0; round < 3; round++)
        {
            foreach (var id in ids)
            {
                var mac = await OkAsync(replica.Operations.HmacAsync(_tenant, new MacRequest("m"u8.ToArray(), id), Actor, CancellationToken.None));
                Assert.True((await OkAsync(replica.Operations.HmacVerifyAsync(_tenant, new MacVerifyRequest("m"u8.ToArray(), mac.Mac, id, null), Actor, CancellationToken.None))).Valid);
                Assert.False((await OkAsync(replica.Operations.HmacVerifyAsync(_tenant, new MacVerifyRequest("n"u8.ToArray(), mac.Mac, id, null), Actor, CancellationToken.None))).Valid);
            }
        }

        // Compaction runs in the background; the bound is what the cache may hold after it.
        for (var i = 0; i < 300 && replica.Cache.Count > 2; i++)
        {
            await Task.Delay(10);
        }

        Assert.True(replica.Cache.Count <= 2, $"{replica.Cache.Count} entries");
    }

    [Fact]
    public async Task One_flush_writes_the_counts_of_every_key_version_used_each_its_own()
    {
        var replica = NewReplica();
        var keys = new List<Guid>();
        for (var k = 0; k < 3; k++)
        {
            keys.Add(await CreateKeyAsync(AlgorithmNames.Aes256Gcm));
            for (var i = 0; i <= k; i++)
            {
                await OkAsync(replica.Operations.EncryptAsync(_tenant, Text("x", keys[k]), Actor, CancellationToken.None));
            }
        }

        var signing = await CreateKeyAsync(AlgorithmNames.Ed25519);
        await OkAsync(replica.Operations.SignAsync(_tenant, new SignRequest(Encoding.UTF8.GetBytes("m"), signing, null), Actor, CancellationToken.None));

        Assert.Equal(4, await replica.Flusher.FlushAsync(CancellationToken.None));
        for (var k = 0; k < 3; k++)
        {
            Assert.Equal(k + 1L, await _db.ScalarAsync<long>($"SELECT invocation_count FROM mislata.key_versions WHERE key_id = '{keys[k]}'"));
            Assert.Equal(k + 1L, await _db.ScalarAsync<long>($"SELECT encryption_count FROM mislata.key_versions WHERE key_id = '{keys[k]}'"));
            Assert.Equal(k + 1L, replica.Usage.Used(keys[k], 1));
        }

        // A signature counts no encryption; its last use is written all the same.
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT invocation_count + encryption_count FROM mislata.key_versions WHERE key_id = '{signing}'"));
        Assert.Equal(_time.GetUtcNow().UtcDateTime, (await _db.ScalarAsync<DateTime>($"SELECT last_used_at FROM mislata.key_versions WHERE key_id = '{signing}'")).ToUniversalTime());
        Assert.Equal(0, await replica.Flusher.FlushAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Symmetric_encryptions_are_counted_in_memory_refused_at_the_limit_and_added_up_across_replicas()
    {
        var first = NewReplica(encryptionLimit: 5);
        var keyId = await CreateKeyAsync(AlgorithmNames.Aes256Gcm);
        var encrypted = await OkAsync(first.Operations.EncryptAsync(_tenant, Text("x", keyId), Actor, CancellationToken.None));
        for (var i = 0; i < 2; i++)
        {
            await OkAsync(first.Operations.EncryptAsync(_tenant, Text("x", keyId), Actor, CancellationToken.None));
        }

        // Nothing is written per operation.
        Assert.Equal(0L, await _db.ScalarAsync<long>($"SELECT invocation_count FROM mislata.key_versions WHERE key_id = '{keyId}'"));
        Assert.Equal(1, await first.Flusher.FlushAsync(CancellationToken.None));
        Assert.Equal(3L, await _db.ScalarAsync<long>($"SELECT invocation_count FROM mislata.key_versions WHERE key_id = '{keyId}'"));
        Assert.Equal(_time.GetUtcNow().UtcDateTime, (await _db.ScalarAsync<DateTime>($"SELECT last_used_at FROM mislata.key_versions WHERE key_id = '{keyId}'")).ToUniversalTime());
        Assert.Equal(0, await first.Flusher.FlushAsync(CancellationToken.None));

        // A second replica loads the key with the stored count; each flush adds its own delta and learns the total, so
        // a replica sees the others' encryptions as of its last flush.
        var second = NewReplica(encryptionLimit: 5);
        await OkAsync(second.Operations.EncryptAsync(_tenant, Text("y", keyId), Actor, CancellationToken.None));
        Assert.Equal(4, second.Usage.Used(keyId, 1));
        Assert.Equal(1, await second.Flusher.FlushAsync(CancellationToken.None));
        await OkAsync(first.Operations.EncryptAsync(_tenant, Text("z", keyId), Actor, CancellationToken.None));
        Assert.Equal(1, await first.Flusher.FlushAsync(CancellationToken.None));
        Assert.Equal(5L, await _db.ScalarAsync<long>($"SELECT invocation_count FROM mislata.key_versions WHERE key_id = '{keyId}'"));
        Assert.Equal(5, first.Usage.Used(keyId, 1));
        Assert.Equal(OperationError.UsageLimitReached, (await first.Operations.EncryptAsync(_tenant, Text("w", keyId), Actor, CancellationToken.None)).Error);
        Assert.Equal(OperationError.UsageLimitReached, (await first.Operations.DataKeyAsync(_tenant, new DataKeyRequest(keyId, 32, true, null), Actor, CancellationToken.None)).Error);

        // The crypto layer's counter contract sees the same counts.
        var counter = (Mislata.Crypto.Limits.IEncryptionCounter)first.Usage;
        var refused = await Assert.ThrowsAsync<Mislata.Crypto.CryptoException>(async () => await counter.ReserveAsync(keyId, 1, 1, CancellationToken.None));
        Assert.Equal(Mislata.Crypto.CryptoError.UsageLimitExceeded, refused.Error);

        // A replica that loads the key now starts from the stored total.
        var third = NewReplica(encryptionLimit: 5);
        Assert.Equal(OperationError.UsageLimitReached, (await third.Operations.EncryptAsync(_tenant, Text("v", keyId), Actor, CancellationToken.None)).Error);

        // Decryption is not limited, and a rotation gives a fresh version.
        Assert.Equal(KeyError.None, (await AdminAsync(a => a.RotateAsync(_tenant, keyId, Actor, CancellationToken.None))).Error);
        Assert.Equal(2, (await OkAsync(first.Operations.EncryptAsync(_tenant, Text("v", keyId), Actor, CancellationToken.None))).KeyVersion);
        Assert.True((await first.Operations.DecryptAsync(_tenant, new DecryptRequest(encrypted.EncryptedPayload, null), Actor, CancellationToken.None)).Succeeded);
    }

    [Fact]
    public async Task Signatures_follow_the_context_rules_verify_any_usable_version_and_slow_ones_are_bounded()
    {
        var replica = NewReplica();
        var mldsa = await CreateKeyAsync(AlgorithmNames.MlDsa44);
        var ed = await CreateKeyAsync(AlgorithmNames.Ed25519);
        var message = "message"u8.ToArray();

        var s1 = await OkAsync(replica.Operations.SignAsync(_tenant, new SignRequest(message, mldsa, "ctx"), Actor, CancellationToken.None));
        Assert.True((await OkAsync(replica.Operations.VerifyAsync(_tenant, new VerifyRequest(message, s1.Signature, mldsa, null, "ctx"), Actor, CancellationToken.None))).Valid);
        Assert.False((await OkAsync(replica.Operations.VerifyAsync(_tenant, new VerifyRequest(message, s1.Signature, mldsa, null, "other"), Actor, CancellationToken.None))).Valid);
        Assert.Equal(OperationError.InvalidContext, (await replica.Operations.SignAsync(_tenant, new SignRequest(message, mldsa, new string('c', 256)), Actor, CancellationToken.None)).Error);
        Assert.True((await replica.Operations.SignAsync(_tenant, new SignRequest(message, mldsa, new string('c', 255)), Actor, CancellationToken.None)).Succeeded);
        Assert.Equal(OperationError.InvalidContext, (await replica.Operations.SignAsync(_tenant, new SignRequest(message, ed, "ctx"), Actor, CancellationToken.None)).Error);
        Assert.Equal(OperationError.AlgorithmMismatch, (await replica.Operations.EncryptAsync(_tenant, Text("x", ed), Actor, CancellationToken.None)).Error);
        Assert.Equal(OperationError.AlgorithmMismatch, (await replica.Operations.HmacAsync(_tenant, new MacRequest(message, ed), Actor, CancellationToken.None)).Error);

        Assert.Equal(KeyError.None, (await AdminAsync(a => a.RotateAsync(_tenant, mldsa, Actor, CancellationToken.None))).Error);
        var s2 = await OkAsync(replica.Operations.SignAsync(_tenant, new SignRequest(message, mldsa, "ctx"), Actor, CancellationToken.None));
        Assert.Equal(2, s2.KeyVersion);
        var old = await OkAsync(replica.Operations.VerifyAsync(_tenant, new VerifyRequest(message, s1.Signature, mldsa, null, "ctx"), Actor, CancellationToken.None));
        Assert.Equal((true, 1), (old.Valid, old.KeyVersion));
        Assert.False((await OkAsync(replica.Operations.VerifyAsync(_tenant, new VerifyRequest(message, s1.Signature, mldsa, 2, "ctx"), Actor, CancellationToken.None))).Valid);
        Assert.Equal(OperationError.InvalidVersion, (await replica.Operations.VerifyAsync(_tenant, new VerifyRequest(message, s1.Signature, mldsa, 3, "ctx"), Actor, CancellationToken.None)).Error);
        Assert.Equal(KeyError.None, (await AdminAsync(a => a.UpdateAsync(_tenant, mldsa, new KeyChanges(null, null, null, false, null, 2), Actor, CancellationToken.None))).Error);
        Assert.Equal(OperationError.DecryptionFailed, (await replica.Operations.VerifyAsync(_tenant, new VerifyRequest(message, s1.Signature, mldsa, 1, "ctx"), Actor, CancellationToken.None)).Error);
        Assert.False((await OkAsync(replica.Operations.VerifyAsync(_tenant, new VerifyRequest(message, s1.Signature, mldsa, null, "ctx"), Actor, CancellationToken.None))).Valid);

        // Every slot for slow signatures taken: SLH-DSA is refused at once; the others are not affected.
        var slh = await CreateKeyAsync(AlgorithmNames.SlhDsaSha2_128f);
        using (var held = replica.Gate.TryEnter())
        {
            Assert.NotNull(held);
            Assert.Equal(OperationError.Busy, (await replica.Operations.SignAsync(_tenant, new SignRequest(message, slh, null), Actor, CancellationToken.None)).Error);
            Assert.True((await replica.Operations.SignAsync(_tenant, new SignRequest(message, ed, null), Actor, CancellationToken.None)).Succeeded);
        }

        var slhSignature = await OkAsync(replica.Operations.SignAsync(_tenant, new SignRequest(message, slh, "c"), Actor, CancellationToken.None));
        Assert.True((await OkAsync(replica.Operations.VerifyAsync(_tenant, new VerifyRequest(message, slhSignature.Signature, slh, 1, "c"), Actor, CancellationToken.None))).Valid);
        Assert.Equal(1, replica.Gate.Free);
    }

    [Fact]
    public async Task Default_keys_batches_and_data_keys()
    {
        var replica = NewReplica();
        Assert.Equal(OperationError.NoDefaultKey, (await replica.Operations.EncryptAsync(_tenant, Text("x", null), Actor, CancellationToken.None)).Error);
        var defaultKey = await CreateKeyAsync(AlgorithmNames.MlKem768, isDefault: true);
        var other = await CreateKeyAsync(AlgorithmNames.Aes256Gcm);
        var signing = await CreateKeyAsync(AlgorithmNames.EcdsaP256);

        // The creation of a default key is announced: the cached "no default" is gone.
        Assert.Equal(defaultKey, (await OkAsync(replica.Operations.EncryptAsync(_tenant, Text("x", null), Actor, CancellationToken.None))).KeyId);

        var results = await replica.Operations.EncryptBatchAsync(_tenant,
            [Text("a", null), Text("b", other), Text("c", signing), Text("d", Guid.NewGuid()), Text("e", other, new string('x', 5000))], Actor, CancellationToken.None);
        Assert.Equal([OperationError.None, OperationError.None, OperationError.AlgorithmMismatch, OperationError.NotFound, OperationError.InvalidContext], results.Select(r => r.Error));
        Assert.Equal([defaultKey, other], results.Take(2).Select(r => r.Value!.KeyId));

        var decrypted = await replica.Operations.DecryptBatchAsync(_tenant,
            [new DecryptRequest(results[1].Value!.EncryptedPayload, null), new DecryptRequest("not a payload", null), new DecryptRequest(results[0].Value!.EncryptedPayload, "wrong"), new DecryptRequest(results[0].Value!.EncryptedPayload, null)],
            Actor, CancellationToken.None);
        Assert.Equal([OperationError.None, OperationError.InvalidPayload, OperationError.DecryptionFailed, OperationError.None], decrypted.Select(r => r.Error));
        Assert.Equal(["b", "a"], new[] { decrypted[0], decrypted[3] }.Select(r => Encoding.UTF8.GetString(r.Value!.Plaintext)));
        Assert.Contains(_audit.Events, e => e.Action == "crypto.encrypt.batch" && e.ResourceId == other.ToString() && e.Details!["items"] == "2" && e.Details["failed"] == "1");

        var dataKey = await OkAsync(replica.Operations.DataKeyAsync(_tenant, new DataKeyRequest(other, 48, true, "dk"), Actor, CancellationToken.None));
        Assert.Equal(48, dataKey.Plaintext!.Length);
        var opened = await OkAsync(replica.Operations.DecryptAsync(_tenant, new DecryptRequest(dataKey.EncryptedPayload, "dk"), Actor, CancellationToken.None));
        Assert.Equal(dataKey.Plaintext, opened.Plaintext);
        Assert.Equal(PlaintextEncodings.Base64, opened.Encoding);
        Assert.Null((await OkAsync(replica.Operations.DataKeyAsync(_tenant, new DataKeyRequest(null, 16, false, null), Actor, CancellationToken.None))).Plaintext);
        Assert.Equal(OperationError.AlgorithmMismatch, (await replica.Operations.DataKeyAsync(_tenant, new DataKeyRequest(signing, 16, false, null), Actor, CancellationToken.None)).Error);

        var random = await OkAsync(replica.Operations.RandomAsync(_tenant, 4096, Actor, CancellationToken.None));
        Assert.Equal((4096, "os"), (random.Bytes.Length, random.Source));
    }

    [Fact]
    public async Task An_audit_log_that_is_down_fails_the_operation()
    {
        var down = new RecordingAudit { Unavailable = true };
        var replica = NewReplica(audit: down);
        var keyId = await CreateKeyAsync(AlgorithmNames.Aes256Gcm);
        await Assert.ThrowsAsync<AuditUnavailableException>(() => replica.Operations.EncryptAsync(_tenant, Text("x", keyId), Actor, CancellationToken.None));
        await Assert.ThrowsAsync<AuditUnavailableException>(() => replica.Operations.RandomAsync(_tenant, 8, Actor, CancellationToken.None));
        await Assert.ThrowsAsync<AuditUnavailableException>(() => replica.Operations.EncryptBatchAsync(_tenant, [Text("x", keyId)], Actor, CancellationToken.None));
    }

    private sealed class RecordingAudit : IAuditLog
    {
        private readonly ConcurrentQueue<AuditEvent> _events = new();

        public IReadOnlyList<AuditEvent> Events => [.. _events];

        public bool Unavailable { get; init; }

        public Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
        {
            if (Unavailable)
            {
                throw new AuditUnavailableException("test: the audit log is down");
            }

            _events.Enqueue(auditEvent);
            return Task.CompletedTask;
        }
    }
}
