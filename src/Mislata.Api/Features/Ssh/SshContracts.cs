using Mislata.Core.Ssh;
using Mislata.Infrastructure.Ssh;

namespace Mislata.Api.Features.Ssh;

/// <summary>
/// <c>POST /ssh/ca</c>: <c>name</c> (letters, digits, <c>. _ -</c>, ≤ 64), <c>algorithm</c> Ed25519 (default), ECDSA-P256 or
/// ECDSA-P384; optional policy: the longest validity of user and host certificates and the principals it may certify.
/// </summary>
public sealed record CreateSshCaRequest(
    string? Name, string? Algorithm, long? MaxUserValiditySeconds, long? MaxHostValiditySeconds, IReadOnlyList<string?>? AllowedPrincipals);

/// <summary>
/// An SSH CA: <c>publicKey</c> is the authorized_keys form of its key's current version; <c>authorizedKeysLine</c> and
/// <c>knownHostsLine</c> are that key ready for <c>authorized_keys</c> (<c>cert-authority …</c>) and <c>known_hosts</c>
/// (<c>@cert-authority * …</c>: narrow the <c>*</c> to your hosts' names).
/// </summary>
public sealed record SshCaResponse(
    Guid Id, string Name, string Algorithm, Guid KeyId, int? KeyVersion, string KeyState, string? PublicKey, string? Fingerprint,
    string? AuthorizedKeysLine, string? KnownHostsLine, long MaxUserValiditySeconds, long MaxHostValiditySeconds,
    IReadOnlyList<string> AllowedPrincipals, DateTimeOffset CreatedAt)
{
    public static SshCaResponse From(SshCaView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        var ca = view.Ca;
        var line = view.PublicKey?.ToLine(SshCertificateAuthorities.CommentOf(ca.Name));
        return new(ca.Id, ca.Name, ca.Algorithm, ca.KeyId, view.KeyVersion, Mislata.Api.Features.Keys.KeyResponse.StateName(view.KeyState), line,
            view.PublicKey?.Fingerprint, line is null ? null : "cert-authority " + line, line is null ? null : "@cert-authority * " + line,
            ca.MaxUserValiditySeconds, ca.MaxHostValiditySeconds, ca.AllowedPrincipals, ca.CreatedAt);
    }
}

/// <summary>
/// <c>POST /ssh/certificates</c>: the public key to certify (OpenSSH line), <c>type</c> user or host, the certificate's
/// <c>keyId</c> (logged by sshd), <c>principals</c>, <c>validitySeconds</c>, <c>criticalOptions</c> (name → value:
/// <c>force-command</c>, <c>source-address</c>, <c>verify-required</c> with an empty value) and <c>extensions</c> (names;
/// absent: the ssh-keygen default set for user certificates, none for host certificates).
/// </summary>
public sealed record IssueSshCertificateRequest(
    Guid? CaId, string? PublicKey, string? Type, string? KeyId, IReadOnlyList<string?>? Principals, long? ValiditySeconds,
    IReadOnlyDictionary<string, string?>? CriticalOptions, IReadOnlyList<string?>? Extensions);

/// <summary>The record of an issued certificate (never any private material); <c>certificate</c> only in the answer to the issuance.</summary>
public sealed record SshCertificateResponse(
    Guid Id, Guid CaId, ulong Serial, string Type, string KeyId, IReadOnlyList<string> Principals, DateTimeOffset ValidAfter, DateTimeOffset ValidBefore,
    IReadOnlyList<string> CriticalOptions, IReadOnlyList<string> Extensions, string SubjectKeyType, string SubjectFingerprint, string CaFingerprint,
    int KeyVersion, string IssuedBy, DateTimeOffset IssuedAt, string? Certificate)
{
    public static SshCertificateResponse From(SshIssuedCertificate c, string? certificate = null)
    {
        ArgumentNullException.ThrowIfNull(c);
        return new(c.Id, c.CaId, (ulong)c.Serial, c.Type == SshCertificateType.User ? "user" : "host", c.KeyIdentifier, c.Principals, c.ValidAfter, c.ValidBefore,
            c.CriticalOptions, c.Extensions, c.SubjectKeyType, c.SubjectFingerprint, c.CaFingerprint, c.KeyVersion, c.IssuedBy, c.IssuedAt, certificate);
    }
}
