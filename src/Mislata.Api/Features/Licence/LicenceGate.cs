using Mislata.Core.Licensing;
using Mislata.Infrastructure.Licensing;
using Mislata.ServiceDefaults.Problems;

namespace Mislata.Api.Features.Licence;

/// <summary>What an endpoint creates, as far as the licence is concerned.</summary>
public enum LicensedCreation
{
    /// <summary>New stored data or ciphertext (a secret or a secret version, encrypt, encrypt/batch, datakey, rewrap): refused when restricted.</summary>
    NewData = 0,

    /// <summary>A key (create, import): refused when restricted or at the licence's <c>maxKeys</c>.</summary>
    Key = 1,

    /// <summary>A tenant (platform or partner): refused when restricted or at the licence's <c>maxTenants</c>.</summary>
    Tenant = 2,
}

/// <summary>Endpoint metadata: the endpoint is subject to the licence (<see cref="LicenceGate"/>).</summary>
public sealed record LicenceRequirement(LicensedCreation Creation);

/// <summary>
/// The licence on the request path: <c>403 license_restricted</c> for a creation the licence does not allow now —
/// anything new in <see cref="LicenceState.Restricted"/>, a key or a tenant beyond the licence's limit — declared on the
/// route with <see cref="RequireLicence"/>. Reads, decrypts, verifies, lists and gets carry no requirement and always work.
/// Licence limits are the installation's (all tenants together), apart from each plan's quotas (<c>429 quota_exceeded</c>);
/// they are checked before the creation, so creations racing for the last unit may pass the limit by a few.
/// </summary>
public static class LicenceGate
{
    public static RouteHandlerBuilder RequireLicence(this RouteHandlerBuilder builder, LicensedCreation creation)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.WithMetadata(new LicenceRequirement(creation)).AddEndpointFilter(async (context, next) =>
            await CheckAsync(context.HttpContext, creation) is { } refused ? refused : await next(context));
    }

    internal static async Task<IResult?> CheckAsync(HttpContext http, LicensedCreation creation)
    {
        var ct = http.RequestAborted;
        var status = await http.RequestServices.GetRequiredService<LicenceMonitor>().CurrentAsync(ct);
        if (!status.AllowsNewData)
        {
            return Problem.Of(StatusCodes.Status403Forbidden, ErrorCodes.LicenseRestricted, "Licence restricted",
                "The licence has expired and its grace period is over: nothing new can be created or encrypted until a new licence is installed. "
                + "Reads, decryption and verification keep working.");
        }

        if (creation == LicensedCreation.NewData)
        {
            return null;
        }

        var admin = http.RequestServices.GetRequiredService<LicenceAdministration>();
        var (limit, noun) = creation == LicensedCreation.Key ? (status.Limits.MaxKeys, "keys") : (status.Limits.MaxTenants, "tenants");
        if (limit is null)
        {
            return null;
        }

        var used = creation == LicensedCreation.Key ? await admin.CountKeysAsync(ct) : await admin.CountTenantsAsync(ct);
        return LicenceRules.AllowsOneMore(limit, used)
            ? null
            : Problem.Of(StatusCodes.Status403Forbidden, ErrorCodes.LicenseRestricted, "Licence limit reached",
                $"The {(status.State == LicenceState.Community ? "Community edition" : "licence")} allows at most {limit} {noun} on this installation.");
    }
}
