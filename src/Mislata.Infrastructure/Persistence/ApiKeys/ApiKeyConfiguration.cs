using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Mislata.Core.ApiKeys;
using Mislata.Core.Partners;
using Mislata.Core.Tenants;

namespace Mislata.Infrastructure.Persistence.ApiKeys;

internal sealed class ApiKeyConfiguration : IEntityTypeConfiguration<ApiKey>
{
    public void Configure(EntityTypeBuilder<ApiKey> builder)
    {
        builder.ToTable("api_keys", t => t.HasCheckConstraint("ck_api_keys_owner", "(tenant_id IS NULL) <> (partner_id IS NULL)"));
        builder.HasKey(k => k.Id);
        builder.Property(k => k.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(k => k.TenantId).HasColumnName("tenant_id");
        builder.Property(k => k.PartnerId).HasColumnName("partner_id");
        builder.Property(k => k.Name).HasColumnName("name").HasMaxLength(200).IsRequired();
        builder.Property(k => k.Prefix).HasColumnName("prefix").HasMaxLength(16).IsRequired();
        builder.Property(k => k.Hash).HasColumnName("hash").IsRequired();
        builder.Property(k => k.Scopes).HasColumnName("scopes");
        builder.Property(k => k.ExpiresAt).HasColumnName("expires_at");
        builder.Property(k => k.IpAllowlist).HasColumnName("ip_allowlist");
        builder.Property(k => k.RateLimitPerMinute).HasColumnName("rate_limit_per_minute");
        builder.Property(k => k.CreatedBy).HasColumnName("created_by").HasMaxLength(200);
        builder.Property(k => k.CreatedAt).HasColumnName("created_at");
        builder.Property(k => k.RevokedAt).HasColumnName("revoked_at");
        builder.Ignore(k => k.IsRevoked);
        builder.HasIndex(k => k.Hash).IsUnique();
        builder.HasIndex(k => new { k.TenantId, k.Id });
        builder.HasIndex(k => new { k.PartnerId, k.Id });
        builder.HasOne<Tenant>().WithMany().HasForeignKey(k => k.TenantId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Partner>().WithMany().HasForeignKey(k => k.PartnerId).OnDelete(DeleteBehavior.Cascade);
    }
}
