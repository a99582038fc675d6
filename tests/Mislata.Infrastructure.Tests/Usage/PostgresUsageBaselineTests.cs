using Mislata.Core.Tenants;
using Mislata.Infrastructure.Usage;

namespace Mislata.Infrastructure.Tests.Usage;

/// <summary>The roll-up a lost Redis counter starts from, read as the api's database role from a real PostgreSQL.</summary>
public sealed class PostgresUsageBaselineTests : IAsyncLifetime
{
    private readonly MislataDatabase _db = new();

    public Task InitializeAsync() => _db.InitializeAsync();

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task The_month_s_rolled_up_count_of_that_tenant_only_and_zero_without_one()
    {
        var (a, b) = (Guid.NewGuid(), Guid.NewGuid());
        foreach (var tenant in new[] { a, b })
        {
            await _db.ExecuteAsync($"INSERT INTO mislata.tenants (id, name, plan_id, status, created_at, updated_at) VALUES ('{tenant}', 't-{tenant:N}', '{Plan.CommunityId}', 'Active', now(), now())");
        }

        await _db.ExecuteAsync($"""
            INSERT INTO mislata.usage_periods (tenant_id, period_start, operations, rolled_up_at) VALUES
              ('{a}', '2026-11-01', 41, now()), ('{a}', '2026-12-01', 1234, now()), ('{b}', '2026-12-01', 7, now())
            """);

        var baseline = new PostgresUsageBaseline(_db.Contexts);
        Assert.Equal(1234, await baseline.OperationsAsync(a, new DateOnly(2026, 12, 1), CancellationToken.None));
        Assert.Equal(41, await baseline.OperationsAsync(a, new DateOnly(2026, 11, 1), CancellationToken.None));
        Assert.Equal(7, await baseline.OperationsAsync(b, new DateOnly(2026, 12, 1), CancellationToken.None));
        Assert.Equal(0, await baseline.OperationsAsync(b, new DateOnly(2026, 11, 1), CancellationToken.None));
        Assert.Equal(0, await baseline.OperationsAsync(Guid.NewGuid(), new DateOnly(2026, 12, 1), CancellationToken.None));
    }
}
