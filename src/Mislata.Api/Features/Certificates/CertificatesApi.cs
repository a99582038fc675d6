using Microsoft.AspNetCore.Http.HttpResults;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Api.Features.Licence;
using Mislata.Core.Access;
using Mislata.Core.Certificates;
using Mislata.Core.Keys;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Certificates;
using Mislata.Infrastructure.Certificates;
using Mislata.Infrastructure.Idempotency;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Certificates;

/// <summary>
/// <c>/api/v1/cas</c> and <c>/api/v1/certificates</c>: the tenant's X.509 CAs (API.md "Certificate authorities"). CA keys
/// are Mislata keys that sign only inside the key store. Every query names the caller's tenant: another tenant's CA or
/// certificate is <c>404 not_found</c>. Failures become problems in <see cref="ProblemOf"/>.
/// </summary>
public static class CertificatesApi
{
    /// <summary>The error code of a CSR whose signature does not verify with its own key (proof of possession failed).</summary>
    public const string CsrSignatureInvalid = "csr_signature_invalid";

    public static IEndpointRouteBuilder MapCertificatesApi(this IEndpointRouteBuilder app)
    {
        var cas = app.MapGroup("/api/v1/cas").WithTags("Certificate authorities");
        cas.MapPost("/", CreateCaAsync).RequireScope(Scopes.CertificatesWrite).RequireLicence(LicensedCreation.Key).Idempotent()
            .WithSummary("Create an X.509 CA")
            .WithDescription("A root CA, or an intermediate under `parentId` (`pathLength` below the parent's). `algorithm`: any signing algorithm of Keys (default ML-DSA-65); " +
                "its key is a new Mislata key (`keyId`) that signs only inside the key store. `subject`: RFC 4514. `maxValidityDays` (default 397) and `allowedDomains` bound what it issues. " +
                "`hybrid: {classicAlgorithm}` on an ML-DSA CA also creates a classic ECDSA companion under the same subject (`companionId`).");
        cas.MapGet("/", ListCasAsync).RequireScope(Scopes.CertificatesRead)
            .WithSummary("List CAs").WithDescription("The tenant's CAs with their certificates; cursor paging.");
        cas.MapGet("/{id:guid}", GetCaAsync).RequireScope(Scopes.CertificatesRead)
            .WithSummary("Get a CA").WithDescription("Metadata, `certificatePem`, and `chainPem` from the CA up to its root.");
        cas.MapGet("/{id:guid}/crl", CrlAsync).RequireScope(Scopes.CertificatesRead)
            .WithSummary("The CA's current CRL")
            .WithDescription("A CRLv2 signed by the CA (`format` pem (default) or der): cRLNumber, authorityKeyIdentifier, and every revoked serial with its date and reasonCode. " +
                "Re-signed after each revocation and when half of its 7-day validity has passed.");

        var certificates = app.MapGroup("/api/v1/certificates").WithTags("Certificate authorities");
        certificates.MapPost("/", IssueAsync).RequireScope(Scopes.CertificatesWrite).RequireLicence(LicensedCreation.NewData).Idempotent()
            .WithSummary("Issue a certificate")
            .WithDescription("From `csrPem` (its signature must verify: else `400 csr_signature_invalid`), or from `subject` and `algorithm`: Mislata generates the key pair and returns " +
                "`privateKeyPem` (PKCS#8) once, never stored. `profile` server, client or codeSigning; `sans` as `dns:`, `ip:` (server only), `email:`, `uri:`; " +
                "`validityDays` at most the CA's `maxValidityDays` and within the CA's own validity. `pair: true` on a hybrid CA issues from both CAs in one call.");
        certificates.MapGet("/", ListCertificatesAsync).RequireScope(Scopes.CertificatesRead)
            .WithSummary("List issued certificates").WithDescription("Filter `caId`; cursor paging. Never a private key.");
        certificates.MapGet("/{id:guid}", GetCertificateAsync).RequireScope(Scopes.CertificatesRead)
            .WithSummary("Get an issued certificate").WithDescription("Metadata, revocation state and `certificatePem`.");
        certificates.MapPost("/{id:guid}/revoke", RevokeAsync).RequireScope(Scopes.CertificatesWrite)
            .WithSummary("Revoke a certificate")
            .WithDescription("`reason`: an RFC 5280 CRLReason name (unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, " +
                "privilegeWithdrawn, aACompromise). Listed in the CA's next CRL; `409 conflict` when already revoked.");
        return app;
    }

