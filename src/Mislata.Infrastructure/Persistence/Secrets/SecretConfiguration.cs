using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Mislata.Core.Secrets;
using Mislata.Core.Tenants;

namespace Mislata.Infrastructure.Persistence.Secrets;

internal sealed class SecretConfiguration : IEntityTypeConfiguration<Secret>
{
    public void Configure(EntityTypeBuilder<Secret> builder)
    {
        builder.ToTable("secrets", t =>
        {
            t.HasCheckConstraint("ck_secrets_version", "current_version >= 1");
            t.HasCheckConstraint("ck_secrets_deleted", "(state = 'Deleted') = (deleted_at IS NOT NULL AND purge_at IS NOT NULL)");
        });
        builder.HasKey(s => s.Id);
        builder.Property(s => s.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(s => s.TenantId).HasColumnName("tenant_id");
        builder.Property(s => s.Name).HasColumnName("name").HasMaxLength(SecretLimits.MaxNameLength).IsRequired();
        builder.Property(s => s.Description).HasColumnName("description").HasMaxLength(SecretLimits.MaxDescriptionLength);
        builder.Property(s => s.Labels).HasColumnName("labels");
        builder.Property(s => s.ContentType).HasColumnName("content_type").HasMaxLength(SecretLimits.MaxContentTypeLength);
        builder.Property(s => s.ExpiresAt).HasColumnName("expires_at");
        builder.Property(s => s.CurrentVersion).HasColumnName("current_version");
        builder.Property(s => s.State).HasColumnName("state").HasConversion<string>().HasMaxLength(16);
        builder.Property(s => s.DeletedAt).HasColumnName("deleted_at");
        builder.Property(s => s.PurgeAt).HasColumnName("purge_at");
        builder.Property(s => s.CreatedBy).HasColumnName("created_by").HasMaxLength(200);
        builder.Property(s => s.CreatedAt).HasColumnName("created_at");
        builder.Property(s => s.UpdatedAt).HasColumnName("updated_at");
        builder.Ignore(s => s.NextVersion);

        // Names are unique among a tenant's live secrets (a deleted one keeps its name until restored or purged).
        builder.HasIndex(s => new { s.TenantId, s.Name }).IsUnique().HasFilter("state = 'Live'").HasDatabaseName("ix_secrets_tenant_live_name");
        builder.HasIndex(s => new { s.TenantId, s.Id });

        // The worker's purge of deleted secrets scans this.
        builder.HasIndex(s => s.PurgeAt).HasFilter("purge_at IS NOT NULL");
        builder.HasOne<Tenant>().WithMany().HasForeignKey(s => s.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class SecretVersionConfiguration : IEntityTypeConfiguration<SecretVersion>
{
    public void Configure(EntityTypeBuilder<SecretVersion> builder)
    {
        builder.ToTable("secret_versions", t => t.HasCheckConstraint("ck_secret_versions_version", "version >= 1"));

        // The primary key is the read path: (secret_id, current_version) is one index probe, and two writers can
        // never store the same version number of one secret.
        builder.HasKey(v => new { v.SecretId, v.Version });
        builder.Property(v => v.SecretId).HasColumnName("secret_id");
        builder.Property(v => v.TenantId).HasColumnName("tenant_id");
        builder.Property(v => v.Version).HasColumnName("version");
        builder.Property(v => v.SealedValue).HasColumnName("sealed_value").IsRequired();
        builder.Property(v => v.DataKeyVersion).HasColumnName("dek_version");
        builder.Property(v => v.CreatedBy).HasColumnName("created_by").HasMaxLength(200);
        builder.Property(v => v.CreatedAt).HasColumnName("created_at");
        builder.HasIndex(v => v.TenantId);
        builder.HasOne<Secret>().WithMany().HasForeignKey(v => v.SecretId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Tenant>().WithMany().HasForeignKey(v => v.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
