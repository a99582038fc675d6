using Microsoft.AspNetCore.Http.HttpResults;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Api.Features.Keys;
using Mislata.Api.Features.Licence;
using Mislata.Api.Features.Operations;
using Mislata.Core.Access;
using Mislata.Core.Keys;
using Mislata.Core.Ssh;
using Mislata.Crypto.Algorithms;
using Mislata.Infrastructure.Idempotency;
using Mislata.Infrastructure.Ssh;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Ssh;

/// <summary>
/// <c>/api/v1/ssh</c>: the tenant's SSH certificate authorities and the certificates they issue (API.md "Certificate
/// authorities"). A CA's key is a Mislata signing key (Ed25519, ECDSA-P256, ECDSA-P384) that never leaves; another
/// tenant's CA or certificate is <c>404 not_found</c>. Scopes <c>ssh:read</c> for reads and <c>ssh:write</c> for writes.
/// </summary>
public static class SshApi
{
    private static readonly string[] Algorithms = [AlgorithmNames.Ed25519, AlgorithmNames.EcdsaP256, AlgorithmNames.EcdsaP384];

    public static IEndpointRouteBuilder MapSshApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/ssh").WithTags("SSH certificate authorities");
        group.MapPost("/ca", CreateCaAsync).RequireScope(Scopes.SshWrite).RequireLicence(LicensedCreation.Key).Idempotent()
            .WithSummary("Create an SSH CA")
            .WithDescription("`{name, algorithm (Ed25519 | ECDSA-P256 | ECDSA-P384), maxUserValiditySeconds?, maxHostValiditySeconds?, allowedPrincipals?}` → 201 " +
                "with the CA's `publicKey` (authorized_keys line, comment `mislata-ssh-ca:<name>`), `authorizedKeysLine`, `knownHostsLine` and `keyId`. " +
                "The CA's key is a Mislata signing key named `ssh-ca-<name>` (it counts against the plan's `maxKeys`); its private part never leaves. " +
                "Defaults: user certificates at most 86400 s, host certificates at most 2592000 s, any principal.");
        group.MapGet("/ca", ListCasAsync).RequireScope(Scopes.SshRead)
            .WithSummary("List SSH CAs").WithDescription("The tenant's SSH CAs with their public keys; cursor paging.");
        group.MapGet("/ca/{id:guid}", GetCaAsync).RequireScope(Scopes.SshRead)
            .WithSummary("Get an SSH CA").WithDescription("The CA's public key (the current version of its key), `authorizedKeysLine`, `knownHostsLine` and policy.");
        group.MapPost("/certificates", IssueAsync).RequireScope(Scopes.SshWrite).RequireLicence(LicensedCreation.NewData).Idempotent()
            .WithSummary("Issue an SSH certificate")
            .WithDescription("`{caId, publicKey (OpenSSH: ssh-ed25519, ecdsa-sha2-nistp256/384, ssh-rsa ≥ 2048 bits), type (user | host), keyId, principals[], " +
                "validitySeconds, criticalOptions?, extensions?}` → 201 `{certificate (OpenSSH -cert.pub line), serial, …}`. Valid from 5 minutes before " +
                "issuance (clock skew) for `validitySeconds`, at most the CA's maximum for the type. Critical options (user certificates): `force-command`, " +
                "`source-address` (CIDR list), `verify-required`. Extensions default to the ssh-keygen set for user certificates; host certificates have none. " +
                "Counts as one operation of the plan's monthly quota; refused with `403 license_restricted` when the licence is restricted.");
        group.MapGet("/certificates", ListCertificatesAsync).RequireScope(Scopes.SshRead)
            .WithSummary("List issued SSH certificates").WithDescription("Records of issued certificates (serial, key id, principals, validity, fingerprints), optionally of one `caId`; cursor paging.");
        group.MapGet("/certificates/{id:guid}", GetCertificateAsync).RequireScope(Scopes.SshRead)
            .WithSummary("Get an issued SSH certificate's record").WithDescription("Serial, key id, principals, validity, option and extension names, subject and CA fingerprints.");
        return app;
    }

    private static async Task<Results<Created<SshCaResponse>, ProblemHttpResult>> CreateCaAsync(
        CreateSshCaRequest request, HttpContext http, SshCertificateAuthorities cas, CancellationToken ct)
    {
        var errors = new FieldErrors();
        if (!SshCertificateRules.IsValidCaName(request.Name))
        {
            errors.Add("name", $"is required: 1 to {SshCertificateRules.MaxCaNameLength} letters, digits, '.', '_' or '-'.");
        }

        var algorithm = request.Algorithm ?? AlgorithmNames.Ed25519;
        if (!Algorithms.Contains(algorithm, StringComparer.Ordinal))
        {
            errors.Add("algorithm", "must be one of Ed25519, ECDSA-P256, ECDSA-P384.");
        }

        errors.Range("maxUserValiditySeconds", request.MaxUserValiditySeconds, 1, SshCertificateRules.MaxPolicyValiditySeconds);
        errors.Range("maxHostValiditySeconds", request.MaxHostValiditySeconds, 1, SshCertificateRules.MaxPolicyValiditySeconds);
        var patterns = new List<string>();
        if (request.AllowedPrincipals is { } allowed)
        {
            if (allowed.Count > SshCertificateRules.MaxAllowedPrincipalPatterns)
            {
                errors.Add("allowedPrincipals", $"must have at most {SshCertificateRules.MaxAllowedPrincipalPatterns} patterns.");
            }
            else
            {
                foreach (var pattern in allowed)
                {
                    if (!SshCertificateRules.IsValidPattern(pattern))
                    {
                        errors.Add("allowedPrincipals", "each pattern is 1 to 255 of letters, digits, . _ - @ + : and the wildcards * and ?.");
                    }
                    else if (!patterns.Contains(pattern!, StringComparer.Ordinal))
                    {
                        patterns.Add(pattern!);
                    }
                }
            }
        }

        if (errors.Any)
        {
            return errors.Problem();
        }

        var policy = new SshCaPolicy(request.MaxUserValiditySeconds ?? SshCertificateRules.DefaultMaxUserValiditySeconds,
            request.MaxHostValiditySeconds ?? SshCertificateRules.DefaultMaxHostValiditySeconds, patterns);
        var (ca, error) = await cas.CreateAsync(http.GetCaller().TenantId!.Value, request.Name!, AlgorithmRegistry.Default.Get(algorithm).Info, policy, http.GetActor(), ct);
        if (ca is null)
        {
            return error == KeyError.NameTaken
                ? Problem.Of(409, ErrorCodes.Conflict, "Conflict", $"The tenant already has an SSH CA named {request.Name} or a key named {SshCertificateAuthorities.KeyNameOf(request.Name!)}.")
                : KeysApi.ProblemOf(error);
        }

        return TypedResults.Created($"/api/v1/ssh/ca/{ca.Ca.Id}", SshCaResponse.From(ca));
    }

    private static async Task<Results<Ok<Page<SshCaResponse>>, ProblemHttpResult>> ListCasAsync(
        int? limit, string? cursor, HttpContext http, SshCertificateAuthorities cas, CancellationToken ct)
    {
        if (!Paging.TryRead(limit, cursor, out var take, out var after, out var problem))
        {
            return problem!;
        }

        var rows = await cas.ListAsync(http.GetCaller().TenantId!.Value, after, take + 1, ct);
        return TypedResults.Ok(Paging.Page(rows, take, r => r.Ca.Id, SshCaResponse.From));
    }

    private static async Task<Results<Ok<SshCaResponse>, ProblemHttpResult>> GetCaAsync(Guid id, HttpContext http, SshCertificateAuthorities cas, CancellationToken ct) =>
        await cas.FindAsync(http.GetCaller().TenantId!.Value, id, ct) is { } ca ? TypedResults.Ok(SshCaResponse.From(ca)) : Problem.NotFound();

    private static async Task<Results<Created<SshCertificateResponse>, ProblemHttpResult>> IssueAsync(
        IssueSshCertificateRequest request, HttpContext http, SshCertificateAuthorities cas, CancellationToken ct)
    {
        var tenantId = http.GetCaller().TenantId!.Value;
        if (request.CaId is not { } caId)
        {
            return Problem.Validation(new Dictionary<string, string[]> { ["caId"] = ["is required."] });
        }

        var ca = await cas.FindAsync(tenantId, caId, ct);
        if (ca is null)
        {
            return Problem.NotFound("The tenant has no SSH CA of this id.");
        }

        var errors = new FieldErrors();
        var order = SshCertificateRules.Check(
            new SshCertificateDraft(request.PublicKey, request.Type, request.KeyId, request.Principals, request.ValiditySeconds, request.CriticalOptions, request.Extensions),
            ca.Ca.Policy, errors.Add);
        if (order is null)
        {
            return errors.Problem();
        }

        var result = await cas.IssueAsync(tenantId, caId, order, http.GetActor(), ct);
        return result.Error switch
        {
            SshError.None => TypedResults.Created($"/api/v1/ssh/certificates/{result.Record!.Id}", SshCertificateResponse.From(result.Record, result.Certificate)),
            SshError.NotFound => Problem.NotFound("The tenant has no SSH CA of this id."),
            SshError.KeyStateInvalid => Problem.Of(409, ErrorCodes.KeyStateInvalid, "Key state invalid", "The CA's key is not enabled (disabled, pending deletion or destroyed): it cannot sign."),
            SshError.Concurrent => Problem.Of(409, ErrorCodes.Conflict, "Conflict", "The serial collided; retry."),
            _ => OperationsApi.ProblemOf(http, result.OperationError, result.Detail),
        };
    }

    private static async Task<Results<Ok<Page<SshCertificateResponse>>, ProblemHttpResult>> ListCertificatesAsync(
        int? limit, string? cursor, Guid? caId, HttpContext http, SshCertificateAuthorities cas, CancellationToken ct)
    {
        if (!Paging.TryRead(limit, cursor, out var take, out var after, out var problem))
        {
            return problem!;
        }

        var rows = await cas.ListCertificatesAsync(http.GetCaller().TenantId!.Value, caId, after, take + 1, ct);
        return TypedResults.Ok(Paging.Page(rows, take, r => r.Id, r => SshCertificateResponse.From(r)));
    }

    private static async Task<Results<Ok<SshCertificateResponse>, ProblemHttpResult>> GetCertificateAsync(
        Guid id, HttpContext http, SshCertificateAuthorities cas, CancellationToken ct) =>
        await cas.FindCertificateAsync(http.GetCaller().TenantId!.Value, id, ct) is { } c ? TypedResults.Ok(SshCertificateResponse.From(c)) : Problem.NotFound();
}
