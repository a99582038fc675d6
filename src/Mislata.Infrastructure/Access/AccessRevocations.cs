using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Mislata.Core.Access;
using Mislata.Infrastructure.Identity;
using OpenIddict.Abstractions;
using StackExchange.Redis;

namespace Mislata.Infrastructure.Access;

/// <summary>
/// A durable not-before for a subject (<c>sub</c>: a user) or a client (<c>client_id</c>): access tokens issued
/// before it are refused. Row of <c>identity.access_revocations</c>.
/// </summary>
public sealed class AccessRevocation
{
    public const string Subject = "sub";
    public const string Client = "client";

    /// <summary><see cref="Subject"/> or <see cref="Client"/>.</summary>
    public required string Kind { get; init; }

    /// <summary>The user id or the client id.</summary>
    public required string Value { get; init; }

    public DateTimeOffset NotBefore { get; set; }

    /// <summary>After this no token issued before <see cref="NotBefore"/> can still be valid: the row is useless.</summary>
    public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>
/// Deleting, demoting or blocking a user, deleting an application or rotating its secret records a not-before for
/// that subject or client (identity, in its database), then announces it on the invalidation channel. Every replica
/// of every service keeps the map in memory — no network call per request — and refuses an access token whose
/// <c>iat</c> is before the not-before of its <c>sub</c> or its <c>client_id</c>. Unblocking removes nothing: tokens
/// issued before the block stay refused until they expire. Replicas load the table at start, whenever the Redis
/// connection fails or is restored (messages may have been missed), every few seconds while Redis is disconnected
/// (nothing is announced then) and on a slow timer as a safety net.
/// </summary>
/// <remarks>
/// <c>iat</c> has a resolution of one second, so a token issued within the same second as the revocation is refused
/// too: failing safe costs a client one retry, the other way round would let a token minted just before the change
/// through.
/// </remarks>
public sealed partial class AccessRevocations : IHostedService, IDisposable
{
    /// <summary>Access tokens live 15 minutes and validators allow 30 s of clock skew; a little margin on top.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromMinutes(20);

    /// <summary>The safety net against lost messages while Redis stays connected.</summary>
    public static readonly TimeSpan ReloadInterval = TimeSpan.FromMinutes(2);

    /// <summary>After a failed load (database briefly away), or while Redis is disconnected, the next load comes sooner.</summary>
    private static readonly TimeSpan ShortInterval = TimeSpan.FromSeconds(5);

    /// <summary>A second load shortly after a reconnection covers a revocation published before the subscription was back.</summary>
    private static readonly TimeSpan AfterReconnect = TimeSpan.FromSeconds(2);

    /// <summary><c>revoked:{kind}:{not-before, Unix ms}:{value}</c>.</summary>
    private const string MessagePrefix = "revoked:";

    private readonly ConcurrentDictionary<(string Kind, string Value), (DateTimeOffset NotBefore, DateTimeOffset ExpiresAt)> _entries = new();
    private readonly SemaphoreSlim _loading = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly IServiceScopeFactory _scopes;
    private readonly IConnectionMultiplexer _redis;
    private readonly AccessInvalidation _invalidation;
    private readonly TimeProvider _time;
    private readonly ILogger<AccessRevocations> _logger;
    private Task _timer = Task.CompletedTask;
    private bool _lastLoadFailed;

    public AccessRevocations(IServiceScopeFactory scopes, IConnectionMultiplexer redis, AccessInvalidation invalidation, TimeProvider time, ILogger<AccessRevocations> logger)
    {
        ArgumentNullException.ThrowIfNull(invalidation);
        _scopes = scopes;
        _redis = redis;
        _invalidation = invalidation;
        _time = time;
        _logger = logger;
        invalidation.Invalidated += OnInvalidated;
    }

