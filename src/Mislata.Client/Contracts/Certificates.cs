namespace Mislata.Client.Contracts;

/// <summary><c>hybrid</c> of <c>POST /cas</c>: also create a classic ECDSA companion under the same subject.</summary>
public sealed record HybridCaRequest(string? ClassicAlgorithm = null);

/// <summary><c>POST /cas</c>: a root CA, or an intermediate under <c>parentId</c>; <c>subject</c> in RFC 4514.</summary>
public sealed record CreateCaRequest(
    string Name, string Subject, int ValidityDays, string? Algorithm = null, Guid? ParentId = null, int? PathLength = null, int? MaxValidityDays = null,
    IReadOnlyList<string>? AllowedDomains = null, HybridCaRequest? Hybrid = null);

/// <summary>An X.509 CA: its certificate and the chain from it up to the root (PEM). Its key is the Mislata key <c>keyId</c>.</summary>
public sealed record CertificateAuthority(
    Guid Id, string Name, string Algorithm, string Subject, string SerialNumber, DateTimeOffset NotBefore, DateTimeOffset NotAfter, Guid? ParentId,
    int? PathLength, Guid KeyId, int MaxValidityDays, IReadOnlyList<string> AllowedDomains, Guid? CompanionId, string CertificatePem, string ChainPem,
    DateTimeOffset CreatedAt);

/// <summary>
/// <c>POST /certificates</c>: from <c>csrPem</c>, or from <c>subject</c> and <c>algorithm</c> (Mislata generates the key
/// pair); <c>profile</c> server, client or codeSigning; <c>sans</c> as <c>dns:</c>, <c>ip:</c>, <c>email:</c>, <c>uri:</c>.
/// </summary>
public sealed record IssueCertificateRequest(
    Guid CaId, string Profile, int ValidityDays, string? CsrPem = null, string? Subject = null, string? Algorithm = null, IReadOnlyList<string>? Sans = null,
    bool? Pair = null, string? CompanionAlgorithm = null);

/// <summary>An issued certificate; <c>privateKeyPem</c> only in the answer to an issuance with a generated key.</summary>
public sealed record IssuedCertificate(
    Guid Id, Guid CaId, string SerialNumber, string Subject, string Profile, IReadOnlyList<string> Sans, string KeyAlgorithm, bool KeyGenerated,
    DateTimeOffset NotBefore, DateTimeOffset NotAfter, bool Revoked, DateTimeOffset? RevokedAt, string? RevocationReason, Guid? PairId,
    string CertificatePem, string? ChainPem, string? PrivateKeyPem, IssuedCertificate? Companion, DateTimeOffset CreatedAt);

/// <summary><c>POST /certificates/{id}/revoke</c>: an RFC 5280 reason name.</summary>
public sealed record RevokeCertificateRequest(string? Reason = null);
