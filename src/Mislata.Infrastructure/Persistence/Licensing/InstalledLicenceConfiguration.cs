using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Mislata.Core.Licensing;

namespace Mislata.Infrastructure.Persistence.Licensing;

internal sealed class InstalledLicenceConfiguration : IEntityTypeConfiguration<InstalledLicence>
{
    public void Configure(EntityTypeBuilder<InstalledLicence> builder)
    {
        builder.ToTable("licence", t => t.HasCheckConstraint("ck_licence_single_row", "slot = 1"));
        builder.HasKey(l => l.Slot);
        builder.Property(l => l.Slot).HasColumnName("slot").ValueGeneratedNever();
        builder.Property(l => l.LicenceId).HasColumnName("licence_id");
        builder.Property(l => l.Document).HasColumnName("document").HasMaxLength(LicenceDocument.MaxTextLength).IsRequired();
        builder.Property(l => l.InstalledAt).HasColumnName("installed_at");
        builder.Property(l => l.InstalledBy).HasColumnName("installed_by").HasMaxLength(200).IsRequired();
        builder.Property(l => l.RevokedAt).HasColumnName("revoked_at");
        builder.Property(l => l.RevocationCheckedAt).HasColumnName("revocation_checked_at");
        builder.Property(l => l.RecordedState).HasColumnName("recorded_state").HasMaxLength(16).IsRequired();
    }
}
