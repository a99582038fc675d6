using System.Security.Cryptography;
using System.Text;
using Mislata.ServiceDefaults.Problems;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Idempotency;

/// <summary>Marks a creating POST as honouring <c>Idempotency-Key</c>.</summary>
public sealed record IdempotentMetadata;

/// <summary>
/// Whose idempotency records a request uses (tenant or partner, and credential), as each service authenticates its
/// callers its own way; null when the request has no authenticated caller (then the header is ignored).
/// </summary>
public interface IIdempotencyOwner
{
    string? OwnerOf(HttpContext context);
}

public static class IdempotencyEndpointExtensions
{
    public static TBuilder Idempotent<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new IdempotentMetadata());
}

/// <summary>
/// <c>Idempotency-Key</c> on creating POSTs (endpoints marked <see cref="IdempotentMetadata"/>): the first response
/// (status, body) is kept 24 h per tenant + credential + key and replayed to a repeat. Following
/// draft-ietf-httpapi-idempotency-key-header: the same key with a different request → <c>422</c>; a repeat while the
/// first is still running → <c>409 conflict</c>. 5xx answers are not kept (the client may retry them).
/// </summary>
public sealed class IdempotencyMiddleware(RequestDelegate next, RedisIdempotencyStore store, IIdempotencyOwner owners)
{
    public const string HeaderName = "Idempotency-Key";
    private const int MaxKeyLength = 255;
    private const int MaxBodyBytes = 1024 * 1024;

    public async Task InvokeAsync(HttpContext context)
    {
        var idempotencyKey = context.Request.Headers[HeaderName].ToString();
        var owner = idempotencyKey.Length == 0 ? null : owners.OwnerOf(context);
        if (owner is null || !HttpMethods.IsPost(context.Request.Method) ||
            context.GetEndpoint()?.Metadata.GetMetadata<IdempotentMetadata>() is null)
        {
            await next(context);
            return;
        }

        if (idempotencyKey.Length > MaxKeyLength || idempotencyKey.Any(c => c < 0x21 || c > 0x7e))
        {
            await ProblemWriter.WriteAsync(context, 400, ErrorCodes.InvalidRequest, "Invalid Idempotency-Key", "Idempotency-Key must be 1 to 255 visible ASCII characters.");
            return;
        }

        context.Request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: MaxBodyBytes);
        string requestHash;
        using (var sha = store.CreateRequestHash())
        {
            sha.AppendData(Encoding.UTF8.GetBytes(context.Request.Method + " " + context.Request.Path + "\n"));
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                sha.AppendData(buffer, 0, read);
            }

            requestHash = Convert.ToHexStringLower(sha.GetHashAndReset());
        }

        context.Request.Body.Position = 0;
        var recordKey = "mislata:idem:" + owner + ":" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(idempotencyKey)));

        IdempotencyState state;
        StoredResponse? stored;
        try
        {
            (state, stored) = await store.BeginAsync(recordKey, requestHash);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Counted, and logged once per Redis outage (DependencyOutages), not once per request.
            context.RequestServices.GetRequiredService<DependencyOutages>().CountUnavailable(DependencyOutages.Redis, ex.GetType().Name);
            context.Response.Headers.RetryAfter = DependencyOutages.RetryAfterSeconds;
            await ProblemWriter.WriteAsync(context, 503, ErrorCodes.Unavailable, "Unavailable", "Idempotency records are unavailable; retry later.");
            return;
        }

        switch (state)
        {
            case IdempotencyState.Replay:
                context.Response.StatusCode = stored!.Status;
                context.Response.Headers["Idempotent-Replayed"] = "true";
                if (stored.ContentType is not null)
                {
                    context.Response.ContentType = stored.ContentType;
                }

                if (stored.Location is not null)
                {
                    context.Response.Headers.Location = stored.Location;
                }

                await context.Response.Body.WriteAsync(stored.Body, context.RequestAborted);
                return;
            case IdempotencyState.InProgress:
                await ProblemWriter.WriteAsync(context, 409, ErrorCodes.Conflict, "Request in progress", "A request with this Idempotency-Key is still being processed.");
                return;
            case IdempotencyState.BodyMismatch:
                await ProblemWriter.WriteAsync(context, 422, ErrorCodes.InvalidRequest, "Idempotency-Key reused", "This Idempotency-Key was used for a different request.");
                return;
        }

        var original = context.Response.Body;
        await using var capture = new MemoryStream();
        context.Response.Body = capture;
        var completed = false;
        try
        {
            await next(context);
            completed = true;
        }
        finally
        {
            context.Response.Body = original;
            var status = context.Response.StatusCode;
            var body = capture.ToArray();
            try
            {
                if (completed && status < 500)
                {
                    await store.CompleteAsync(recordKey, requestHash, new StoredResponse(status, context.Response.ContentType, context.Response.Headers.Location.ToString() is { Length: > 0 } l ? l : null, body));
                }
                else
                {
                    await store.AbandonAsync(recordKey);
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // The answer is sent anyway; a repeat of the key runs again (nothing was kept).
                context.RequestServices.GetRequiredService<DependencyOutages>().ReportDown(DependencyOutages.Redis, ex.GetType().Name);
            }

            if (completed)
            {
                await original.WriteAsync(body, context.RequestAborted);
            }
        }
    }
}
