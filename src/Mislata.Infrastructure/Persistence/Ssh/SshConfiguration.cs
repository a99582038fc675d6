using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Mislata.Core.Keys;
using Mislata.Core.Ssh;
using Mislata.Core.Tenants;

namespace Mislata.Infrastructure.Persistence.Ssh;

internal sealed class SshCertificateAuthorityConfiguration : IEntityTypeConfiguration<SshCertificateAuthority>
{
    public void Configure(EntityTypeBuilder<SshCertificateAuthority> builder)
    {
        builder.ToTable("ssh_cas", t => t.HasCheckConstraint("ck_ssh_cas_validity", "max_user_validity_seconds > 0 AND max_host_validity_seconds > 0"));
        builder.HasKey(c => c.Id);
        builder.Property(c => c.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(c => c.TenantId).HasColumnName("tenant_id");
        builder.Property(c => c.Name).HasColumnName("name").HasMaxLength(SshCertificateRules.MaxCaNameLength).IsRequired();
        builder.Property(c => c.Algorithm).HasColumnName("algorithm").HasMaxLength(32).IsRequired();
        builder.Property(c => c.KeyId).HasColumnName("key_id");
        builder.Property(c => c.MaxUserValiditySeconds).HasColumnName("max_user_validity_seconds");
        builder.Property(c => c.MaxHostValiditySeconds).HasColumnName("max_host_validity_seconds");
        builder.Property(c => c.AllowedPrincipals).HasColumnName("allowed_principals");
        builder.Property(c => c.CreatedBy).HasColumnName("created_by").HasMaxLength(200);
        builder.Property(c => c.CreatedAt).HasColumnName("created_at");
        builder.Ignore(c => c.Policy);
        builder.HasIndex(c => new { c.TenantId, c.Name }).IsUnique();
        builder.HasIndex(c => c.KeyId).IsUnique();
        builder.HasOne<Tenant>().WithMany().HasForeignKey(c => c.TenantId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Key>().WithMany().HasForeignKey(c => c.KeyId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class SshIssuedCertificateConfiguration : IEntityTypeConfiguration<SshIssuedCertificate>
{
    public void Configure(EntityTypeBuilder<SshIssuedCertificate> builder)
    {
        builder.ToTable("ssh_certificates", t => t.HasCheckConstraint("ck_ssh_certificates_window", "valid_before > valid_after AND serial > 0"));
        builder.HasKey(c => c.Id);
        builder.Property(c => c.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(c => c.TenantId).HasColumnName("tenant_id");
        builder.Property(c => c.CaId).HasColumnName("ca_id");
        builder.Property(c => c.Serial).HasColumnName("serial");
        builder.Property(c => c.Type).HasColumnName("type").HasConversion<string>().HasMaxLength(8);
        builder.Property(c => c.KeyIdentifier).HasColumnName("key_identifier").HasMaxLength(SshCertificateRules.MaxKeyIdLength).IsRequired();
        builder.Property(c => c.Principals).HasColumnName("principals");
        builder.Property(c => c.ValidAfter).HasColumnName("valid_after");
        builder.Property(c => c.ValidBefore).HasColumnName("valid_before");
        builder.Property(c => c.SubjectKeyType).HasColumnName("subject_key_type").HasMaxLength(32).IsRequired();
        builder.Property(c => c.SubjectFingerprint).HasColumnName("subject_fingerprint").HasMaxLength(64).IsRequired();
        builder.Property(c => c.CriticalOptions).HasColumnName("critical_options");
        builder.Property(c => c.Extensions).HasColumnName("extensions");
        builder.Property(c => c.CaFingerprint).HasColumnName("ca_fingerprint").HasMaxLength(64).IsRequired();
        builder.Property(c => c.KeyVersion).HasColumnName("key_version");
        builder.Property(c => c.IssuedBy).HasColumnName("issued_by").HasMaxLength(200);
        builder.Property(c => c.IssuedAt).HasColumnName("issued_at");
        builder.HasIndex(c => new { c.CaId, c.Serial }).IsUnique();
        builder.HasIndex(c => new { c.TenantId, c.Id });
        builder.HasOne<Tenant>().WithMany().HasForeignKey(c => c.TenantId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<SshCertificateAuthority>().WithMany().HasForeignKey(c => c.CaId).OnDelete(DeleteBehavior.Cascade);
    }
}
