namespace Mislata.Client.Contracts;

/// <summary><c>POST /ssh/ca</c>: <c>algorithm</c> Ed25519 (default), ECDSA-P256 or ECDSA-P384; optional policy.</summary>
public sealed record CreateSshCaRequest(
    string Name, string? Algorithm = null, long? MaxUserValiditySeconds = null, long? MaxHostValiditySeconds = null, IReadOnlyList<string>? AllowedPrincipals = null);

/// <summary>
/// An SSH CA: <c>publicKey</c> (authorized_keys line of its key's current version), <c>authorizedKeysLine</c>
/// (<c>cert-authority …</c>) and <c>knownHostsLine</c> (<c>@cert-authority * …</c>), its Mislata key and policy.
/// </summary>
public sealed record SshCa(
    Guid Id, string Name, string Algorithm, Guid KeyId, int? KeyVersion, string KeyState, string? PublicKey, string? Fingerprint,
    string? AuthorizedKeysLine, string? KnownHostsLine, long MaxUserValiditySeconds, long MaxHostValiditySeconds,
    IReadOnlyList<string> AllowedPrincipals, DateTimeOffset CreatedAt);

/// <summary>
/// <c>POST /ssh/certificates</c>: the OpenSSH public key line to certify, <c>type</c> user or host, the certificate's
/// <c>keyId</c>, principals and validity; critical options (name → value) and extensions (names) for user certificates.
/// </summary>
public sealed record IssueSshCertificateRequest(
    Guid CaId, string PublicKey, string Type, string KeyId, IReadOnlyList<string> Principals, long ValiditySeconds,
    IReadOnlyDictionary<string, string>? CriticalOptions = null, IReadOnlyList<string>? Extensions = null);

/// <summary>An issued certificate's record; <c>certificate</c> (the <c>-cert.pub</c> line) only in the answer to the issuance.</summary>
public sealed record SshCertificate(
    Guid Id, Guid CaId, ulong Serial, string Type, string KeyId, IReadOnlyList<string> Principals, DateTimeOffset ValidAfter, DateTimeOffset ValidBefore,
    IReadOnlyList<string> CriticalOptions, IReadOnlyList<string> Extensions, string SubjectKeyType, string SubjectFingerprint, string CaFingerprint,
    int KeyVersion, string IssuedBy, DateTimeOffset IssuedAt, string? Certificate);