    /// <summary>Entries held in memory (for tests and diagnostics).</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// Whether a token of <paramref name="subject"/> through <paramref name="clientId"/>, issued at
    /// <paramref name="issuedAt"/>, must be refused. A token without an issue time is always refused: it could not be
    /// revoked.
    /// </summary>
    public bool Refuses(string? subject, string? clientId, DateTimeOffset? issuedAt) =>
        issuedAt is not { } iat || IssuedBefore(AccessRevocation.Subject, subject, iat) || IssuedBefore(AccessRevocation.Client, clientId, iat);

    /// <summary>The same, reading <c>sub</c>, <c>client_id</c> and <c>iat</c> (or OpenIddict's creation date) of a validated token.</summary>
    public bool Refuses(ClaimsIdentity token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return Refuses(token.FindFirst(ClaimNames.Subject)?.Value, token.FindFirst(ClaimNames.ClientId)?.Value, IssuedAt(token));
    }

    public bool Refuses(ClaimsPrincipal token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return token.Identity is not ClaimsIdentity identity || Refuses(identity);
    }

    /// <summary>Refuses the user's outstanding access tokens everywhere (deleted, demoted, blocked).</summary>
    public Task RevokeSubjectAsync(IdentityStoreDbContext db, string subject, CancellationToken cancellationToken) =>
        RevokeAsync(db, AccessRevocation.Subject, subject, cancellationToken);

    /// <summary>Refuses the outstanding access tokens issued to an application everywhere (deleted, secret rotated).</summary>
    public Task RevokeClientAsync(IdentityStoreDbContext db, string clientId, CancellationToken cancellationToken) =>
        RevokeAsync(db, AccessRevocation.Client, clientId, cancellationToken);

    /// <summary>
    /// Records the not-before through <paramref name="db"/> — inside the caller's transaction when it has one, so
    /// the change and its revocation commit together — then applies it here and announces it to the other replicas.
    /// Call it before the change is saved: if the change then fails, a few tokens were refused for nothing, never
    /// the other way round. Throws when the database cannot record it (the change must not go ahead without it).
    /// </summary>
    public async Task RevokeAsync(IdentityStoreDbContext db, string kind, string value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentException.ThrowIfNullOrEmpty(value);
        if (kind is not (AccessRevocation.Subject or AccessRevocation.Client))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "sub or client");
        }

        var notBefore = Truncate(_time.GetUtcNow());
        var expiresAt = notBefore + Retention;
        await db.Database.ExecuteSqlInterpolatedAsync(
            $"""
            INSERT INTO identity.access_revocations (kind, value, not_before, expires_at) VALUES ({kind}, {value}, {notBefore}, {expiresAt})
            ON CONFLICT (kind, value) DO UPDATE SET
                not_before = GREATEST(access_revocations.not_before, excluded.not_before),
                expires_at = GREATEST(access_revocations.expires_at, excluded.expires_at)
            """,
            cancellationToken);
        // Rows no token can need any more; identity is the only writer, so the table stays small without a job.
        await db.Database.ExecuteSqlInterpolatedAsync($"DELETE FROM identity.access_revocations WHERE expires_at < {notBefore}", cancellationToken);

