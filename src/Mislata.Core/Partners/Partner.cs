namespace Mislata.Core.Partners;

/// <summary>A reseller or managed-service provider that owns several tenants.</summary>
public sealed class Partner
{
    private Partner()
    {
        Name = string.Empty;
    }

    public Partner(Guid id, string name, string? contactEmail, int? maxTenants, DateTimeOffset now)
    {
        Id = id;
        Name = name;
        ContactEmail = contactEmail;
        MaxTenants = maxTenants;
        CreatedAt = now;
        UpdatedAt = now;
    }

    public Guid Id { get; private set; }

    public string Name { get; private set; }

    public string? ContactEmail { get; private set; }

    /// <summary>How many tenants the partner may create itself (its allowance); null = unlimited.</summary>
    public int? MaxTenants { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public DateTimeOffset UpdatedAt { get; private set; }

    public void Update(string name, string? contactEmail, int? maxTenants, DateTimeOffset now)
    {
        Name = name;
        ContactEmail = contactEmail;
        MaxTenants = maxTenants;
        UpdatedAt = now;
    }
}
