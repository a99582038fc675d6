using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Mislata.Core.Tenants;

namespace Mislata.Infrastructure.Persistence.Plans;

internal sealed class PlanConfiguration : IEntityTypeConfiguration<Plan>
{
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
        builder.Property(p => p.AvailableToPartners).HasColumnName("available_to_partners").HasDefaultValue(false);
        builder.Property(p => p.CreatedAt).HasColumnName("created_at");
        builder.Property(p => p.UpdatedAt).HasColumnName("updated_at");
        builder.Ignore(p => p.Limits);
        builder.HasIndex(p => p.Code).IsUnique();
    }
}
