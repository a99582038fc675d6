using Mislata.Core.Access;
using Mislata.Infrastructure.Idempotency;

namespace Mislata.Api.Access;

/// <summary>The api's callers own their idempotency records per tenant (or partner) and credential.</summary>
internal sealed class CallerIdempotencyOwner : IIdempotencyOwner
{
    public string? OwnerOf(HttpContext context) =>
        context.Features.Get<Caller>() is { } caller
            ? (caller.TenantId?.ToString("N") ?? caller.PartnerId?.ToString("N") ?? "platform") + ":" + caller.CredentialId
            : null;
}
