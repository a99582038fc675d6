using Mislata.Core.Certificates;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Certificates;

namespace Mislata.Infrastructure.Certificates;

/// <summary>A certificate authority as stored (<c>mislata.certificate_authorities</c>).</summary>
public sealed record CertificateAuthority(
    Guid Id,
    Guid TenantId,
    string Name,
    string Algorithm,
    Guid KeyId,
    int KeyVersion,
    Guid? ParentId,
    int? PathLength,
    string Subject,
    byte[] SubjectName,
    byte[] KeyIdentifier,
    byte[] CertificateDer,
    string SerialNumber,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    int MaxValidityDays,
    IReadOnlyList<string> AllowedDomains,
    Guid? CompanionId,
    DateTimeOffset CreatedAt);

/// <summary>An issued certificate as stored (<c>mislata.certificates</c>); never its private key.</summary>
public sealed record IssuedCertificate(
    Guid Id,
    Guid TenantId,
    Guid CaId,
    string SerialNumber,
    string Subject,
    string Profile,
    IReadOnlyList<string> Sans,
    string KeyAlgorithm,
    bool KeyGenerated,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    byte[] CertificateDer,
    DateTimeOffset? RevokedAt,
    string? RevocationReason,
    Guid? PairId,
    DateTimeOffset CreatedAt);

/// <summary>A new CA, validated by the api. <see cref="ClassicAlgorithm"/>: also create its classic companion (hybrid).</summary>
public sealed record CaDraft(
    string Name,
    AlgorithmInfo Algorithm,
    DistinguishedName Subject,
    int ValidityDays,
    Guid? ParentId,
    int? PathLength,
    int MaxValidityDays,
    IReadOnlyList<string> AllowedDomains,
    AlgorithmInfo? ClassicAlgorithm);

/// <summary>
/// A certificate to issue, validated by the api: either <see cref="Csr"/> (verified) or <see cref="KeyAlgorithm"/> (Mislata
/// generates the pair). <see cref="Subject"/> null: the CSR's. <see cref="Pair"/>: also issue from the CA's companion.
/// </summary>
public sealed record IssueDraft(
    Guid CaId,
    CertificateProfile Profile,
    IReadOnlyList<string?>? Sans,
    int? ValidityDays,
    DistinguishedName? Subject,
    CertificationRequest? Csr,
    AlgorithmInfo? KeyAlgorithm,
    bool Pair,
    AlgorithmInfo? CompanionKeyAlgorithm);

/// <summary>An issued certificate with its chain (PEM, the issuing CA up to the root) and the generated private key, once.</summary>
public sealed record IssueResult(IssuedCertificate Certificate, string ChainPem, string? PrivateKeyPem, IssueResult? Companion);

/// <summary>Why a CA or certificate call failed; <see cref="CertificateOutcome{T}.Field"/> and reason for validation failures.</summary>
public enum CertificateError
{
    None = 0,
    NotFound,
    Validation,
    NameTaken,
    QuotaExceeded,
    KeyQuotaExceeded,
    KeyStateInvalid,
    AlreadyRevoked,
    EntropyUnavailable,
    NoCompanion,
}

public sealed record CertificateOutcome<T>(T? Value, CertificateError Error, string? Field = null, string? Reason = null)
    where T : class
{
    public static CertificateOutcome<T> Ok(T value) => new(value, CertificateError.None);

    public static CertificateOutcome<T> Fail(CertificateError error) => new(null, error);

    public static CertificateOutcome<T> Invalid(string field, string reason) => new(null, CertificateError.Validation, field, reason);

    public CertificateOutcome<TOther> As<TOther>()
        where TOther : class => new(null, Error, Field, Reason);
}
