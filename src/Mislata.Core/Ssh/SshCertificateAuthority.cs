namespace Mislata.Core.Ssh;

/// <summary>
/// A tenant's SSH certificate authority: a name, its issuing policy and the Mislata signing key (Ed25519 or ECDSA
/// P-256/P-384) that signs its certificates — the key is an ordinary row of <c>keys</c>, its private part never leaves
/// the key store. The CA's public key is the current version of that key.
/// </summary>
public sealed class SshCertificateAuthority
{
    private SshCertificateAuthority()
    {
        Name = null!;
        Algorithm = null!;
        AllowedPrincipals = null!;
        CreatedBy = null!;
    }

    public Guid Id { get; private set; }

    public Guid TenantId { get; private set; }

    public string Name { get; private set; }

    /// <summary>Ed25519, ECDSA-P256 or ECDSA-P384 (the key's algorithm).</summary>
    public string Algorithm { get; private set; }

    public Guid KeyId { get; private set; }

    public long MaxUserValiditySeconds { get; private set; }

    public long MaxHostValiditySeconds { get; private set; }

    /// <summary>Glob patterns every certified principal must match; empty: any principal.</summary>
    public List<string> AllowedPrincipals { get; private set; }

    public string CreatedBy { get; private set; }

    public DateTimeOffset CreatedAt { get; private set; }

    public SshCaPolicy Policy => new(MaxUserValiditySeconds, MaxHostValiditySeconds, AllowedPrincipals);

    public static SshCertificateAuthority Create(
        Guid id, Guid tenantId, string name, string algorithm, Guid keyId, SshCaPolicy policy, string createdBy, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return new SshCertificateAuthority
        {
            Id = id,
            TenantId = tenantId,
            Name = name,
            Algorithm = algorithm,
            KeyId = keyId,
            MaxUserValiditySeconds = policy.MaxUserValiditySeconds,
            MaxHostValiditySeconds = policy.MaxHostValiditySeconds,
            AllowedPrincipals = [.. policy.AllowedPrincipals],
            CreatedBy = createdBy,
            CreatedAt = now,
        };
    }
}

/// <summary>
/// The record of one issued certificate: what it certifies and the fingerprint of the certified public key, never any
/// private material. The serial is unique per CA.
/// </summary>
public sealed class SshIssuedCertificate
{
    private SshIssuedCertificate()
    {
        KeyIdentifier = null!;
        Principals = null!;
        SubjectKeyType = null!;
        SubjectFingerprint = null!;
        CriticalOptions = null!;
        Extensions = null!;
        CaFingerprint = null!;
        IssuedBy = null!;
    }

    public Guid Id { get; private set; }

    public Guid TenantId { get; private set; }

    public Guid CaId { get; private set; }

    /// <summary>The certificate's uint64 serial (below 2^53, so JSON readers keep it exact).</summary>
    public long Serial { get; private set; }

    public SshCertificateType Type { get; private set; }

    /// <summary>The certificate's key id (the text sshd logs), not a Mislata key.</summary>
    public string KeyIdentifier { get; private set; }

    public List<string> Principals { get; private set; }

    public DateTimeOffset ValidAfter { get; private set; }

    public DateTimeOffset ValidBefore { get; private set; }

    public string SubjectKeyType { get; private set; }

    public string SubjectFingerprint { get; private set; }

    /// <summary>The names of the critical options (their values may be commands: not kept).</summary>
    public List<string> CriticalOptions { get; private set; }

    public List<string> Extensions { get; private set; }

    /// <summary>The fingerprint of the CA key that signed it (the CA key changes when its Mislata key is rotated).</summary>
    public string CaFingerprint { get; private set; }

    public int KeyVersion { get; private set; }

    public string IssuedBy { get; private set; }

    public DateTimeOffset IssuedAt { get; private set; }

    public static SshIssuedCertificate Record(
        Guid id, SshCertificateAuthority ca, SshCertificateFields fields, string caFingerprint, int keyVersion, string issuedBy, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(fields);
        return new SshIssuedCertificate
        {
            Id = id,
            TenantId = ca.TenantId,
            CaId = ca.Id,
            Serial = checked((long)fields.Serial),
            Type = fields.Type,
            KeyIdentifier = fields.KeyId,
            Principals = [.. fields.Principals],
            ValidAfter = fields.ValidAfter,
            ValidBefore = fields.ValidBefore,
            SubjectKeyType = fields.SubjectKey.Type,
            SubjectFingerprint = fields.SubjectKey.Fingerprint,
            CriticalOptions = [.. fields.CriticalOptions.Select(o => o.Key)],
            Extensions = [.. fields.Extensions],
            CaFingerprint = caFingerprint,
            KeyVersion = keyVersion,
            IssuedBy = issuedBy,
            IssuedAt = now,
        };
    }
}
