using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.Access;
using Mislata.Core.ApiKeys;
using Mislata.Core.Audit;
using Mislata.Core.Partners;
using Mislata.Core.Tenants;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.ApiKeys;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests.ApiKeys;

/// <summary>
/// Issuing and revoking API keys against real PostgreSQL: the plan's <c>maxApiKeys</c> (revoked keys do not count),
/// the plaintext returned once and only its keyed hash stored, the audit written before the commit (fail-closed), the
/// owner checked (another tenant's or partner's key is not found) and every revocation announced to the replicas.
/// </summary>
public sealed class ApiKeyIssuerTests : IAsyncLifetime
{
    /// <summary>The community plan's <c>max_api_keys</c> (seeded by the Tenancy migration).</summary>
    private const int CommunityMaxApiKeys = 10;

    private static readonly RequestActor Actor = new(AuditActorType.User, "user-1", "192.0.2.1", "req-1");
    private readonly MislataDatabase _db = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
    private ConnectionMultiplexer? _redisDown;
    private AccessInvalidation? _invalidation;
    private readonly List<string> _announced = [];
    private readonly RecordingAuditLog _audit = new();
    private readonly PlatformKey _platformKey = PlatformKey.Generate();
    private readonly Guid _tenant = Guid.NewGuid();
    private readonly Guid _otherTenant = Guid.NewGuid();
    private readonly Guid _partner = Guid.NewGuid();

    public async Task InitializeAsync()
    {
        // Nothing listens on port 1: the multiplexer stays disconnected and invalidations are raised locally only.
        _redisDown = await ConnectionMultiplexer.ConnectAsync("127.0.0.1:1,abortConnect=false,connectTimeout=200,connectRetry=0");
        _invalidation = new AccessInvalidation(_redisDown, NullLogger<AccessInvalidation>.Instance);
        _invalidation.Invalidated += _announced.Add;
        await _db.InitializeAsync();
        await using var context = _db.Contexts.CreateDbContext();
        context.Set<Tenant>().Add(new Tenant(_tenant, "Acme", Plan.CommunityId, null, null, _time.GetUtcNow()));
        context.Set<Tenant>().Add(new Tenant(_otherTenant, "Other", Plan.CommunityId, null, null, _time.GetUtcNow()));
        context.Set<Partner>().Add(new Partner(_partner, "Reseller", null, null, _time.GetUtcNow()));
        await context.SaveChangesAsync();
    }

    public async Task DisposeAsync()
    {
        _platformKey.Dispose();
        _redisDown?.Dispose();
        await _db.DisposeAsync();
    }

    private ApiKeySecret Secret => new(_platformKey);

    /// <summary>One issuer per call, as one per request scope in the services.</summary>
    private async Task<T> WithIssuerAsync<T>(Func<ApiKeyIssuer, Task<T>> call)
    {
        await using var context = _db.Contexts.CreateDbContext();
        return await call(new ApiKeyIssuer(context, Secret, _audit, _invalidation!, _time, Mislata.Crypto.Entropy.OsRandomSource.Instance));
    }

    private static ApiKeyDraft Draft(string name = "ci") => new(name, ["keys:read", "encrypt"], null, ["192.0.2.0/24"], 90);

    private Task<(ApiKey? Key, string? Secret, ApiKeyError Error)> IssueAsync(Guid tenant, string name = "ci") =>
        WithIssuerAsync(i => i.IssueForTenantAsync(tenant, Draft(name), Actor, CancellationToken.None));

    private async Task<ApiKey> StoredAsync(Guid id)
    {
        await using var context = _db.Contexts.CreateDbContext();
        return await context.Set<ApiKey>().AsNoTracking().SingleAsync(k => k.Id == id);
    }

