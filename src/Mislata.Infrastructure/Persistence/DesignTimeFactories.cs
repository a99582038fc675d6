using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Mislata.Infrastructure.Identity;

namespace Mislata.Infrastructure.Persistence;

// Used only by `dotnet ef migrations add`; no database is contacted to generate a migration.
internal sealed class MislataDbContextFactory : IDesignTimeDbContextFactory<MislataDbContext>
{
    public MislataDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<MislataDbContext>()
            .UseNpgsql("Host=localhost;Database=mislata_design", o => o.MigrationsHistoryTable("__EFMigrationsHistory", MislataDbContext.Schema))
            .Options);
}

internal sealed class IdentityStoreDbContextFactory : IDesignTimeDbContextFactory<IdentityStoreDbContext>
{
    public IdentityStoreDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<IdentityStoreDbContext>()
            .UseNpgsql("Host=localhost;Database=mislata_design", o => o.MigrationsHistoryTable("__EFMigrationsHistory", IdentityStoreDbContext.Schema));
        options.UseOpenIddict<Guid>();
        return new IdentityStoreDbContext(options.Options);
    }
}
