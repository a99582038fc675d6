using System.Text.Json.Serialization;
using Mislata.Infrastructure.Certificates;

namespace Mislata.Api.Features.Certificates;

/// <summary><c>hybrid</c> of <c>POST /cas</c>: also create a classic CA of <c>classicAlgorithm</c> (ECDSA-P256 by default) under the same subject.</summary>
public sealed record HybridRequest(string? ClassicAlgorithm);

/// <summary>
/// <c>POST /cas</c> (API.md): a root CA, or an intermediate under <c>parentId</c>. <c>maxValidityDays</c> bounds the
/// certificates it issues (default 397); <c>allowedDomains</c> restricts their DNS and email names.
/// </summary>
public sealed record CreateCaRequest(
    string? Name,
    string? Algorithm,
    string? Subject,
    int? ValidityDays,
    Guid? ParentId,
    int? PathLength,
    int? MaxValidityDays,
    IReadOnlyList<string?>? AllowedDomains,
    HybridRequest? Hybrid);

/// <summary>A CA: metadata, its certificate and the chain from it up to the root (PEM).</summary>
public sealed record CaResponse(
    Guid Id,
    string Name,
    string Algorithm,
    string Subject,
    string SerialNumber,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    Guid? ParentId,
    int? PathLength,
    Guid KeyId,
    int MaxValidityDays,
    IReadOnlyList<string> AllowedDomains,
    Guid? CompanionId,
    string CertificatePem,
    string ChainPem,
    DateTimeOffset CreatedAt)
{
    public static CaResponse From(CertificateAuthority ca, string chainPem)
    {
        ArgumentNullException.ThrowIfNull(ca);
        return new(ca.Id, ca.Name, ca.Algorithm, ca.Subject, ca.SerialNumber, ca.NotBefore, ca.NotAfter, ca.ParentId, ca.PathLength, ca.KeyId,
            ca.MaxValidityDays, ca.AllowedDomains, ca.CompanionId, CertificateAuthorities.Pem(ca.CertificateDer), chainPem, ca.CreatedAt);
    }
}

/// <summary>
/// <c>POST /certificates</c> (API.md): from <c>csrPem</c>, or from <c>subject</c> and <c>algorithm</c> (Mislata generates the
/// key pair and returns <c>privateKeyPem</c> once). <c>sans</c>: <c>dns:</c>, <c>ip:</c>, <c>email:</c>, <c>uri:</c> entries.
/// <c>pair</c>: on a hybrid CA, also issue from its classic companion (<c>companionAlgorithm</c>, default the companion's).
/// </summary>
public sealed record IssueCertificateRequest(
    Guid? CaId,
    string? CsrPem,
    string? Subject,
    string? Algorithm,
    string? Profile,
    IReadOnlyList<string?>? Sans,
    int? ValidityDays,
    bool? Pair,
    string? CompanionAlgorithm);

/// <summary><c>POST /certificates/{id}/revoke</c>: an RFC 5280 reason name (default <c>unspecified</c>); any other member is refused, not ignored.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record RevokeCertificateRequest(string? Reason);

/// <summary>
/// An issued certificate. <c>chainPem</c>: the certificate then its CA up to the root. <c>privateKeyPem</c>: only in the
/// answer to an issuance where Mislata generated the key (never stored, never shown again).
/// </summary>
public sealed record CertificateResponse(
    Guid Id,
    Guid CaId,
    string SerialNumber,
    string Subject,
    string Profile,
    IReadOnlyList<string> Sans,
    string KeyAlgorithm,
    bool KeyGenerated,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    bool Revoked,
    DateTimeOffset? RevokedAt,
    string? RevocationReason,
    Guid? PairId,
    string CertificatePem,
    string? ChainPem,
    string? PrivateKeyPem,
    CertificateResponse? Companion,
    DateTimeOffset CreatedAt)
{
    public static CertificateResponse From(IssuedCertificate c, string? chainPem = null, string? privateKeyPem = null, CertificateResponse? companion = null)
    {
        ArgumentNullException.ThrowIfNull(c);
        return new(c.Id, c.CaId, c.SerialNumber, c.Subject, c.Profile, c.Sans, c.KeyAlgorithm, c.KeyGenerated, c.NotBefore, c.NotAfter, c.RevokedAt is not null,
            c.RevokedAt, c.RevocationReason, c.PairId, CertificateAuthorities.Pem(c.CertificateDer), chainPem, privateKeyPem, companion, c.CreatedAt);
    }

    public static CertificateResponse From(IssueResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return From(result.Certificate, result.ChainPem, result.PrivateKeyPem, result.Companion is null ? null : From(result.Companion));
    }
}
