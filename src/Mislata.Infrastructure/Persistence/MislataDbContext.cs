using Microsoft.EntityFrameworkCore;

namespace Mislata.Infrastructure.Persistence;

/// <summary>The application schema <c>mislata</c>: tenants, keys, secrets, API keys, audit, usage.</summary>
public sealed class MislataDbContext(DbContextOptions<MislataDbContext> options) : DbContext(options)
{
    public const string Schema = "mislata";

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        modelBuilder.HasDefaultSchema(Schema);
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(MislataDbContext).Assembly, t => t.Namespace?.StartsWith("Mislata.Infrastructure.Persistence", StringComparison.Ordinal) == true);
    }
}
