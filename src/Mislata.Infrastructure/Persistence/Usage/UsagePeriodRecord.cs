using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Mislata.Core.Tenants;

namespace Mislata.Infrastructure.Persistence.Usage;

/// <summary>
/// A tenant's operations in one UTC calendar month, rolled up from the Redis counter by the worker. Only ever moves
/// up (the roll-up keeps the larger of the stored and the counted value), so a Redis restart that lost counters does
/// not lower a stored figure.
/// </summary>
public sealed class UsagePeriodRecord
{
    public Guid TenantId { get; set; }

    /// <summary>The first day of the month (UTC).</summary>
    public DateOnly PeriodStart { get; set; }

    public long Operations { get; set; }

    public DateTimeOffset RolledUpAt { get; set; }
}

internal sealed class UsagePeriodRecordConfiguration : IEntityTypeConfiguration<UsagePeriodRecord>
{
    public void Configure(EntityTypeBuilder<UsagePeriodRecord> e)
    {
        e.ToTable("usage_periods");
        e.HasKey(x => new { x.TenantId, x.PeriodStart });
        e.Property(x => x.TenantId).HasColumnName("tenant_id");
        e.Property(x => x.PeriodStart).HasColumnName("period_start");
        e.Property(x => x.Operations).HasColumnName("operations");
        e.Property(x => x.RolledUpAt).HasColumnName("rolled_up_at");
        e.HasOne<Tenant>().WithMany().HasForeignKey(x => x.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