    [Fact]
    public async Task An_issued_key_is_returned_once_and_stored_only_as_its_keyed_hash_with_the_drafts_settings()
    {
        var (key, plaintext, error) = await IssueAsync(_tenant);

        Assert.Equal(ApiKeyError.None, error);
        Assert.NotNull(key);
        Assert.NotNull(plaintext);
        Assert.True(ApiKeyAuthenticator.IsApiKey(plaintext));
        var stored = await StoredAsync(key.Id);
        Assert.Equal(_tenant, stored.TenantId);
        Assert.Null(stored.PartnerId);
        Assert.Equal("ci", stored.Name);
        Assert.Equal(ApiKeySecret.PrefixOf(plaintext), stored.Prefix);
        Assert.Equal(Secret.Hash(plaintext), stored.Hash);
        Assert.Equal(["keys:read", "encrypt"], stored.Scopes);
        Assert.Equal(["192.0.2.0/24"], stored.IpAllowlist);
        Assert.Equal(90, stored.RateLimitPerMinute);
        Assert.Equal("user-1", stored.CreatedBy);
        Assert.Equal(_time.GetUtcNow(), stored.CreatedAt);
        Assert.False(stored.IsRevoked);

        // Every key is a fresh random secret.
        var (_, second, _) = await IssueAsync(_tenant);
        Assert.NotEqual(plaintext, second);

        var created = _audit.Events[0];
        Assert.Equal("apikey.create", created.Action);
        Assert.Equal(_tenant, created.TenantId);
        Assert.Equal("apiKey", created.ResourceType);
        Assert.Equal(key.Id.ToString(), created.ResourceId);
        Assert.Equal("user-1", created.ActorId);
        Assert.Equal("keys:read encrypt", created.Details!["scopes"]);
        Assert.Equal(stored.Prefix, created.Details["prefix"]);
        Assert.Equal(string.Empty, created.Details["partnerId"]);
        // The secret itself never reaches the audit log.
        Assert.DoesNotContain(created.Details.Values, v => v.Contains(plaintext[ApiKeySecret.PrefixLength..], StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_tenant_gets_keys_up_to_its_plans_maxApiKeys_and_revoked_keys_do_not_count()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < CommunityMaxApiKeys; i++)
        {
            var (key, _, error) = await IssueAsync(_tenant, "k" + i);
            Assert.Equal(ApiKeyError.None, error);
            ids.Add(key!.Id);
        }

        var over = await IssueAsync(_tenant, "one too many");
        Assert.Equal((null, null, ApiKeyError.QuotaExceeded), over);
        Assert.Equal(CommunityMaxApiKeys, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.api_keys WHERE tenant_id = '{_tenant}'"));

        // Another tenant of the same plan has its own count.
        Assert.Equal(ApiKeyError.None, (await IssueAsync(_otherTenant)).Error);

        Assert.True(await WithIssuerAsync(i => i.RevokeAsync(_tenant, ids[0], Actor, CancellationToken.None)));
        Assert.Equal(ApiKeyError.None, (await IssueAsync(_tenant, "after a revocation")).Error);
        Assert.Equal(ApiKeyError.QuotaExceeded, (await IssueAsync(_tenant, "full again")).Error);
    }

    [Fact]
    public async Task A_key_for_an_unknown_tenant_or_partner_is_refused_and_nothing_is_written()
    {
        Assert.Equal((null, null, ApiKeyError.OwnerNotFound), await IssueAsync(Guid.NewGuid()));
        Assert.Equal((null, null, ApiKeyError.OwnerNotFound),
            await WithIssuerAsync(i => i.IssueForPartnerAsync(Guid.NewGuid(), Draft(), Actor, CancellationToken.None)));

        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.api_keys"));
        Assert.Empty(_audit.Events);
    }

    [Fact]
    public async Task Nothing_is_stored_when_the_audit_log_refuses_the_event()
    {
        _audit.Unavailable = true;

        await Assert.ThrowsAsync<AuditUnavailableException>(() => IssueAsync(_tenant));
        await Assert.ThrowsAsync<AuditUnavailableException>(() =>
            WithIssuerAsync(i => i.IssueForPartnerAsync(_partner, Draft(), Actor, CancellationToken.None)));

        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.api_keys"));
    }

    [Fact]
    public async Task A_partner_key_belongs_to_the_partner_and_only_that_partner_can_revoke_it()
    {
        var (key, plaintext, error) = await WithIssuerAsync(i => i.IssueForPartnerAsync(_partner, Draft(), Actor, CancellationToken.None));

        Assert.Equal(ApiKeyError.None, error);
        var stored = await StoredAsync(key!.Id);
        Assert.Null(stored.TenantId);
        Assert.Equal(_partner, stored.PartnerId);
        Assert.Equal(Secret.Hash(plaintext!), stored.Hash);
        var created = Assert.Single(_audit.Events);
        Assert.Null(created.TenantId);
        Assert.Equal(_partner.ToString(), created.Details!["partnerId"]);

        Assert.False(await WithIssuerAsync(i => i.RevokeForPartnerAsync(Guid.NewGuid(), key.Id, Actor, CancellationToken.None)));
        Assert.False(await WithIssuerAsync(i => i.RevokeAsync(_tenant, key.Id, Actor, CancellationToken.None)));
        Assert.False((await StoredAsync(key.Id)).IsRevoked);
        Assert.Empty(_announced);

        Assert.True(await WithIssuerAsync(i => i.RevokeForPartnerAsync(_partner, key.Id, Actor, CancellationToken.None)));
        Assert.True((await StoredAsync(key.Id)).IsRevoked);
        var revoked = _audit.Events[^1];
        Assert.Equal("apikey.revoke", revoked.Action);
        Assert.Equal(_partner.ToString(), revoked.Details!["partnerId"]);
        Assert.Equal([AccessInvalidation.ApiKey(key.Id)], _announced);
    }

    [Fact]
    public async Task Revoking_is_audited_once_announced_to_every_replica_and_another_tenants_key_is_not_found()
    {
        var (key, _, _) = await IssueAsync(_tenant);
        var id = key!.Id;

        Assert.False(await WithIssuerAsync(i => i.RevokeAsync(_otherTenant, id, Actor, CancellationToken.None)));
        Assert.False(await WithIssuerAsync(i => i.RevokeForPartnerAsync(_partner, id, Actor, CancellationToken.None)));
        Assert.False(await WithIssuerAsync(i => i.RevokeAsync(_tenant, Guid.NewGuid(), Actor, CancellationToken.None)));
        Assert.False((await StoredAsync(id)).IsRevoked);
        Assert.Empty(_announced);

        _time.Advance(TimeSpan.FromMinutes(3));
        Assert.True(await WithIssuerAsync(i => i.RevokeAsync(_tenant, id, Actor, CancellationToken.None)));
        var revokedAt = _time.GetUtcNow();
        Assert.Equal(revokedAt, (await StoredAsync(id)).RevokedAt);
        var revoked = _audit.Events[^1];
        Assert.Equal("apikey.revoke", revoked.Action);
        Assert.Equal(_tenant, revoked.TenantId);
        Assert.Equal(id.ToString(), revoked.ResourceId);
        Assert.Null(revoked.Details);
        Assert.Equal([AccessInvalidation.ApiKey(id)], _announced);

        // Revoking again: still true and announced again (a replica may have missed it), but neither re-dated nor re-audited.
        var events = _audit.Events.Count;
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.True(await WithIssuerAsync(i => i.RevokeAsync(_tenant, id, Actor, CancellationToken.None)));
        Assert.Equal(revokedAt, (await StoredAsync(id)).RevokedAt);
        Assert.Equal(events, _audit.Events.Count);
        Assert.Equal([AccessInvalidation.ApiKey(id), AccessInvalidation.ApiKey(id)], _announced);
    }

    [Fact]
    public async Task A_revocation_the_audit_log_refuses_is_not_saved()
    {
        var (key, _, _) = await IssueAsync(_tenant);
        _audit.Unavailable = true;

        await Assert.ThrowsAsync<AuditUnavailableException>(() => WithIssuerAsync(i => i.RevokeAsync(_tenant, key!.Id, Actor, CancellationToken.None)));

        Assert.False((await StoredAsync(key!.Id)).IsRevoked);
    }

    [Fact]
    public async Task Concurrent_creations_against_a_limit_wait_for_one_another_and_the_count_sees_the_previous_one()
    {
        for (var i = 0; i < CommunityMaxApiKeys - 1; i++)
        {
            Assert.Equal(ApiKeyError.None, (await IssueAsync(_tenant, "k" + i)).Error);
        }

        // The last free place: the first creation holds it while its audit event waits; the second, meanwhile, waits for
        // the tenant's quota lock (not for the audit log) and then counts the first's key.
        var gate = _audit.Hold();
        var first = IssueAsync(_tenant, "last");
        await UntilAsync(() => Task.FromResult(_audit.Waiting == 1), "the first creation reaches the audit log");
        var second = IssueAsync(_tenant, "one too many");
        await UntilAsync(async () => _audit.Waiting > 1
            || await _db.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") > 0, "the second creation waits");
        Assert.Equal(1, _audit.Waiting);
        gate.SetResult();

        Assert.Equal(ApiKeyError.None, (await first).Error);
        Assert.Equal((null, null, ApiKeyError.QuotaExceeded), await second);
        Assert.Equal(CommunityMaxApiKeys, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.api_keys WHERE tenant_id = '{_tenant}'"));
    }

    [Fact]
    public async Task Creations_of_a_tenant_whose_plan_has_no_limit_do_not_wait_for_one_another()
    {
        await using (var context = _db.Contexts.CreateDbContext())
        {
            await context.Database.ExecuteSqlAsync($"UPDATE mislata.tenants SET plan_id = {Plan.EnterpriseId} WHERE id = {_tenant}");
        }

        var gate = _audit.Hold();
        var first = IssueAsync(_tenant, "first");
        var second = IssueAsync(_tenant, "second");
        await UntilAsync(() => Task.FromResult(_audit.Waiting == 2), "both creations reach the audit log at once");
        gate.SetResult();

        Assert.Equal(ApiKeyError.None, (await first).Error);
        Assert.Equal(ApiKeyError.None, (await second).Error);
        Assert.Equal(2L, await _db.ScalarAsync<long>($"SELECT count(*) FROM mislata.api_keys WHERE tenant_id = '{_tenant}'"));
    }

    [Fact]
    public async Task A_key_saved_while_its_audit_event_is_pending_is_not_committed_when_the_event_is_refused()
    {
        var gate = _audit.Hold();
        var issuing = IssueAsync(_tenant);
        await UntilAsync(() => Task.FromResult(_audit.Waiting == 1), "the creation reaches the audit log");
        gate.SetException(new AuditUnavailableException("down"));

        await Assert.ThrowsAsync<AuditUnavailableException>(() => issuing);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM mislata.api_keys"));
    }

    /// <summary>Waits for <paramref name="condition"/> (a liveness bound of 30 s, not a timing assertion).</summary>
    private static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Timed out waiting until " + what);
            await Task.Delay(20);
        }
    }

    private sealed class RecordingAuditLog : IAuditLog
    {
        private readonly Lock _lock = new();
        private readonly List<AuditEvent> _events = [];
        private TaskCompletionSource? _gate;
        private int _waiting;

        public bool Unavailable { get; set; }

        public IReadOnlyList<AuditEvent> Events
        {
            get
            {
                lock (_lock)
                {
                    return [.. _events];
                }
            }
        }

        /// <summary>Callers waiting at the gate of <see cref="Hold"/>.</summary>
        public int Waiting => Volatile.Read(ref _waiting);

        /// <summary>From now on every event waits until the returned gate is opened (or failed) before it is recorded.</summary>
        public TaskCompletionSource Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
        {
            if (Unavailable)
            {
                throw new AuditUnavailableException("down");
            }

            if (_gate is { } gate)
            {
                Interlocked.Increment(ref _waiting);
                try
                {
                    await gate.Task;
                }
                finally
                {
                    Interlocked.Decrement(ref _waiting);
                }
            }

            lock (_lock)
            {
                _events.Add(auditEvent);
            }
        }
    }
}