        Apply(kind, value, notBefore, expiresAt);
        await _invalidation.PublishAsync(Message(kind, value, notBefore));
        LogRevoked(_logger, kind, value);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken);
        _timer = RunTimerAsync(_stopping.Token);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        try
        {
            await _timer.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        _invalidation.Invalidated -= OnInvalidated;
        _stopping.Dispose();
        _loading.Dispose();
    }

    /// <summary>Reads every live row and merges it in (the later not-before wins; nothing is ever lifted early).</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        await _loading.WaitAsync(cancellationToken);
        try
        {
            var now = _time.GetUtcNow();
            await using var scope = _scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<IdentityStoreDbContext>();
            var rows = await db.AccessRevocations.AsNoTracking().Where(r => r.ExpiresAt > now).ToListAsync(cancellationToken);
            foreach (var row in rows)
            {
                Apply(row.Kind, row.Value, row.NotBefore, row.ExpiresAt);
            }

            foreach (var (key, entry) in _entries)
            {
                if (entry.ExpiresAt <= now)
                {
                    _entries.TryRemove(KeyValuePair.Create(key, entry));
                }
            }

            _lastLoadFailed = false;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever failed (the driver, the circuit breaker, Entity Framework's wrapping of either), keep what is in
            // memory; the timer tries again soon. An exception let through here would end the timer for good, and
            // revocations would no longer be read until a restart.
            _lastLoadFailed = true;
            LogLoadFailed(_logger, ex.GetType().Name);
        }
        finally
        {
            _loading.Release();
        }
    }

    internal static string Message(string kind, string value, DateTimeOffset notBefore) =>
        MessagePrefix + kind + ":" + notBefore.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) + ":" + value;

    internal void Apply(string kind, string value, DateTimeOffset notBefore, DateTimeOffset expiresAt) =>
        _entries.AddOrUpdate(
            (kind, value),
            (notBefore, expiresAt),
            (_, old) => (Max(old.NotBefore, notBefore), Max(old.ExpiresAt, expiresAt)));

    private bool IssuedBefore(string kind, string? value, DateTimeOffset issuedAt) =>
        !string.IsNullOrEmpty(value) && _entries.TryGetValue((kind, value), out var entry) && issuedAt < entry.NotBefore;

    private static DateTimeOffset? IssuedAt(ClaimsIdentity token)
    {
        if (token.FindFirst("iat")?.Value is { } iat && long.TryParse(iat, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return DateTimeOffset.FromUnixTimeSeconds(seconds);
        }

        // OpenIddict's validation maps iat to its own creation-date claim.
        return token.GetCreationDate();
    }

    private void OnInvalidated(string message)
    {
        if (message.StartsWith(MessagePrefix, StringComparison.Ordinal))
        {
            var parts = message[MessagePrefix.Length..].Split(':', 3);
            if (parts.Length == 3 && parts[0] is AccessRevocation.Subject or AccessRevocation.Client && parts[2].Length > 0 &&
                long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
            {
                var notBefore = DateTimeOffset.FromUnixTimeMilliseconds(ms);
                Apply(parts[0], parts[2], notBefore, notBefore + Retention);
            }
        }
        else if (message == AccessInvalidation.All)
        {
            // The Redis connection failed or came back: messages may have been missed. Read the table now and once
            // more shortly after, when the subscription is surely back.
            _ = ReloadAfterReconnectAsync(_stopping.Token);
        }
    }

    private async Task ReloadAfterReconnectAsync(CancellationToken cancellationToken)
    {
        try
        {
            await LoadAsync(cancellationToken);
            await Task.Delay(AfterReconnect, _time, cancellationToken);
            await LoadAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task RunTimerAsync(CancellationToken cancellationToken)
    {
        try
        {
            var lastLoad = _time.GetTimestamp();
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(ShortInterval, _time, cancellationToken);
                if (_lastLoadFailed || !_redis.IsConnected || _time.GetElapsedTime(lastLoad) >= ReloadInterval)
                {
                    await LoadAsync(cancellationToken);
                    lastLoad = _time.GetTimestamp();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>PostgreSQL keeps microseconds; the message and the row must agree exactly.</summary>
    private static DateTimeOffset Truncate(DateTimeOffset value) => DateTimeOffset.FromUnixTimeMilliseconds(value.ToUnixTimeMilliseconds());

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a >= b ? a : b;

    [LoggerMessage(EventId = 5102, Level = LogLevel.Warning, Message = "Could not load the access revocations ({ErrorType}); keeping the ones in memory and retrying")]
    private static partial void LogLoadFailed(ILogger logger, string errorType);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Information, Message = "Access tokens issued before now are refused for {Kind} {Value}")]
    private static partial void LogRevoked(ILogger logger, string kind, string value);
}
