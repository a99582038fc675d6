using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Mislata.Infrastructure.Access;

namespace Mislata.Infrastructure.Identity;

/// <summary>The <c>identity</c> schema: ASP.NET Core Identity users and roles, the OpenIddict tables, signing keys, application owners and access revocations.</summary>
public sealed class IdentityStoreDbContext(DbContextOptions<IdentityStoreDbContext> options)
    : IdentityDbContext<MislataUser, MislataRole, Guid>(options)
{
    public const string Schema = "identity";

    public DbSet<SigningKeyRecord> SigningKeys => Set<SigningKeyRecord>();

    public DbSet<ApplicationOwner> ApplicationOwners => Set<ApplicationOwner>();

    public DbSet<AccessRevocation> AccessRevocations => Set<AccessRevocation>();

    protected override void OnModelCreating(ModelBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        base.OnModelCreating(builder);
        builder.HasDefaultSchema(Schema);
        builder.UseOpenIddict<Guid>();

        // Passkeys (WebAuthn credentials, issue 17), mapped as Identity's schema version 3 maps them; the other tables
        // stay as version 1 created them (version 3 would also narrow existing columns, which migrations here never do).
        builder.Entity<IdentityUserPasskey<Guid>>(p =>
        {
            p.ToTable("AspNetUserPasskeys");
            p.HasKey(x => x.CredentialId);
            p.Property(x => x.CredentialId).HasMaxLength(1024);
            p.HasOne<MislataUser>().WithMany().HasForeignKey(x => x.UserId).IsRequired().OnDelete(DeleteBehavior.Cascade);
            p.OwnsOne(x => x.Data).ToJson();
        });
        builder.Entity<MislataUser>(u =>
        {
            u.HasIndex(x => x.TenantId);
            u.HasIndex(x => x.PartnerId);
            u.Property(x => x.SecondFactorFailedCount).HasDefaultValue(0);
        });
        builder.Entity<SigningKeyRecord>(k =>
        {
            k.ToTable("signing_keys");
            k.HasKey(x => x.Id);
            k.HasIndex(x => x.KeyId).IsUnique();
            k.Property(x => x.KeyId).HasMaxLength(64);
            k.Property(x => x.Algorithm).HasMaxLength(16);
            k.Property(x => x.MasterKeyId).HasMaxLength(64);
        });
        builder.Entity<ApplicationOwner>(a =>
        {
            a.ToTable("application_owners");
            a.HasKey(x => x.ApplicationId);
            a.HasIndex(x => x.TenantId);
        });
        builder.Entity<AccessRevocation>(r =>
        {
            r.ToTable("access_revocations");
            r.HasKey(x => new { x.Kind, x.Value });
            r.Property(x => x.Kind).HasColumnName("kind").HasMaxLength(8);
            r.Property(x => x.Value).HasColumnName("value").HasMaxLength(200);
            r.Property(x => x.NotBefore).HasColumnName("not_before");
            r.Property(x => x.ExpiresAt).HasColumnName("expires_at");
            r.HasIndex(x => x.ExpiresAt);
        });
    }
}

/// <summary>A person who signs in. Email is the user name; <see cref="TenantId"/> is absent for platform operators.</summary>
public sealed class MislataUser : IdentityUser<Guid>
{
    public Guid? TenantId { get; set; }

    /// <summary>The partner a <c>partner-admin</c> acts for (absent for everyone else).</summary>
    public Guid? PartnerId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Set while an administrator has blocked the user: no sign-in, no token, no refresh.</summary>
    public DateTimeOffset? BlockedAt { get; set; }

    /// <summary>
    /// Failed second factors (TOTP, recovery code, passkey at the second step) since the last success or lockout. Kept
    /// apart from <see cref="IdentityUser{TKey}.AccessFailedCount"/>, which counts wrong passwords only.
    /// </summary>
    public int SecondFactorFailedCount { get; set; }

    /// <summary>Until then the second step refuses every factor (the password counter has its own <c>LockoutEnd</c>).</summary>
    public DateTimeOffset? SecondFactorLockoutEnd { get; set; }
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

/// <summary>
/// One token-signing key of the identity server. The private key is stored only encrypted (AES-256-GCM under a key
/// derived from the master key named by <see cref="MasterKeyId"/>); the row is bound to its key id by associated data.
/// </summary>
public sealed class SigningKeyRecord
{
    public Guid Id { get; set; }

    /// <summary>The JWK <c>kid</c>.</summary>
    public required string KeyId { get; set; }

    /// <summary>JWS algorithm, e.g. ES256.</summary>
    public required string Algorithm { get; set; }

    public required string MasterKeyId { get; set; }

    /// <summary>nonce ‖ ciphertext ‖ tag of the PKCS#8 private key.</summary>
    public required byte[] EncryptedPrivateKey { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>From then on, new tokens are signed with it (it is published before, so verifiers know it in advance).</summary>
    public DateTimeOffset ActivatesAt { get; set; }

    /// <summary>Set once a successor is active: after this the key is no longer published (every token it signed has expired).</summary>
    public DateTimeOffset? ExpiresAt { get; set; }
}

/// <summary>Which tenant an OIDC application belongs to (null: a platform application such as the operator client).</summary>
public sealed class ApplicationOwner
{
    public Guid ApplicationId { get; set; }

    public Guid? TenantId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}
