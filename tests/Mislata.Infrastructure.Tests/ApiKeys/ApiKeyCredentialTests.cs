using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mislata.Core.ApiKeys;
using Mislata.Core.Tenants;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.ApiKeys;
using Mislata.Infrastructure.Persistence;

namespace Mislata.Infrastructure.Tests.ApiKeys;

/// <summary>
/// The credential check of an API key: its shape, where it is read from, its keyed hash, and the lookup against real
/// PostgreSQL (unknown, revoked, expired, address allow-list, master-key rotation, cache dropped on invalidation).
/// </summary>
public sealed class ApiKeyCredentialTests : IAsyncLifetime
{
    private const string CommunityPlan = "0195a1c0-0000-7000-8000-000000000001";
    private readonly MislataDatabase _db = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
    private readonly AccessInvalidation _invalidation = new(null!, NullLogger<AccessInvalidation>.Instance);
    private readonly Guid _tenant = Guid.NewGuid();
    private ServiceProvider? _services;

    public async Task InitializeAsync()
    {
        await _db.InitializeAsync();
        await using var context = _db.Contexts.CreateDbContext();
        context.Set<Tenant>().Add(new Tenant(_tenant, "Acme", Guid.Parse(CommunityPlan), null, null, _time.GetUtcNow()));
        await context.SaveChangesAsync();
        _services = new ServiceCollection().AddScoped(_ => _db.Contexts.CreateDbContext()).BuildServiceProvider();
    }

