using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Mislata.Core.Tenants;

namespace Mislata.Infrastructure.Persistence.Plans;

internal sealed class PlanConfiguration : IEntityTypeConfiguration<Plan>
{
    private static readonly DateTimeOffset SeededAt = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public void Configure(EntityTypeBuilder<Plan> builder)
    {
        builder.ToTable("plans");
        builder.HasKey(p => p.Id);
        builder.Property(p => p.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(p => p.Code).HasColumnName("code").HasMaxLength(64).IsRequired();
        builder.Property(p => p.Name).HasColumnName("name").HasMaxLength(200).IsRequired();
        builder.Property(p => p.MaxKeys).HasColumnName("max_keys");
        builder.Property(p => p.MaxSecrets).HasColumnName("max_secrets");
        builder.Property(p => p.MaxApiKeys).HasColumnName("max_api_keys");
        builder.Property(p => p.MaxUsers).HasColumnName("max_users");
        builder.Property(p => p.OperationsPerMonth).HasColumnName("operations_per_month");
        builder.Property(p => p.RequestsPerMinute).HasColumnName("requests_per_minute");
        builder.Property(p => p.Features).HasColumnName("features");
        builder.Property(p => p.CreatedAt).HasColumnName("created_at");
        builder.Property(p => p.UpdatedAt).HasColumnName("updated_at");
        builder.Ignore(p => p.Limits);
        builder.HasIndex(p => p.Code).IsUnique();

        // The seeded plans; operators edit them (or add others) through /admin/plans.
        builder.HasData(
            new
            {
                Id = Plan.CommunityId, Code = "community", Name = "Community",
                MaxKeys = (int?)25, MaxSecrets = (int?)100, MaxApiKeys = (int?)10, MaxUsers = (int?)5,
                OperationsPerMonth = (long?)100_000, RequestsPerMinute = (int?)600,
                Features = new List<string>(), CreatedAt = SeededAt, UpdatedAt = SeededAt,
            },
            new
            {
                Id = Plan.BusinessId, Code = "business", Name = "Business",
                MaxKeys = (int?)500, MaxSecrets = (int?)5_000, MaxApiKeys = (int?)100, MaxUsers = (int?)100,
                OperationsPerMonth = (long?)10_000_000, RequestsPerMinute = (int?)6_000,
                Features = new List<string> { "byok", "audit-export" }, CreatedAt = SeededAt, UpdatedAt = SeededAt,
            },
            new
            {
                Id = Plan.EnterpriseId, Code = "enterprise", Name = "Enterprise",
                MaxKeys = (int?)null, MaxSecrets = (int?)null, MaxApiKeys = (int?)null, MaxUsers = (int?)null,
                OperationsPerMonth = (long?)null, RequestsPerMinute = (int?)60_000,
                Features = new List<string> { "byok", "audit-export", "sso", "partner-management" }, CreatedAt = SeededAt, UpdatedAt = SeededAt,
            });
    }
}
