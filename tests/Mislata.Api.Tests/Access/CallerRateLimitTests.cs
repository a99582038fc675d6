using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Mislata.Api.Access;
using Mislata.Core.Access;
using Mislata.Core.ApiKeys;
using Mislata.Core.Audit;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Abuse;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.ApiKeys;
using Mislata.Infrastructure.RateLimiting;
using Mislata.Testing;
using StackExchange.Redis;

namespace Mislata.Api.Tests.Access;

/// <summary>A real redis-server and a real PostgreSQL (API keys), shared by the tests of <see cref="CallerRateLimitTests"/>.</summary>
public sealed class RedisAndDatabase : IAsyncLifetime
{
    public RedisInstance Redis { get; private set; } = null!;

    public ConnectionMultiplexer Connection { get; private set; } = null!;

    public MislataDatabase Database { get; } = new();

    public async Task InitializeAsync()
    {
        Redis = await RedisInstance.LaunchAsync();
        Connection = await ConnectionMultiplexer.ConnectAsync(Redis.Configuration);
        await Database.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await Connection.DisposeAsync();
        await Redis.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>
/// The access gate with Redis up: the per-credential and per-tenant rate limits (<c>RateLimit-*</c> headers, 429
/// <c>rate_limited</c> with <c>Retry-After</c>), failed credentials counted per source until the source is refused
/// 429 before any credential work, the reasons of the aggregated <c>auth.failed</c> audit, and an API key used from an
/// address outside its allow-list (403).
/// </summary>
public sealed class CallerRateLimitTests : IClassFixture<RedisAndDatabase>, IAsyncLifetime
{
    private const string Issuer = "https://mislata.example";
    private const int FailuresPerMinute = 3;
    private static readonly Guid OpenTenant = Guid.Parse("eeeeeeee-0000-0000-0000-000000000001");
    private static readonly Guid LimitedTenant = Guid.Parse("eeeeeeee-0000-0000-0000-000000000002");
    private static int _addresses;

    private readonly RedisAndDatabase _shared;
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly PlatformKey _platformKey = PlatformKey.Generate();
    private readonly RecordingAudit _audit = new();

    // Each test its own address, so that the failed-credential counts of one test never reach another's.
    private readonly IPAddress _address = IPAddress.Parse("198.51.100." + Interlocked.Increment(ref _addresses).ToString(CultureInfo.InvariantCulture));
    private ServiceProvider? _services;
    private AccessRevocations? _revocations;
    private AccessInvalidation? _invalidation;
    private FailedAuthenticationAudit? _aggregator;
    private ApiKeySecret? _secret;
    private CallerAuthenticationMiddleware? _middleware;

    public CallerRateLimitTests(RedisAndDatabase shared) => _shared = shared;

    public async Task InitializeAsync()
    {
        await using (var context = _shared.Database.Contexts.CreateDbContext())
        {
            foreach (var tenant in new[] { OpenTenant, LimitedTenant })
            {
                if (await context.Set<Tenant>().FindAsync(tenant) is null)
                {
                    context.Set<Tenant>().Add(new Tenant(tenant, "T" + tenant.ToString("N"), Plan.CommunityId, null, null, _time.GetUtcNow()));
                }
            }

            await context.SaveChangesAsync();
        }

        _services = new ServiceCollection().AddLogging().AddMetrics().AddProblemDetails()
            .AddScoped(_ => _shared.Database.Contexts.CreateDbContext())
            .BuildServiceProvider();
        var redis = _shared.Connection;
        _invalidation = new AccessInvalidation(redis, NullLogger<AccessInvalidation>.Instance);
        var scopes = _services.GetRequiredService<IServiceScopeFactory>();
        _revocations = new AccessRevocations(scopes, redis, _invalidation, _time, NullLogger<AccessRevocations>.Instance);
        var options = new AccessTokenOptions { Issuer = Issuer, JwksUri = new Uri("http://identity.test/.well-known/jwks") };
#pragma warning disable CA2000 // owned by the validator for the test's lifetime
        var jwks = new JwksCache(new HttpClient(new Jwks(_key)), options, _time, NullLogger<JwksCache>.Instance);
#pragma warning restore CA2000
        _secret = new ApiKeySecret(_platformKey);
        _aggregator = new FailedAuthenticationAudit(_audit, _time, NullLogger<FailedAuthenticationAudit>.Instance);
        _middleware = new CallerAuthenticationMiddleware(
            context =>
            {
                context.Response.StatusCode = 204;
                return Task.CompletedTask;
            },
            new ApiKeyAuthenticator(new ApiKeyDirectory(scopes, _secret, _invalidation, _time), _time),
            new AccessTokenValidator(jwks, options, TimeProvider.System),
            _revocations,
            new Tenants(),
            new RedisRateLimiter(redis, _services.GetRequiredService<IMeterFactory>(), _time, new Mislata.ServiceDefaults.Problems.DependencyOutages(_services.GetRequiredService<IMeterFactory>(), NullLogger<Mislata.ServiceDefaults.Problems.DependencyOutages>.Instance, _time)),
            new NoUsage(),
            new FailedCredentialGuard(
                new FailedCredentialLimiter(redis, Options.Create(new FailedCredentialOptions { PerMinute = FailuresPerMinute }), _time, new Mislata.ServiceDefaults.Problems.DependencyOutages(_services.GetRequiredService<IMeterFactory>(), NullLogger<Mislata.ServiceDefaults.Problems.DependencyOutages>.Instance, _time)),
                _aggregator),
            new RateLimitOptions { DefaultPerCredential = 4 },
            new Mislata.ServiceDefaults.Problems.DependencyOutages(_services.GetRequiredService<IMeterFactory>(), NullLogger<Mislata.ServiceDefaults.Problems.DependencyOutages>.Instance),
            new DpopProofGate(redis, options, _time));
    }

    public async Task DisposeAsync()
    {
        _aggregator?.Dispose();
        _revocations?.Dispose();
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        _platformKey.Dispose();
        _key.Dispose();
    }

    private async Task<string> StoreKeyAsync(Guid tenant, int? perMinute, string[]? allow = null)
    {
        var key = ApiKeySecret.Generate();
        var apiKey = new ApiKey(Guid.NewGuid(), tenant, null, "k", ApiKeySecret.PrefixOf(key), _secret!.Hash(key), [Scopes.KeysRead], null, allow ?? [], perMinute, "test", _time.GetUtcNow());
        await using var context = _shared.Database.Contexts.CreateDbContext();
        context.Set<ApiKey>().Add(apiKey);
        await context.SaveChangesAsync();
        return key;
    }

    private string Token(string subject, Guid tenant) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = Issuer,
        Audience = AccessTokenOptions.Audience,
        Claims = new Dictionary<string, object>
        {
            [ClaimNames.Subject] = subject,
            [ClaimNames.ClientId] = "dashboard",
            [ClaimNames.Role] = Roles.TenantAdmin,
            [ClaimNames.Scope] = "keys:read",
            [ClaimNames.TenantId] = tenant.ToString(),
        },
        IssuedAt = DateTime.UtcNow.AddSeconds(-5),
        Expires = DateTime.UtcNow.AddMinutes(15),
        TokenType = "at+jwt",
        SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(_key) { KeyId = "k1" }, SecurityAlgorithms.EcdsaSha256),
    });

    private sealed record Answer(int Status, string? Error, string? Title, string? Detail, IHeaderDictionary Headers);

    private async Task<Answer> SendAsync(string? apiKey = null, string? bearer = null, IPAddress? from = null)
    {
        var context = new DefaultHttpContext { RequestServices = _services! };
        context.Request.Method = "GET";
        context.Request.Path = "/api/v1/keys";
        context.Connection.RemoteIpAddress = from ?? _address;
        context.Response.Body = new MemoryStream();
        if (apiKey is not null)
        {
            context.Request.Headers["X-Api-Key"] = apiKey;
        }

        if (bearer is not null)
        {
            context.Request.Headers.Authorization = "Bearer " + bearer;
        }

        context.SetEndpoint(new Endpoint(_ => Task.CompletedTask, new EndpointMetadataCollection(new AccessRequirement(Scopes.KeysRead, CallerAudience.Tenant)), "test"));
        await _middleware!.InvokeAsync(context);

        string? error = null, title = null, detail = null;
        if (context.Response.Body.Length > 0)
        {
            context.Response.Body.Position = 0;
            using var problem = await JsonDocument.ParseAsync(context.Response.Body);
            error = problem.RootElement.GetProperty("error").GetString();
            title = problem.RootElement.GetProperty("title").GetString();
            detail = problem.RootElement.GetProperty("detail").GetString();
        }

        return new Answer(context.Response.StatusCode, error, title, detail, context.Response.Headers);
    }

    private static int Header(Answer answer, string name) => int.Parse(answer.Headers[name].ToString(), CultureInfo.InvariantCulture);

    [Fact]
    public async Task An_api_key_over_its_own_per_minute_limit_is_429_rate_limited_with_Retry_After_and_the_RateLimit_headers()
    {
        var key = await StoreKeyAsync(OpenTenant, perMinute: 2);

        var first = await SendAsync(apiKey: key);
        Assert.Equal(204, first.Status);
        Assert.Equal(2, Header(first, "RateLimit-Limit"));
        Assert.Equal(1, Header(first, "RateLimit-Remaining"));
        Assert.InRange(Header(first, "RateLimit-Reset"), 1, 60);
        var second = await SendAsync(apiKey: key);
        Assert.Equal(204, second.Status);
        Assert.Equal(0, Header(second, "RateLimit-Remaining"));

        var third = await SendAsync(apiKey: key);
        Assert.Equal((429, "rate_limited", "Too many requests"), (third.Status, third.Error, third.Title));
        var retryAfter = Header(third, "Retry-After");
        Assert.InRange(retryAfter, 1, 60);
        Assert.Equal(retryAfter, Header(third, "RateLimit-Reset"));
        Assert.Equal(2, Header(third, "RateLimit-Limit"));
        Assert.Equal(0, Header(third, "RateLimit-Remaining"));
        Assert.Equal($"The rate limit of 2 requests per minute is reached; retry after {retryAfter} s.", third.Detail);

        // Another key of the same tenant has its own count.
        Assert.Equal(204, (await SendAsync(apiKey: await StoreKeyAsync(OpenTenant, perMinute: 2))).Status);
    }

    [Fact]
    public async Task A_credential_without_a_limit_of_its_own_gets_the_default_per_credential_limit()
    {
        var token = Token("user-" + Guid.NewGuid().ToString("N"), OpenTenant);
        for (var i = 0; i < 4; i++)
        {
            var answer = await SendAsync(bearer: token);
            Assert.Equal(204, answer.Status);
            Assert.Equal(4, Header(answer, "RateLimit-Limit"));
            Assert.Equal(3 - i, Header(answer, "RateLimit-Remaining"));
        }

        var over = await SendAsync(bearer: token);
        Assert.Equal((429, "rate_limited"), (over.Status, over.Error));
    }

    [Fact]
    public async Task A_tenants_requests_per_minute_bound_all_its_credentials_together_and_the_tighter_bucket_is_reported()
    {
        var a = await StoreKeyAsync(LimitedTenant, perMinute: 100);
        var b = await StoreKeyAsync(LimitedTenant, perMinute: 100);

        var first = await SendAsync(apiKey: a);
        Assert.Equal(204, first.Status);
        Assert.Equal((Tenants.LimitedPerMinute, Tenants.LimitedPerMinute - 1), (Header(first, "RateLimit-Limit"), Header(first, "RateLimit-Remaining")));
        Assert.Equal(204, (await SendAsync(apiKey: b)).Status);
        Assert.Equal(204, (await SendAsync(apiKey: a)).Status);

        var over = await SendAsync(apiKey: b);
        Assert.Equal((429, "rate_limited"), (over.Status, over.Error));
        Assert.Equal(Tenants.LimitedPerMinute, Header(over, "RateLimit-Limit"));
    }

    [Fact]
    public async Task Failed_credentials_from_one_address_are_counted_until_it_is_refused_429_before_any_credential_work()
    {
        var good = await StoreKeyAsync(OpenTenant, perMinute: 100);
        var unknown = ApiKeySecret.Generate();
        for (var i = 0; i < FailuresPerMinute; i++)
        {
            var failed = await SendAsync(apiKey: unknown);
            Assert.Equal((401, "unauthorized", "Unauthorized"), (failed.Status, failed.Error, failed.Title));
        }

        // Even a valid key is not looked at from that address for the rest of the minute.
        var refused = await SendAsync(apiKey: good);
        Assert.Equal((429, "rate_limited"), (refused.Status, refused.Error));
        Assert.InRange(Header(refused, "Retry-After"), 1, 60);
        Assert.False(refused.Headers.ContainsKey("RateLimit-Limit"));

        // Another address is not affected.
        Assert.Equal(204, (await SendAsync(apiKey: good, from: IPAddress.Parse("203.0.113.77"))).Status);

        // Pending aggregated events are written at shutdown.
        await _aggregator!.StopAsync(CancellationToken.None);
        var failures = Assert.Single(_audit.Events, e => e.Details!["credential"] == ApiKeySecret.PrefixOf(unknown));
        Assert.Equal(_address.ToString(), failures.SourceIp);
        Assert.Equal(FailuresPerMinute.ToString(CultureInfo.InvariantCulture), failures.Details!["count"]);
        Assert.Equal("unknown_api_key", failures.Details["reasons"]);
        Assert.Equal("/api/v1/keys", failures.Details["path"]);
        var throttled = Assert.Single(_audit.Events, e => e.Details!["credential"] == ApiKeySecret.PrefixOf(good));
        Assert.Equal("0", throttled.Details!["count"]);
        Assert.Equal("1", throttled.Details["throttled"]);
    }

    [Fact]
    public async Task An_invalid_or_revoked_access_token_is_audited_with_its_own_reason()
    {
        var subject = "user-" + Guid.NewGuid().ToString("N");
        var token = Token(subject, OpenTenant);
        Assert.Equal(204, (await SendAsync(bearer: token)).Status);
        Assert.Equal(401, (await SendAsync(bearer: token + "x")).Status);
        await _invalidation!.PublishAsync($"revoked:sub:{_time.GetUtcNow().AddMinutes(1).ToUnixTimeMilliseconds()}:{subject}");
        var revoked = await SendAsync(bearer: token);
        Assert.Equal((401, "unauthorized"), (revoked.Status, revoked.Error));

        await _aggregator!.StopAsync(CancellationToken.None);
        var e = Assert.Single(_audit.Events);
        Assert.Equal("bearer", e.Details!["credential"]);
        Assert.Equal("2", e.Details["count"]);
        Assert.Equal("invalid_access_token,revoked_access_token", e.Details["reasons"]);
    }

    [Fact]
    public async Task An_api_key_used_from_outside_its_allow_list_is_403_forbidden_and_not_counted_as_a_failed_credential()
    {
        var key = await StoreKeyAsync(OpenTenant, perMinute: 100, allow: ["192.0.2.0/24"]);

        for (var i = 0; i <= FailuresPerMinute; i++)
        {
            var answer = await SendAsync(apiKey: key);
            Assert.Equal((403, "forbidden", "Forbidden"), (answer.Status, answer.Error, answer.Title));
            Assert.Equal("The API key is not allowed from this address.", answer.Detail);
        }

        Assert.Equal(204, (await SendAsync(apiKey: key, from: IPAddress.Parse("192.0.2.10"))).Status);
        await _aggregator!.StopAsync(CancellationToken.None);
        Assert.Empty(_audit.Events);
    }

    private sealed class Tenants : ITenantPlanProvider
    {
        public const int LimitedPerMinute = 3;

        public Task<TenantAccess?> GetAsync(Guid tenantId, CancellationToken cancellationToken) => Task.FromResult<TenantAccess?>(
            new TenantAccess(tenantId, TenantStatus.Active, null, Plan.CommunityId, "community",
                new PlanLimits(null, null, null, null, null, tenantId == LimitedTenant ? LimitedPerMinute : null)));
    }

    private sealed class NoUsage : IUsageMeter
    {
        public Task<OperationsConsumption> TryConsumeOperationsAsync(Guid tenantId, long? limit, int count, CancellationToken cancellationToken) =>
            Task.FromResult(new OperationsConsumption(true, 0, limit, DateTimeOffset.MaxValue));

        public Task<long> OperationsThisPeriodAsync(Guid tenantId, CancellationToken cancellationToken) => Task.FromResult(0L);

        public (DateTimeOffset Start, DateTimeOffset End) CurrentPeriod() => (DateTimeOffset.MinValue, DateTimeOffset.MaxValue);
    }

    private sealed class RecordingAudit : IAuditLog
    {
        private readonly List<AuditEvent> _events = [];

        public IReadOnlyList<AuditEvent> Events => [.. _events];

        public Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
        {
            _events.Add(auditEvent);
            return Task.CompletedTask;
        }
    }

    private sealed class Jwks(ECDsa key) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var jwk = JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(key) { KeyId = "k1" });
            var json = $$"""{"keys":[{"kty":"EC","crv":"P-256","x":"{{jwk.X}}","y":"{{jwk.Y}}","kid":"k1","use":"sig","alg":"ES256"}]}""";
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json) });
        }
    }
}
