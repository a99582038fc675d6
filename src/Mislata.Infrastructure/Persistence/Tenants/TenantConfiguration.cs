using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Mislata.Core.Partners;
using Mislata.Core.Tenants;

namespace Mislata.Infrastructure.Persistence.Tenants;

internal sealed class TenantConfiguration : IEntityTypeConfiguration<Tenant>
{
    public void Configure(EntityTypeBuilder<Tenant> builder)
    {
        builder.ToTable("tenants");
        builder.HasKey(t => t.Id);
        builder.Property(t => t.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(t => t.Name).HasColumnName("name").HasMaxLength(200).IsRequired();
        builder.Property(t => t.PlanId).HasColumnName("plan_id");
        builder.Property(t => t.PartnerId).HasColumnName("partner_id");
        builder.Property(t => t.AdminEmail).HasColumnName("admin_email").HasMaxLength(254);
        builder.Property(t => t.Status).HasColumnName("status").HasConversion<string>().HasMaxLength(16);
        builder.Property(t => t.SuspendedAt).HasColumnName("suspended_at");
        builder.Property(t => t.SecretVersionsKept).HasColumnName("secret_versions_kept");
        builder.Property(t => t.CreatedAt).HasColumnName("created_at");
        builder.Property(t => t.UpdatedAt).HasColumnName("updated_at");
        builder.HasIndex(t => t.Name).IsUnique();
        builder.HasIndex(t => t.PartnerId);
        builder.HasOne<Plan>().WithMany().HasForeignKey(t => t.PlanId).OnDelete(DeleteBehavior.Restrict);
        builder.HasOne<Partner>().WithMany().HasForeignKey(t => t.PartnerId).OnDelete(DeleteBehavior.Restrict);
    }
}

/// <summary>A tenant's data key, stored only wrapped by the master key (PRODUCT.md "Encryption at rest").</summary>
public sealed class TenantDataKeyRecord
{
    private TenantDataKeyRecord()
    {
        WrappedKey = [];
        MasterKeyId = string.Empty;
    }

    public TenantDataKeyRecord(Guid tenantId, int version, WrappedDataKey wrapped, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(wrapped);
        TenantId = tenantId;
        Version = version;
        WrappedKey = wrapped.WrappedKey;
        MasterKeyId = wrapped.MasterKeyId;
        CreatedAt = now;
    }

    public Guid TenantId { get; private set; }

    public int Version { get; private set; }

    public byte[] WrappedKey { get; private set; }

    public string MasterKeyId { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public WrappedDataKey ToWrapped() => new(TenantId, Version, MasterKeyId, WrappedKey);
}

internal sealed class TenantDataKeyConfiguration : IEntityTypeConfiguration<TenantDataKeyRecord>
{
    public void Configure(EntityTypeBuilder<TenantDataKeyRecord> builder)
    {
        builder.ToTable("tenant_data_keys");
        builder.HasKey(k => new { k.TenantId, k.Version });
        builder.Property(k => k.TenantId).HasColumnName("tenant_id");
        builder.Property(k => k.Version).HasColumnName("dek_version");
        builder.Property(k => k.WrappedKey).HasColumnName("wrapped_key").IsRequired();
        builder.Property(k => k.MasterKeyId).HasColumnName("master_key_id").HasMaxLength(64).IsRequired();
        builder.Property(k => k.CreatedAt).HasColumnName("created_at");
        builder.HasOne<Tenant>().WithMany().HasForeignKey(k => k.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
