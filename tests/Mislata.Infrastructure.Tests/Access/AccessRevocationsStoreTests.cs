using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.Identity;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Tests.Access;

/// <summary>
/// The durable side of access revocations against real PostgreSQL: identity records a not-before, every replica loads
/// it at start, the later not-before wins, rows past their retention are dropped, and an announcement made while
/// Redis is down still applies on the replica that made it.
/// </summary>
public sealed class AccessRevocationsStoreTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, 250, TimeSpan.Zero));
    private PostgresInstance? _postgres;
    private ServiceProvider? _services;
    private ConnectionMultiplexer? _redisDown;

    public async Task InitializeAsync()
    {
        _postgres = await PostgresInstance.SharedOrOwnAsync();
        var connectionString = await _postgres.CreateDatabaseAsync("revocations");
        _services = new ServiceCollection()
            .AddDbContext<IdentityStoreDbContext>(o =>
            {
                o.UseNpgsql(connectionString, n => n.MigrationsHistoryTable("__EFMigrationsHistory", IdentityStoreDbContext.Schema));
                o.UseOpenIddict<Guid>();
            })
            .BuildServiceProvider();
        await using var scope = _services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>().Database.MigrateAsync();
        // Nothing listens on port 1: the multiplexer stays disconnected.
        _redisDown = await ConnectionMultiplexer.ConnectAsync("127.0.0.1:1,abortConnect=false,connectTimeout=200,connectRetry=0");
    }

    public async Task DisposeAsync()
    {
        _redisDown?.Dispose();
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    private (AccessRevocations Revocations, AccessInvalidation Invalidation) Replica()
    {
        var invalidation = new AccessInvalidation(_redisDown!, NullLogger<AccessInvalidation>.Instance);
        return (new AccessRevocations(_services!.GetRequiredService<IServiceScopeFactory>(), _redisDown!, invalidation, _time, NullLogger<AccessRevocations>.Instance), invalidation);
    }

    private async Task RevokeAsync(AccessRevocations revocations, string kind, string value)
    {
        await using var scope = _services!.CreateAsyncScope();
        await revocations.RevokeAsync(scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>(), kind, value, CancellationToken.None);
    }

    private async Task<List<AccessRevocation>> RowsAsync()
    {
        await using var scope = _services!.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>().AccessRevocations.AsNoTracking().OrderBy(r => r.Value).ToListAsync();
    }

    [Fact]
    public async Task A_revocation_is_recorded_applied_at_once_and_loaded_by_a_replica_that_starts_later()
    {
        var (writer, announced) = Replica();
        var heard = new List<string>();
        announced.Invalidated += heard.Add;
        var revokedAt = _time.GetUtcNow();
        await RevokeAsync(writer, AccessRevocation.Subject, "user-1");
        await RevokeAsync(writer, AccessRevocation.Client, "app-1");

        // Applied on the writer at once (Redis is down: the local announcement still reaches this replica).
        Assert.True(writer.Refuses("user-1", null, revokedAt.AddSeconds(-1)));
        Assert.True(writer.Refuses(null, "app-1", revokedAt.AddSeconds(-1)));
        Assert.Equal(2, heard.Count(m => m.StartsWith("revoked:", StringComparison.Ordinal)));
        var truncated = DateTimeOffset.FromUnixTimeMilliseconds(revokedAt.ToUnixTimeMilliseconds());
        Assert.Contains(AccessRevocations.Message(AccessRevocation.Subject, "user-1", truncated), heard);

        var rows = await RowsAsync();
        Assert.Equal(["app-1", "user-1"], rows.Select(r => r.Value));
        Assert.All(rows, r => Assert.Equal(truncated, r.NotBefore));
        Assert.All(rows, r => Assert.Equal(truncated + AccessRevocations.Retention, r.ExpiresAt));

        var (reader, _) = Replica();
        Assert.False(reader.Refuses("user-1", null, revokedAt.AddSeconds(-1)));
        await reader.StartAsync(CancellationToken.None);
        Assert.Equal(2, reader.Count);
        Assert.True(reader.Refuses("user-1", null, revokedAt.AddSeconds(-1)));
        Assert.True(reader.Refuses(new ClaimsPrincipal(new ClaimsIdentity([new Claim("client_id", "app-1"), new Claim("iat", "0")]))));
        Assert.True(reader.Refuses(new ClaimsPrincipal()));
        Assert.False(reader.Refuses("user-1", null, revokedAt.AddSeconds(1)));
        await reader.StopAsync(CancellationToken.None);
        reader.Dispose();
        writer.Dispose();
    }

    [Fact]
    public async Task A_later_revocation_moves_the_not_before_forward_and_rows_past_their_retention_are_dropped()
    {
        var (writer, _) = Replica();
        await RevokeAsync(writer, AccessRevocation.Subject, "user-2");
        var first = _time.GetUtcNow();
        _time.Advance(TimeSpan.FromMinutes(1));
        await RevokeAsync(writer, AccessRevocation.Subject, "user-2");
        var second = DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());
        Assert.Equal(second, Assert.Single(await RowsAsync(), r => r.Value == "user-2").NotBefore);
        Assert.True(writer.Refuses("user-2", null, first.AddSeconds(30)));

        // Past the retention a row is deleted by the next revocation and forgotten by the next load.
        var (reader, _) = Replica();
        await reader.LoadAsync(CancellationToken.None);
        Assert.True(reader.Refuses("user-2", null, first.AddSeconds(30)));
        _time.Advance(AccessRevocations.Retention + TimeSpan.FromSeconds(1));
        await RevokeAsync(writer, AccessRevocation.Subject, "user-3");
        Assert.DoesNotContain(await RowsAsync(), r => r.Value == "user-2");
        await reader.LoadAsync(CancellationToken.None);
        Assert.False(reader.Refuses("user-2", null, first.AddSeconds(30)));
        Assert.True(reader.Refuses("user-3", null, first.AddSeconds(30)));
        Assert.Equal(1, reader.Count);
        reader.Dispose();
        writer.Dispose();
    }

    [Fact]
    public async Task A_revocation_needs_a_known_kind_and_a_value()
    {
        var (writer, _) = Replica();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => RevokeAsync(writer, "role", "admin"));
        await Assert.ThrowsAsync<ArgumentException>(() => RevokeAsync(writer, AccessRevocation.Subject, string.Empty));
        await Assert.ThrowsAsync<ArgumentNullException>(() => writer.RevokeAsync(null!, AccessRevocation.Subject, "x", CancellationToken.None));
        Assert.Empty(await RowsAsync());
        Assert.Equal(0, writer.Count);
        writer.Dispose();
    }

    private static async Task<bool> EventuallyAsync(Func<bool> condition)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(30))
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    [Fact]
    public async Task While_Redis_is_disconnected_a_running_replica_reads_the_table_again_every_five_seconds()
    {
        var (writer, _) = Replica();
        var (reader, _) = Replica();
        await reader.StartAsync(CancellationToken.None);
        var before = _time.GetUtcNow().AddSeconds(-1);

        // Redis is down: the writer's announcement cannot reach the reader, only the table can.
        await RevokeAsync(writer, AccessRevocation.Subject, "user-4");
        Assert.False(reader.Refuses("user-4", null, before));
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(reader.Refuses("user-4", null, before));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await EventuallyAsync(() => reader.Refuses("user-4", null, before)), "not loaded five seconds later");

        await reader.StopAsync(CancellationToken.None);
        reader.Dispose();
        writer.Dispose();
    }

    [Fact]
    public async Task A_lost_or_restored_connection_reads_the_table_at_once_and_again_two_seconds_later()
    {
        var (writer, _) = Replica();
        var (reader, readerInvalidation) = Replica();
        var before = _time.GetUtcNow().AddSeconds(-1);
        await RevokeAsync(writer, AccessRevocation.Subject, "user-5");
        Assert.False(reader.Refuses("user-5", null, before));

        // What the subscriber raises when the Redis connection fails or comes back (no timer runs: not started).
        await readerInvalidation.PublishAsync(AccessInvalidation.All);
        Assert.True(await EventuallyAsync(() => reader.Refuses("user-5", null, before)), "not loaded at once");

        // A revocation announced while the subscription was not back yet is read by the second load.
        await RevokeAsync(writer, AccessRevocation.Client, "app-5");
        Assert.False(reader.Refuses(null, "app-5", before));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(await EventuallyAsync(() => reader.Refuses(null, "app-5", before)), "not loaded two seconds later");

        // Other invalidations (an API key, a tenant) do not concern revocations.
        await RevokeAsync(writer, AccessRevocation.Subject, "user-6");
        await readerInvalidation.PublishAsync(AccessInvalidation.Plans);
        await readerInvalidation.PublishAsync("revoked:role:1:admin");
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(reader.Refuses("user-6", null, before));
        Assert.Equal(2, reader.Count);
        reader.Dispose();
        writer.Dispose();
    }

    [Fact]
    public void Invalidation_messages_name_the_key_or_tenant_in_32_hex_digits()
    {
        var id = Guid.Parse("0195a1c0-0000-7000-8000-00000000abcd");
        Assert.Equal("key:0195a1c0000070008000" + "00000000abcd", AccessInvalidation.ApiKey(id));
        Assert.Equal("tenant:0195a1c0000070008000" + "00000000abcd", AccessInvalidation.Tenant(id));
        Assert.Equal("revoked:sub:1764331200250:user:1", AccessRevocations.Message(AccessRevocation.Subject, "user:1", new DateTimeOffset(2025, 11, 28, 12, 0, 0, 250, TimeSpan.Zero)));
    }
}