    public async Task DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        await _db.DisposeAsync();
    }

    private static string Key(char fill) => ApiKeySecret.Marker + new string(fill, ApiKeySecret.EncodedLength);

    private async Task<Guid> StoreAsync(string key, ApiKeySecret secret, DateTimeOffset? expiresAt = null, string[]? allow = null, bool revoked = false)
    {
        var id = Guid.NewGuid();
        var apiKey = new ApiKey(id, _tenant, null, "k", ApiKeySecret.PrefixOf(key), secret.Hash(key), ["keys:read"], expiresAt, allow ?? [], 120, "test", _time.GetUtcNow());
        if (revoked)
        {
            apiKey.Revoke(_time.GetUtcNow());
        }

        await using var context = _db.Contexts.CreateDbContext();
        context.Set<ApiKey>().Add(apiKey);
        await context.SaveChangesAsync();
        return id;
    }

    private ApiKeyDirectory Directory(ApiKeySecret secret) =>
        new(_services!.GetRequiredService<IServiceScopeFactory>(), secret, _invalidation, _time);

    [Fact]
    public void A_key_has_the_marker_43_base64url_characters_and_nothing_else()
    {
        var generated = ApiKeySecret.Generate();
        Assert.Equal(ApiKeySecret.TotalLength, generated.Length);
        Assert.True(ApiKeySecret.LooksLikeKey(generated));
        Assert.NotEqual(generated, ApiKeySecret.Generate());
        Assert.Equal(generated[..13], ApiKeySecret.PrefixOf(generated));

        Assert.True(ApiKeySecret.LooksLikeKey(Key('a')));
        Assert.True(ApiKeySecret.LooksLikeKey("qapi_" + new string('-', 21) + new string('_', 21) + "9"));
        Assert.False(ApiKeySecret.LooksLikeKey(Key('a')[..47]));
        Assert.False(ApiKeySecret.LooksLikeKey(Key('a') + "a"));
        Assert.False(ApiKeySecret.LooksLikeKey("QAPI_" + new string('a', 43)));
        Assert.False(ApiKeySecret.LooksLikeKey("xapi_" + new string('a', 43)));
        Assert.False(ApiKeySecret.LooksLikeKey("qapi_" + new string('a', 42) + "+"));
        Assert.False(ApiKeySecret.LooksLikeKey("qapi_" + new string('a', 42) + "="));
        Assert.False(ApiKeySecret.LooksLikeKey("qapi_" + "é" + new string('a', 42)));
        Assert.True(ApiKeyAuthenticator.IsApiKey("qapi_x"));
        Assert.False(ApiKeyAuthenticator.IsApiKey("Qapi_x"));
        Assert.False(ApiKeyAuthenticator.IsApiKey("eyJhbGciOi"));
    }

    [Fact]
    public void The_stored_hash_is_keyed_by_the_platform_key()
    {
        using var platformKey = PlatformKey.Generate();
        using var otherInstallation = PlatformKey.Generate();
        var key = Key('b');
        var before = new ApiKeySecret(platformKey);
        var after = new ApiKeySecret(otherInstallation);

        Assert.Equal(32, before.Hash(key).Length);
        Assert.Equal(before.Hash(key), before.Hash(key));
        Assert.NotEqual(before.Hash(key), before.Hash(Key('c')));
        Assert.NotEqual(before.Hash(key), after.Hash(key));
        // Not a plain hash of the key: HMAC under a key derived from the platform key.
        Assert.NotEqual(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(key)), before.Hash(key));
    }

    [Fact]
    public void The_credential_is_read_from_X_Api_Key_first_then_from_a_Bearer_authorization()
    {
        static HttpRequest Request(string? apiKey, string? authorization)
        {
            var context = new DefaultHttpContext();
            if (apiKey is not null)
            {
                context.Request.Headers["X-Api-Key"] = apiKey;
            }

            if (authorization is not null)
            {
                context.Request.Headers.Authorization = authorization;
            }

            return context.Request;
        }

        Assert.Equal("qapi_1", ApiKeyAuthenticator.ReadCredential(Request(" qapi_1 ", "Bearer token")));
        Assert.Equal("token", ApiKeyAuthenticator.ReadCredential(Request(null, "Bearer  token ")));
        Assert.Equal("token", ApiKeyAuthenticator.ReadCredential(Request(string.Empty, "bearer token")));
        Assert.Null(ApiKeyAuthenticator.ReadCredential(Request(null, "Bearer ")));
        Assert.Null(ApiKeyAuthenticator.ReadCredential(Request(null, "Basic dXNlcjpwYXNz")));
        Assert.Null(ApiKeyAuthenticator.ReadCredential(Request(null, "Bearertoken")));
        Assert.Equal("token", ApiKeyAuthenticator.ReadCredential(Request(null, "DPoP token"))); // RFC 9449: the proof is checked later
        Assert.Equal("token", ApiKeyAuthenticator.ReadCredential(Request(null, "dpop  token ")));
        Assert.Null(ApiKeyAuthenticator.ReadCredential(Request(null, "DPoP ")));
        Assert.Null(ApiKeyAuthenticator.ReadCredential(Request(null, "DPoPtoken")));
        Assert.Null(ApiKeyAuthenticator.ReadCredential(Request(null, null)));
        Assert.Throws<ArgumentNullException>(() => ApiKeyAuthenticator.ReadCredential(null!));
    }

    [Fact]
    public void An_allow_list_admits_only_its_networks_and_an_IPv4_mapped_address_counts_as_IPv4()
    {
        static ApiKeyRecord With(params string[] networks) =>
            new(Guid.NewGuid(), Guid.NewGuid(), null, [], null, [.. networks.Select(IPNetwork.Parse)], null, false);

        Assert.True(With().AllowsAddress(null));
        Assert.True(With().AllowsAddress(IPAddress.Parse("198.51.100.7")));
        var list = With("203.0.113.0/24", "2001:db8::/32");
        Assert.True(list.AllowsAddress(IPAddress.Parse("203.0.113.200")));
        Assert.True(list.AllowsAddress(IPAddress.Parse("::ffff:203.0.113.9")));
        Assert.True(list.AllowsAddress(IPAddress.Parse("2001:db8:1::5")));
        Assert.False(list.AllowsAddress(IPAddress.Parse("203.0.114.1")));
        Assert.False(list.AllowsAddress(IPAddress.Parse("::ffff:203.0.114.1")));
        Assert.False(list.AllowsAddress(null));
    }

    [Fact]
    public async Task A_key_is_authenticated_only_when_well_formed_known_unrevoked_unexpired_and_from_an_allowed_address()
    {
        using var platformKey = PlatformKey.Generate();
        var secret = new ApiKeySecret(platformKey);
        var authenticator = new ApiKeyAuthenticator(Directory(secret), _time);
        var good = Key('g');
        var goodId = await StoreAsync(good, secret, expiresAt: _time.GetUtcNow().AddMinutes(1));
        await StoreAsync(Key('r'), secret, revoked: true);
        await StoreAsync(Key('e'), secret, expiresAt: _time.GetUtcNow());
        await StoreAsync(Key('l'), secret, allow: ["192.0.2.0/24"]);
        var remote = IPAddress.Parse("198.51.100.1");

        var ok = await authenticator.AuthenticateAsync(good, remote, CancellationToken.None);
        Assert.True(ok.Authenticated);
        Assert.True(ok.AddressAllowed);
        Assert.Null(ok.Refusal);
        Assert.Equal(goodId, ok.Record!.Id);
        Assert.Equal(_tenant, ok.Record.TenantId);
        Assert.Equal(["keys:read"], ok.Record.Scopes);
        Assert.Equal(120, ok.Record.RateLimitPerMinute);

        Assert.Equal(new ApiKeyCheck(null, "malformed_api_key", false), await authenticator.AuthenticateAsync("qapi_short", remote, CancellationToken.None));
        Assert.Equal(new ApiKeyCheck(null, "unknown_api_key", false), await authenticator.AuthenticateAsync(Key('u'), remote, CancellationToken.None));
        Assert.Equal(new ApiKeyCheck(null, "revoked_api_key", false), await authenticator.AuthenticateAsync(Key('r'), remote, CancellationToken.None));
        // Expiry is inclusive: a key expiring now is expired.
        Assert.Equal(new ApiKeyCheck(null, "expired_api_key", false), await authenticator.AuthenticateAsync(Key('e'), remote, CancellationToken.None));

        var elsewhere = await authenticator.AuthenticateAsync(Key('l'), remote, CancellationToken.None);
        Assert.NotNull(elsewhere.Record);
        Assert.False(elsewhere.AddressAllowed);
        Assert.Equal("The API key is not allowed from this address.", elsewhere.Refusal);
        Assert.True((await authenticator.AuthenticateAsync(Key('l'), IPAddress.Parse("192.0.2.9"), CancellationToken.None)).AddressAllowed);

        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal("expired_api_key", (await authenticator.AuthenticateAsync(good, remote, CancellationToken.None)).Refusal);
        Assert.Throws<ArgumentNullException>(() => (object)authenticator.AuthenticateAsync(null!, remote, CancellationToken.None).GetAwaiter().GetResult());
    }

    [Fact]
    public async Task A_key_is_found_by_any_replica_holding_the_platform_key_and_by_no_other_installation()
    {
        using var platformKey = PlatformKey.Generate();
        using var unrelated = PlatformKey.Generate();
        var key = Key('p');
        var id = await StoreAsync(key, new ApiKeySecret(platformKey));

        Assert.Equal(id, (await Directory(new ApiKeySecret(platformKey)).FindAsync(key, CancellationToken.None))!.Id);
        Assert.Null(await Directory(new ApiKeySecret(unrelated)).FindAsync(key, CancellationToken.None));
    }

    [Fact]
    public async Task A_cached_key_is_served_from_memory_until_its_ttl_or_an_invalidation_of_its_key_tenant_or_everything()
    {
        using var platformKey = PlatformKey.Generate();
        var secret = new ApiKeySecret(platformKey);
        var directory = Directory(secret);
        var key = Key('c');
        var id = await StoreAsync(key, secret);

        async Task<bool> RevokedInMemoryAsync() => (await directory.FindAsync(key, CancellationToken.None))!.Revoked;

        Assert.False(await RevokedInMemoryAsync());
        await _db.ExecuteAsync($"UPDATE mislata.api_keys SET revoked_at = now() WHERE id = '{id}'");
        // Cached: the database change is not seen until the TTL runs out or an invalidation arrives.
        Assert.False(await RevokedInMemoryAsync());
        _invalidation.Raise(AccessInvalidation.ApiKey(Guid.NewGuid()));
        _invalidation.Raise(AccessInvalidation.Tenant(Guid.NewGuid()));
        _invalidation.Raise("partner:" + Guid.NewGuid().ToString("N"));
        _invalidation.Raise("key:not-a-guid");
        _invalidation.Raise(AccessInvalidation.Plans);
        Assert.False(await RevokedInMemoryAsync());
        _invalidation.Raise(AccessInvalidation.ApiKey(id));
        Assert.True(await RevokedInMemoryAsync());

        await _db.ExecuteAsync($"UPDATE mislata.api_keys SET revoked_at = NULL WHERE id = '{id}'");
        Assert.True(await RevokedInMemoryAsync());
        _invalidation.Raise(AccessInvalidation.Tenant(_tenant));
        Assert.False(await RevokedInMemoryAsync());

        await _db.ExecuteAsync($"UPDATE mislata.api_keys SET revoked_at = now() WHERE id = '{id}'");
        Assert.False(await RevokedInMemoryAsync());
        _invalidation.Raise(AccessInvalidation.All);
        Assert.True(await RevokedInMemoryAsync());

        await _db.ExecuteAsync($"UPDATE mislata.api_keys SET revoked_at = NULL WHERE id = '{id}'");
        _time.Advance(ApiKeyDirectory.Ttl - TimeSpan.FromSeconds(1));
        Assert.True(await RevokedInMemoryAsync());
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(await RevokedInMemoryAsync());
    }
}
