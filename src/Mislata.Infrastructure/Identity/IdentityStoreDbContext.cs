using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace Mislata.Infrastructure.Identity;

/// <summary>The <c>identity</c> schema: ASP.NET Core Identity users and roles plus the OpenIddict tables.</summary>
public sealed class IdentityStoreDbContext(DbContextOptions<IdentityStoreDbContext> options)
    : IdentityDbContext<MislataUser, MislataRole, Guid>(options)
{
    public const string Schema = "identity";

    protected override void OnModelCreating(ModelBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        base.OnModelCreating(builder);
        builder.HasDefaultSchema(Schema);
        builder.UseOpenIddict<Guid>();
        builder.Entity<MislataUser>(u => u.HasIndex(x => x.TenantId));
    }
}

/// <summary>A person who signs in. Email is the user name; <see cref="TenantId"/> is absent for platform operators.</summary>
public sealed class MislataUser : IdentityUser<Guid>
{
    public Guid? TenantId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class MislataRole : IdentityRole<Guid>
{
    public MislataRole()
    {
    }

    public MislataRole(string name)
        : base(name)
    {
    }
}