    private static async Task<Results<Created<CaResponse>, ProblemHttpResult>> CreateCaAsync(
        CreateCaRequest request, HttpContext http, CertificateAuthorities cas, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name, max: CertificateLimits.MaxNameLength);
        var algorithm = SigningAlgorithm(errors, "algorithm", request.Algorithm ?? AlgorithmNames.DefaultSigning);
        DistinguishedName? subject = null;
        if (!DistinguishedNames.TryParse(request.Subject, out subject, out var why))
        {
            errors.Add("subject", why!);
        }

        if (request.ValidityDays is null)
        {
            errors.Add("validityDays", "is required.");
        }

        errors.Range("validityDays", request.ValidityDays, 1, CertificateLimits.MaxCaValidityDays);
        if (CertificateRules.CheckPathLength(request.PathLength, null, false, out _) is { } pathProblem)
        {
            errors.Add("pathLength", pathProblem);
        }

        errors.Range("maxValidityDays", request.MaxValidityDays, 1, CertificateLimits.MaxLeafValidityDays);
        var domains = CertificateRules.NormaliseAllowedDomains(request.AllowedDomains, out var domainProblem);
        if (domains is null)
        {
            errors.Add("allowedDomains", domainProblem!);
        }

        AlgorithmInfo? classic = null;
        if (request.Hybrid is { } hybrid)
        {
            if (algorithm is not null && algorithm.Family != AlgorithmFamily.MlDsa)
            {
                errors.Add("hybrid", "needs an ML-DSA algorithm: the classic companion is the other half.");
            }

            if (hybrid.ClassicAlgorithm is not (null or AlgorithmNames.EcdsaP256 or AlgorithmNames.EcdsaP384))
            {
                errors.Add("hybrid.classicAlgorithm", "must be ECDSA-P256 or ECDSA-P384.");
            }
            else
            {
                classic = AlgorithmRegistry.Default.Get(hybrid.ClassicAlgorithm ?? AlgorithmNames.EcdsaP256).Info;
            }
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        var draft = new CaDraft(name!, algorithm!, subject!, request.ValidityDays!.Value, request.ParentId, request.PathLength,
            request.MaxValidityDays ?? CertificateLimits.DefaultLeafMaxValidityDays, domains!, classic);
        var tenantId = http.GetCaller().TenantId!.Value;
        var outcome = await cas.CreateAsync(tenantId, draft, http.GetActor(), ct);
        if (outcome.Value is not { } ca)
        {
            return ProblemOf(outcome.Error, outcome.Field, outcome.Reason);
        }

        return TypedResults.Created($"/api/v1/cas/{ca.Id}", CaResponse.From(ca, await cas.ChainPemAsync(tenantId, ca, ct)));
    }

    private static async Task<Results<Ok<Page<CaResponse>>, ProblemHttpResult>> ListCasAsync(
        int? limit, string? cursor, HttpContext http, CertificateAuthorities cas, CancellationToken ct)
    {
        if (!Paging.TryRead(limit, cursor, out var take, out var after, out var problem))
        {
            return problem!;
        }

        var tenantId = http.GetCaller().TenantId!.Value;
        var rows = await cas.ListAsync(tenantId, after, take + 1, ct);
        var responses = new List<CaResponse>();
        foreach (var ca in rows.Take(take))
        {
            responses.Add(CaResponse.From(ca, await cas.ChainPemAsync(tenantId, ca, ct)));
        }

        return TypedResults.Ok(new Page<CaResponse>(responses, rows.Count > take ? rows[take - 1].Id.ToString("N") : null));
    }

    private static async Task<Results<Ok<CaResponse>, ProblemHttpResult>> GetCaAsync(Guid id, HttpContext http, CertificateAuthorities cas, CancellationToken ct)
    {
        var tenantId = http.GetCaller().TenantId!.Value;
        return await cas.FindAsync(tenantId, id, ct) is { } ca ? TypedResults.Ok(CaResponse.From(ca, await cas.ChainPemAsync(tenantId, ca, ct))) : Problem.NotFound();
    }

