using Microsoft.AspNetCore.Http.HttpResults;
using Mislata.Api.Access;
using Mislata.Api.Common;
using Mislata.Core.Access;
using Mislata.Core.Licensing;
using Mislata.Infrastructure.Licensing;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Licence;

/// <summary>PUT body: the licence text, armoured (as the vendor's file) or the bare envelope JSON.</summary>
public sealed record LicenseInstallRequest(string? License);

public sealed record LicenseLimitsResponse(int? MaxTenants, int? MaxUsers, int? MaxKeys);

public sealed record LicenseUsageFigure(long Used, int? Limit);

public sealed record LicenseUsageResponse(LicenseUsageFigure Tenants, LicenseUsageFigure Users, LicenseUsageFigure Keys);

public sealed record LicenseDetails(
    Guid Id, string Licensee, string Edition, string? KeyId, DateTimeOffset IssuedAt, DateTimeOffset NotBefore, DateTimeOffset ExpiresAt,
    int GraceDays, DateTimeOffset GraceEndsAt, IReadOnlyList<string> Features);

/// <summary>
/// <c>state</c>: community | valid | grace | restricted | invalid; <c>reason</c> says why when not valid; <c>license</c> is
/// null without an authentic licence; <c>limits</c> are those in force (Community's when none or invalid).
/// </summary>
public sealed record LicenseStatusResponse(
    string State, string? Reason, bool Restricted, LicenseDetails? License, LicenseLimitsResponse Limits, LicenseUsageResponse Usage,
    DateTimeOffset? InstalledAt, DateTimeOffset? RevokedAt, DateTimeOffset? RevocationCheckedAt);

/// <summary><c>/api/v1/admin/license</c> (platform:admin): the licence's status, and installing a new one.</summary>
public static class AdminLicenseApi
{
    public static IEndpointRouteBuilder MapAdminLicenseApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/admin/license").WithTags("Admin: licence").RequireScope(Scopes.PlatformAdmin, CallerAudience.Platform);
        group.MapGet("/", GetAsync)
            .WithSummary("Licence status").WithDescription("State (community, valid, grace, restricted, invalid), licensee, edition, validity, the limits in force and the installation's usage against them.");
        group.MapPut("/", InstallAsync)
            .WithSummary("Install a licence").WithDescription("`license`: the licence text. Both vendor signatures must verify against the keys built into this release and it must be valid now (or in grace); otherwise `400 license_invalid` and the installed licence stays.");
        return app;
    }

    private static async Task<Ok<LicenseStatusResponse>> GetAsync(LicenceMonitor monitor, LicenceAdministration admin, CancellationToken ct)
    {
        var snapshot = await monitor.SnapshotAsync(ct);
        return TypedResults.Ok(await StatusAsync(snapshot, await monitor.CurrentAsync(ct), admin, ct));
    }

    private static async Task<Results<Ok<LicenseStatusResponse>, ProblemHttpResult>> InstallAsync(
        LicenseInstallRequest request, HttpContext http, LicenceAdministration admin, LicenceMonitor monitor, TimeProvider time, CancellationToken ct)
    {
        if (request.License is null)
        {
            var errors = new FieldErrors();
            errors.Add("license", "is required.");
            return errors.Problem();
        }

        var (check, installed) = await admin.InstallAsync(request.License, http.GetActor(), ct);
        if (installed is null)
        {
            var detail = check.IsAuthentic
                ? "The licence is not valid now (" + LicenceRules.Evaluate(check, false, time.GetUtcNow()).Reason + "); the installed licence is unchanged."
                : "The licence was not accepted (" + (check.Detail ?? check.Problem.ToString()) + "); the installed licence is unchanged.";
            return Problem.Of(StatusCodes.Status400BadRequest, ErrorCodes.LicenseInvalid, "Invalid licence", detail);
        }

        var snapshot = await monitor.ReloadAsync(ct);
        return TypedResults.Ok(await StatusAsync(snapshot, await monitor.CurrentAsync(ct), admin, ct));
    }

    private static async Task<LicenseStatusResponse> StatusAsync(LicenceMonitor.Snapshot snapshot, LicenceStatus status, LicenceAdministration admin, CancellationToken ct)
    {
        var usage = await admin.UsageAsync(ct);
        var l = status.Limits;
        var licence = snapshot.Check?.Licence;
        return new LicenseStatusResponse(
            status.StateName,
            status.Reason,
            !status.AllowsNewData,
            licence is null
                ? null
                : new LicenseDetails(licence.Id, licence.Licensee, licence.Edition, snapshot.Check!.KeyId, licence.IssuedAt, licence.NotBefore, licence.ExpiresAt,
                    licence.GraceDays, licence.GraceEndsAt, licence.Features),
            new LicenseLimitsResponse(l.MaxTenants, l.MaxUsers, l.MaxKeys),
            new LicenseUsageResponse(new(usage.Tenants, l.MaxTenants), new(usage.Users, l.MaxUsers), new(usage.Keys, l.MaxKeys)),
            snapshot.Row?.InstalledAt,
            snapshot.Row?.RevokedAt,
            snapshot.Row?.RevocationCheckedAt);
    }
}
