using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Mislata.Core.Keys;
using Mislata.Core.Tenants;

namespace Mislata.Infrastructure.Persistence.Keys;

internal sealed class KeyConfiguration : IEntityTypeConfiguration<Key>
{
    public void Configure(EntityTypeBuilder<Key> builder)
    {
        builder.ToTable("keys", t =>
        {
            t.HasCheckConstraint("ck_keys_versions", "current_version >= 1 AND min_decryption_version BETWEEN 1 AND current_version");
            t.HasCheckConstraint("ck_keys_deletion", "(state = 'PendingDeletion') = (deletion_date IS NOT NULL) OR state = 'Destroyed'");
        });
        builder.HasKey(k => k.Id);
        builder.Property(k => k.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(k => k.TenantId).HasColumnName("tenant_id");
        builder.Property(k => k.Name).HasColumnName("name").HasMaxLength(KeyLimits.MaxNameLength).IsRequired();
        builder.Property(k => k.Algorithm).HasColumnName("algorithm").HasMaxLength(32).IsRequired();
        builder.Property(k => k.Type).HasColumnName("type").HasConversion<string>().HasMaxLength(16);
        builder.Property(k => k.Origin).HasColumnName("origin").HasConversion<string>().HasMaxLength(16);
        builder.Property(k => k.State).HasColumnName("state").HasConversion<string>().HasMaxLength(16);
        builder.Property(k => k.CurrentVersion).HasColumnName("current_version");
        builder.Property(k => k.MinDecryptionVersion).HasColumnName("min_decryption_version");
        builder.Property(k => k.IsDefault).HasColumnName("is_default");
        builder.Property(k => k.Tags).HasColumnName("tags");
        builder.Property(k => k.Description).HasColumnName("description").HasMaxLength(KeyLimits.MaxDescriptionLength);
        builder.Property(k => k.RotationPeriodDays).HasColumnName("rotation_period_days");
        builder.Property(k => k.NextRotationAt).HasColumnName("next_rotation_at");
        builder.Property(k => k.DeletionDate).HasColumnName("deletion_date");
        builder.Property(k => k.CreatedBy).HasColumnName("created_by").HasMaxLength(200);
        builder.Property(k => k.CreatedAt).HasColumnName("created_at");
        builder.Property(k => k.UpdatedAt).HasColumnName("updated_at");
        builder.Ignore(k => k.Info);
        builder.Ignore(k => k.NextVersion);
        builder.HasMany(k => k.Versions).WithOne().HasForeignKey(v => v.KeyId).OnDelete(DeleteBehavior.Cascade);
        builder.Navigation(k => k.Versions).UsePropertyAccessMode(PropertyAccessMode.Field).HasField("_versions");

        // Names are unique per tenant; at most one default key per tenant and type.
        builder.HasIndex(k => new { k.TenantId, k.Name }).IsUnique();
        builder.HasIndex(k => new { k.TenantId, k.Type }).IsUnique().HasFilter("is_default").HasDatabaseName("ix_keys_tenant_default");
        builder.HasIndex(k => new { k.TenantId, k.Id });

        // The worker's purge (destroy after the window) and automatic rotation scan these.
        builder.HasIndex(k => k.DeletionDate).HasFilter("deletion_date IS NOT NULL");
        builder.HasIndex(k => k.NextRotationAt).HasFilter("next_rotation_at IS NOT NULL");
        builder.HasOne<Tenant>().WithMany().HasForeignKey(k => k.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class KeyVersionConfiguration : IEntityTypeConfiguration<KeyVersion>
{
    public void Configure(EntityTypeBuilder<KeyVersion> builder)
    {
        builder.ToTable("key_versions", t => t.HasCheckConstraint("ck_key_versions_destroyed", "(state = 'Destroyed') = (length(sealed_material) = 0)"));
        builder.HasKey(v => new { v.KeyId, v.Version });
        builder.Property(v => v.KeyId).HasColumnName("key_id");
        builder.Property(v => v.TenantId).HasColumnName("tenant_id");
        builder.Property(v => v.Version).HasColumnName("version");
        builder.Property(v => v.State).HasColumnName("state").HasConversion<string>().HasMaxLength(16);
        builder.Property(v => v.SealedMaterial).HasColumnName("sealed_material").IsRequired();
        builder.Property(v => v.DataKeyVersion).HasColumnName("dek_version");
        builder.Property(v => v.PublicKey).HasColumnName("public_key");
        builder.Property(v => v.CreatedAt).HasColumnName("created_at");
        builder.Property(v => v.LastUsedAt).HasColumnName("last_used_at");
        builder.Property(v => v.InvocationCount).HasColumnName("invocation_count");
        builder.Property(v => v.DestroyedAt).HasColumnName("destroyed_at");
        builder.HasIndex(v => v.TenantId);
        builder.HasOne<Tenant>().WithMany().HasForeignKey(v => v.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