    private static async Task<IResult> CrlAsync(Guid id, string? format, HttpContext http, CertificateAuthorities cas, CancellationToken ct)
    {
        if (format is not (null or "pem" or "der"))
        {
            return Problem.Validation(new Dictionary<string, string[]> { ["format"] = ["must be pem or der."] });
        }

        var outcome = await cas.CrlAsync(http.GetCaller().TenantId!.Value, id, ct);
        if (outcome.Value is not { } der)
        {
            return ProblemOf(outcome.Error, outcome.Field, outcome.Reason);
        }

        return format == "der"
            ? TypedResults.Bytes(der, "application/pkix-crl")
            : TypedResults.Text(System.Security.Cryptography.PemEncoding.WriteString("X509 CRL", der) + "\n", "application/x-pem-file");
    }

    private static async Task<Results<Created<CertificateResponse>, ProblemHttpResult>> IssueAsync(
        IssueCertificateRequest request, HttpContext http, CertificateAuthorities cas, CancellationToken ct)
    {
        var errors = new FieldErrors();
        if (request.CaId is null)
        {
            errors.Add("caId", "is required.");
        }

        if (!CertificateRules.TryParseProfile(request.Profile, out var profile))
        {
            errors.Add("profile", "must be server, client or codeSigning.");
        }

        if (request.ValidityDays is null)
        {
            errors.Add("validityDays", "is required.");
        }

        errors.Range("validityDays", request.ValidityDays, 1, CertificateLimits.MaxLeafValidityDays);
        DistinguishedName? subject = null;
        if (request.Subject is not null || request.CsrPem is null)
        {
            if (!DistinguishedNames.TryParse(request.Subject, out subject, out var why))
            {
                errors.Add("subject", why!);
            }
        }

        var pair = request.Pair ?? false;
        CertificationRequest? csr = null;
        AlgorithmInfo? keyAlgorithm = null;
        if (request.CsrPem is not null)
        {
            if (request.Algorithm is not null)
            {
                errors.Add("algorithm", "goes with a key Mislata generates: not with csrPem.");
            }

            if (pair)
            {
                errors.Add("pair", "issues two generated key pairs: send subject and algorithm instead of csrPem.");
            }

            if (!errors.Any)
            {
                var (read, error) = CertificationRequests.Read(request.CsrPem);
                switch (error)
                {
                    case CsrError.BadSignature:
                        return Problem.Of(400, CsrSignatureInvalid, "CSR signature invalid",
                            "The CSR's signature does not verify with the public key it holds: it was altered, or not signed by the key's owner.");
                    case CsrError.Malformed:
                        errors.Add("csrPem", "is not a PEM PKCS#10 certificate request (-----BEGIN CERTIFICATE REQUEST-----).");
                        break;
                    case CsrError.Unsupported:
                        errors.Add("csrPem", "holds a key or signature algorithm this CA does not certify (ECDSA P-256/P-384, RSA 2048–8192, Ed25519, ML-DSA, SLH-DSA).");
                        break;
                    default:
                        csr = read;
                        break;
                }
            }
        }
        else if (request.Algorithm is not null)
        {
            keyAlgorithm = SigningAlgorithm(errors, "algorithm", request.Algorithm);
        }

        var companionAlgorithm = request.CompanionAlgorithm is null ? null : SigningAlgorithm(errors, "companionAlgorithm", request.CompanionAlgorithm);
        if (errors.Any)
        {
            return errors.Problem();
        }

        var draft = new IssueDraft(request.CaId!.Value, profile, request.Sans, request.ValidityDays, subject, csr, keyAlgorithm, pair, companionAlgorithm);
        var outcome = await cas.IssueAsync(http.GetCaller().TenantId!.Value, draft, http.GetActor(), ct);
        return outcome.Value is { } issued
            ? TypedResults.Created($"/api/v1/certificates/{issued.Certificate.Id}", CertificateResponse.From(issued))
            : ProblemOf(outcome.Error, outcome.Field, outcome.Reason);
    }

