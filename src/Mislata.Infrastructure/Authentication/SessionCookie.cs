using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Caching.Distributed;

namespace Mislata.Infrastructure.Authentication;

/// <summary>
/// The browser session of a person signed in at identity. The cookie holds only a session id (protected with the
/// Data Protection key ring shared in Redis); the ticket itself lives in Redis, so any identity replica — and the
/// worker's dashboard — can read it, and signing out removes it everywhere.
/// </summary>
public static class SessionCookie
{
    /// <summary>Same name as ASP.NET Core Identity's application scheme: identity signs in with it, the worker reads it.</summary>
    public const string Scheme = "Identity.Application";

    /// <summary><c>__Host-</c>: Secure, Path=/, no Domain.</summary>
    public const string CookieName = "__Host-mislata-session";

    public const string LoginPath = "/account/login";

    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);

    /// <summary>The cookie settings both hosts must agree on.</summary>
    public static void Apply(CookieAuthenticationOptions options, IDistributedCache cache, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Cookie.Name = CookieName;
        options.Cookie.Path = "/";
        options.Cookie.HttpOnly = true;
        options.Cookie.SecurePolicy = CookieSecurePolicy.Always;
        options.Cookie.SameSite = SameSiteMode.Lax;
        options.ExpireTimeSpan = Lifetime;
        options.SlidingExpiration = true;
        options.LoginPath = LoginPath;
        options.LogoutPath = "/account/logout";
        options.AccessDeniedPath = "/account/denied";
        options.ReturnUrlParameter = "ReturnUrl";
        options.SessionStore = new DistributedCacheTicketStore(cache, time);
    }
}

/// <summary>An <see cref="ITicketStore"/> on the Redis <see cref="IDistributedCache"/>.</summary>
public sealed class DistributedCacheTicketStore(IDistributedCache cache, TimeProvider time) : ITicketStore
{
    private const string Prefix = "session:";

    public async Task<string> StoreAsync(AuthenticationTicket ticket)
    {
        var key = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
        await RenewAsync(key, ticket);
        return key;
    }

    public Task RenewAsync(string key, AuthenticationTicket ticket) => RenewAsync(key, ticket, CancellationToken.None);

    public async Task RenewAsync(string key, AuthenticationTicket ticket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        var options = new DistributedCacheEntryOptions
        {
            AbsoluteExpiration = ticket.Properties.ExpiresUtc ?? time.GetUtcNow() + SessionCookie.Lifetime,
        };
        await cache.SetAsync(Prefix + key, TicketSerializer.Default.Serialize(ticket), options, cancellationToken);
    }

    public Task<AuthenticationTicket?> RetrieveAsync(string key) => RetrieveAsync(key, CancellationToken.None);

    public async Task<AuthenticationTicket?> RetrieveAsync(string key, CancellationToken cancellationToken)
    {
        var bytes = await cache.GetAsync(Prefix + key, cancellationToken);
        return bytes is null ? null : TicketSerializer.Default.Deserialize(bytes);
    }

    public Task RemoveAsync(string key) => RemoveAsync(key, CancellationToken.None);

    public Task RemoveAsync(string key, CancellationToken cancellationToken) => cache.RemoveAsync(Prefix + key, cancellationToken);
}