    private static async Task<Results<Ok<Page<CertificateResponse>>, ProblemHttpResult>> ListCertificatesAsync(
        int? limit, string? cursor, Guid? caId, HttpContext http, CertificateAuthorities cas, CancellationToken ct)
    {
        if (!Paging.TryRead(limit, cursor, out var take, out var after, out var problem))
        {
            return problem!;
        }

        var rows = await cas.ListCertificatesAsync(http.GetCaller().TenantId!.Value, caId, after, take + 1, ct);
        return TypedResults.Ok(Paging.Page(rows, take, c => c.Id, c => CertificateResponse.From(c)));
    }

    private static async Task<Results<Ok<CertificateResponse>, ProblemHttpResult>> GetCertificateAsync(
        Guid id, HttpContext http, CertificateAuthorities cas, CancellationToken ct) =>
        await cas.FindCertificateAsync(http.GetCaller().TenantId!.Value, id, ct) is { } c ? TypedResults.Ok(CertificateResponse.From(c)) : Problem.NotFound();

    private static async Task<Results<Ok<CertificateResponse>, ProblemHttpResult>> RevokeAsync(
        Guid id, RevokeCertificateRequest request, HttpContext http, CertificateAuthorities cas, CancellationToken ct)
    {
        var reason = request.Reason ?? "unspecified";
        if (!CertificateRules.RevocationReasons.ContainsKey(reason))
        {
            return Problem.Validation(new Dictionary<string, string[]>
            {
                ["reason"] = ["must be an RFC 5280 reason: " + string.Join(", ", CertificateRules.RevocationReasons.Keys) + "."],
            });
        }

        var outcome = await cas.RevokeAsync(http.GetCaller().TenantId!.Value, id, reason, http.GetActor(), ct);
        return outcome.Value is { } c ? TypedResults.Ok(CertificateResponse.From(c)) : ProblemOf(outcome.Error, outcome.Field, outcome.Reason);
    }

    private static AlgorithmInfo? SigningAlgorithm(FieldErrors errors, string field, string algorithm)
    {
        if (!KeyCatalogue.Algorithms.Contains(algorithm, StringComparer.Ordinal) || !X509Algorithms.CanSign(algorithm) ||
            !AlgorithmRegistry.Default.TryGet(algorithm, out var info) || !info.Supports(KeyType.Signing))
        {
            errors.Add(field, "must be a signing algorithm of Keys: ML-DSA-44/65/87, SLH-DSA-SHA2-128s/128f, ECDSA-P256, ECDSA-P384, Ed25519, RSA-2048/3072/4096.");
            return null;
        }

        return info;
    }

    /// <summary>The one place where a CA failure becomes a problem (API.md codes).</summary>
    internal static ProblemHttpResult ProblemOf(CertificateError error, string? field, string? reason) => error switch
    {
        CertificateError.NotFound => Problem.NotFound(),
        CertificateError.Validation => Problem.Validation(new Dictionary<string, string[]> { [field!] = [reason!] }),
        CertificateError.NameTaken => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "The tenant already has a CA of this name."),
        CertificateError.QuotaExceeded => Problem.Of(429, ErrorCodes.QuotaExceeded, "Quota exceeded",
            $"A tenant holds at most {CertificateLimits.MaxCasPerTenant} CAs and {CertificateLimits.MaxCertificatesPerTenant} certificates."),
        CertificateError.KeyQuotaExceeded => Problem.Of(429, ErrorCodes.QuotaExceeded, "Quota exceeded", "The plan allows no more keys (a CA's key is a key)."),
        CertificateError.KeyStateInvalid => Problem.Of(409, ErrorCodes.KeyStateInvalid, "Key state invalid", "The CA's key is disabled, pending deletion or destroyed: it cannot sign."),
        CertificateError.AlreadyRevoked => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "The certificate is already revoked."),
        CertificateError.EntropyUnavailable => Problem.Of(503, ErrorCodes.Unavailable, "Unavailable", "The entropy source is unavailable; retry later."),
        CertificateError.NoCompanion => Problem.Validation(new Dictionary<string, string[]> { ["pair"] = ["the CA has no classic companion: create it with hybrid."] }),
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, "not a failure"),
    };
}
