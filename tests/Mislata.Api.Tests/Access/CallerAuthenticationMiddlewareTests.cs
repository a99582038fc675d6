using System.Diagnostics.Metrics;
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
using Mislata.Core.Audit;
using Mislata.Core.Tenants;
using Mislata.Core.Usage;
using Mislata.Crypto.Envelope;
using Mislata.Infrastructure.Abuse;
using Mislata.Infrastructure.Access;
using Mislata.Infrastructure.ApiKeys;
using Mislata.Infrastructure.RateLimiting;
using StackExchange.Redis;

namespace Mislata.Api.Tests.Access;

/// <summary>
/// The api's access gate on one request, with real validators and an in-memory JWKS (Redis down: the rate limits fail
/// open, which the fail-open tests cover): the order of refusals 401 → 403 suspended → 403 scope → 403 audience → 429
/// quota, each as problem+json, and the caller handed to the endpoint only when everything passed.
/// </summary>
public sealed class CallerAuthenticationMiddlewareTests : IAsyncLifetime
{
    private const string Issuer = "https://mislata.example";
    private static readonly Guid ActiveTenant = Guid.Parse("dddddddd-0000-0000-0000-000000000001");
    private static readonly Guid SuspendedTenant = Guid.Parse("dddddddd-0000-0000-0000-000000000002");
    private static readonly Guid QuotaTenant = Guid.Parse("dddddddd-0000-0000-0000-000000000003");
    private static readonly Guid RedisDownTenant = Guid.Parse("dddddddd-0000-0000-0000-000000000004");
    private static readonly Guid GoneTenant = Guid.Parse("dddddddd-0000-0000-0000-000000000009");

    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly PlatformKey _platformKey = PlatformKey.Generate();
    private readonly Usage _usage = new();
    private ServiceProvider? _services;
    private ConnectionMultiplexer? _redisDown;
    private AccessRevocations? _revocations;
    private AccessInvalidation? _invalidation;
    private CallerAuthenticationMiddleware? _middleware;
    private Caller? _reached;

    public async Task InitializeAsync()
    {
        // Nothing listens on port 1: the multiplexer stays disconnected.
        _redisDown = await ConnectionMultiplexer.ConnectAsync("127.0.0.1:1,abortConnect=false,connectTimeout=200,connectRetry=0");
        _services = new ServiceCollection().AddLogging().AddMetrics().AddProblemDetails().BuildServiceProvider();
        var invalidation = _invalidation = new AccessInvalidation(_redisDown, NullLogger<AccessInvalidation>.Instance);
        var scopes = _services.GetRequiredService<IServiceScopeFactory>();
        _revocations = new AccessRevocations(scopes, _redisDown, invalidation, _time, NullLogger<AccessRevocations>.Instance);
        var options = new AccessTokenOptions { Issuer = Issuer, JwksUri = new Uri("http://identity.test/.well-known/jwks") };
#pragma warning disable CA2000 // owned by the validator for the test's lifetime
        var jwks = new JwksCache(new HttpClient(new Jwks(_key)), options, _time, NullLogger<JwksCache>.Instance);
#pragma warning restore CA2000
        _middleware = new CallerAuthenticationMiddleware(
            context =>
            {
                _reached = context.Features.Get<Caller>();
                context.Response.StatusCode = 204;
                return Task.CompletedTask;
            },
            new ApiKeyAuthenticator(new ApiKeyDirectory(scopes, new ApiKeySecret(_platformKey), invalidation, _time), _time),
            new AccessTokenValidator(jwks, options, TimeProvider.System),
            _revocations,
            new Tenants(),
            new RedisRateLimiter(_redisDown, _services.GetRequiredService<IMeterFactory>(), _time, new Mislata.ServiceDefaults.Problems.DependencyOutages(_services.GetRequiredService<IMeterFactory>(), NullLogger<Mislata.ServiceDefaults.Problems.DependencyOutages>.Instance, _time)),
            _usage,
            new FailedCredentialGuard(
                new FailedCredentialLimiter(_redisDown, Options.Create(new FailedCredentialOptions()), _time, new Mislata.ServiceDefaults.Problems.DependencyOutages(_services.GetRequiredService<IMeterFactory>(), NullLogger<Mislata.ServiceDefaults.Problems.DependencyOutages>.Instance, _time)),
                new FailedAuthenticationAudit(new NoAudit(), _time, NullLogger<FailedAuthenticationAudit>.Instance)),
            new RateLimitOptions(),
            new Mislata.ServiceDefaults.Problems.DependencyOutages(_services.GetRequiredService<IMeterFactory>(), NullLogger<Mislata.ServiceDefaults.Problems.DependencyOutages>.Instance),
            new DpopProofGate(_redisDown, options, _time));
    }

    public async Task DisposeAsync()
    {
        _revocations?.Dispose();
        _redisDown?.Dispose();
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        _platformKey.Dispose();
        _key.Dispose();
    }

    private string Token(string subject, Guid? tenant, string role, string scope)
    {
        var claims = new Dictionary<string, object>
        {
            [ClaimNames.Subject] = subject,
            [ClaimNames.ClientId] = "dashboard",
            [ClaimNames.Role] = role,
            [ClaimNames.Scope] = scope,
        };
        if (tenant is { } t)
        {
            claims[ClaimNames.TenantId] = t.ToString();
        }

        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = AccessTokenOptions.Audience,
            Claims = claims,
            IssuedAt = DateTime.UtcNow.AddSeconds(-5),
            Expires = DateTime.UtcNow.AddMinutes(15),
            TokenType = "at+jwt",
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(_key) { KeyId = "k1" }, SecurityAlgorithms.EcdsaSha256),
        });
    }

    private string TenantAdmin(Guid tenant) => Token("user-1", tenant, Roles.TenantAdmin, "keys:read keys:write");

    private sealed record Answer(int Status, string? Error, string? Detail, string WwwAuthenticate, string RetryAfter, Caller? Caller, string? Title = null, bool RateLimitHeaders = false);

    private async Task<Answer> SendAsync(AccessRequirement? requirement, string? bearer = null, string? apiKey = null, string method = "POST")
    {
        _reached = null;
        var context = new DefaultHttpContext { RequestServices = _services! };
        context.Request.Method = method;
        context.Connection.RemoteIpAddress = IPAddress.Parse("198.51.100.20");
        context.Response.Body = new MemoryStream();
        if (bearer is not null)
        {
            context.Request.Headers.Authorization = "Bearer " + bearer;
        }

        if (apiKey is not null)
        {
            context.Request.Headers["X-Api-Key"] = apiKey;
        }

        var metadata = requirement is null ? new EndpointMetadataCollection() : new EndpointMetadataCollection(requirement);
        context.SetEndpoint(new Endpoint(_ => Task.CompletedTask, metadata, "test"));
        await _middleware!.InvokeAsync(context);

        string? error = null, detail = null, title = null;
        if (context.Response.Body.Length > 0)
        {
            context.Response.Body.Position = 0;
            using var problem = await JsonDocument.ParseAsync(context.Response.Body);
            error = problem.RootElement.GetProperty("error").GetString();
            detail = problem.RootElement.GetProperty("detail").GetString();
            title = problem.RootElement.GetProperty("title").GetString();
        }

        var headers = context.Response.Headers;
        var rateLimitHeaders = headers.ContainsKey("RateLimit-Limit") || headers.ContainsKey("RateLimit-Remaining") || headers.ContainsKey("RateLimit-Reset");
        return new Answer(context.Response.StatusCode, error, detail, headers.WWWAuthenticate.ToString(), headers.RetryAfter.ToString(), _reached, title, rateLimitHeaders);
    }

    [Fact]
    public async Task An_endpoint_without_an_access_requirement_is_passed_through_without_a_caller()
    {
        var answer = await SendAsync(null);
        Assert.Equal(204, answer.Status);
        Assert.Null(answer.Error);
        Assert.Null(answer.Caller);
        Assert.Throws<InvalidOperationException>(() => new DefaultHttpContext().GetCaller());
    }

    [Fact]
    public async Task No_credential_or_an_invalid_one_is_401_with_a_bearer_challenge_and_never_reaches_the_endpoint()
    {
        var requirement = new AccessRequirement(Scopes.KeysRead, CallerAudience.Tenant);
        var none = await SendAsync(requirement);
        Assert.Equal((401, "unauthorized", "Unauthorized"), (none.Status, none.Error, none.Title));
        Assert.Equal("An API key (X-Api-Key) or a Bearer access token is required.", none.Detail);
        Assert.Equal("Bearer realm=\"mislata\"", none.WwwAuthenticate);
        Assert.Null(none.Caller);

        foreach (var answer in new[]
        {
            await SendAsync(requirement, apiKey: "qapi_malformed"),
            await SendAsync(requirement, bearer: "not-a-jwt"),
            await SendAsync(requirement, bearer: Token("user-1", ActiveTenant, Roles.TenantAdmin, "keys:read") + "x"),
        })
        {
            Assert.Equal((401, "unauthorized", "Unauthorized"), (answer.Status, answer.Error, answer.Title));
            Assert.Equal("The credential is not valid.", answer.Detail);
            Assert.Equal("Bearer realm=\"mislata\", error=\"invalid_token\"", answer.WwwAuthenticate);
            Assert.Null(answer.Caller);
        }
    }

    [Fact]
    public async Task A_token_issued_before_its_subject_was_revoked_is_401()
    {
        var token = TenantAdmin(ActiveTenant);
        Assert.Equal(204, (await SendAsync(new AccessRequirement(Scopes.KeysRead, CallerAudience.Tenant), token)).Status);
        // As identity announces it ("revoked:{kind}:{not-before ms}:{value}"); with Redis down it applies locally.
        await _invalidation!.PublishAsync($"revoked:sub:{_time.GetUtcNow().AddMinutes(1).ToUnixTimeMilliseconds()}:user-1");
        var answer = await SendAsync(new AccessRequirement(Scopes.KeysRead, CallerAudience.Tenant), token);
        Assert.Equal((401, "unauthorized"), (answer.Status, answer.Error));
        Assert.Null(answer.Caller);
    }

    [Fact]
    public async Task A_deleted_tenant_is_401_and_a_suspended_one_403_before_the_scope_is_looked_at()
    {
        var requirement = new AccessRequirement(Scopes.AuditRead, CallerAudience.Tenant);
        var gone = await SendAsync(requirement, TenantAdmin(GoneTenant));
        Assert.Equal((401, "unauthorized", "The credential's tenant no longer exists.", "Unauthorized"), (gone.Status, gone.Error, gone.Detail, gone.Title));
        Assert.Equal("Bearer realm=\"mislata\", error=\"invalid_token\"", gone.WwwAuthenticate);

        var suspended = await SendAsync(requirement, TenantAdmin(SuspendedTenant));
        Assert.Equal((403, "forbidden", "The tenant is suspended.", "Forbidden"), (suspended.Status, suspended.Error, suspended.Detail, suspended.Title));
        Assert.Null(suspended.Caller);
    }

    [Fact]
    public async Task A_missing_scope_is_403_insufficient_scope_naming_it_and_a_wrong_audience_403_forbidden()
    {
        var scope = await SendAsync(new AccessRequirement(Scopes.AuditRead, CallerAudience.Tenant), TenantAdmin(ActiveTenant));
        Assert.Equal((403, "insufficient_scope", "This operation needs the scope audit:read.", "Insufficient scope"), (scope.Status, scope.Error, scope.Detail, scope.Title));
        Assert.Equal("Bearer realm=\"mislata\", error=\"insufficient_scope\", scope=\"audit:read\"", scope.WwwAuthenticate);
        Assert.Null(scope.Caller);

        var audience = await SendAsync(new AccessRequirement(Scopes.KeysRead, CallerAudience.Platform), TenantAdmin(ActiveTenant));
        Assert.Equal((403, "forbidden", "This endpoint is for platform operators.", "Forbidden"), (audience.Status, audience.Error, audience.Detail, audience.Title));
        Assert.Null(audience.Caller);
    }

    [Fact]
    public async Task A_caller_that_passes_every_check_reaches_the_endpoint_with_its_identity_and_honoured_scopes()
    {
        var answer = await SendAsync(new AccessRequirement(Scopes.KeysWrite, CallerAudience.Tenant), TenantAdmin(ActiveTenant));
        Assert.Equal(204, answer.Status);
        Assert.Null(answer.Error);
        Assert.NotNull(answer.Caller);
        Assert.Equal("user-1", answer.Caller.ActorId);
        Assert.Equal(ActiveTenant, answer.Caller.TenantId);
        Assert.Equal(["keys:read", "keys:write"], answer.Caller.Scopes.Order(StringComparer.Ordinal));
        Assert.Equal(CredentialKind.AccessToken, answer.Caller.Kind);
        Assert.Equal([ActiveTenant], _usage.Consumed);
    }

    [Fact]
    public async Task Writes_over_the_monthly_quota_are_429_while_reads_still_pass_and_a_quota_store_outage_lets_writes_through()
    {
        var requirement = new AccessRequirement(Scopes.KeysRead, CallerAudience.Tenant);
        var over = await SendAsync(requirement, TenantAdmin(QuotaTenant));
        Assert.Equal((429, "quota_exceeded", "Quota exceeded"), (over.Status, over.Error, over.Title));
        Assert.StartsWith("The plan's 1000 operations for this month are used up; the period ends 2026-12-01T00:00:00.0000000+00:00", over.Detail, StringComparison.Ordinal);
        Assert.Null(over.Caller);

        var read = await SendAsync(requirement, TenantAdmin(QuotaTenant), method: "GET");
        Assert.Equal(204, read.Status);
        var head = await SendAsync(requirement, TenantAdmin(QuotaTenant), method: "HEAD");
        Assert.Equal(204, head.Status);
        Assert.Equal([QuotaTenant], _usage.Consumed);

        Assert.Equal(204, (await SendAsync(requirement, TenantAdmin(RedisDownTenant))).Status);
    }

    [Fact]
    public async Task With_Redis_down_the_rate_limits_fail_open_and_no_RateLimit_headers_are_sent()
    {
        var answer = await SendAsync(new AccessRequirement(Scopes.KeysRead, CallerAudience.Tenant), TenantAdmin(ActiveTenant));
        Assert.Equal(204, answer.Status);
        Assert.False(answer.RateLimitHeaders);
        Assert.Equal(string.Empty, answer.RetryAfter);
    }

    [Fact]
    public void The_audit_actor_of_a_request_is_its_caller_address_and_request_id_and_a_null_context_is_refused()
    {
        var context = new DefaultHttpContext { TraceIdentifier = "trace-7" };
        context.Connection.RemoteIpAddress = IPAddress.Parse("192.0.2.44");
        context.Features.Set(new Caller { Kind = CredentialKind.ApiKey, ActorType = AuditActorType.ApiKey, ActorId = "key-1", TenantId = ActiveTenant, Scopes = new HashSet<string>() });

        Assert.Equal(new RequestActor(AuditActorType.ApiKey, "key-1", "192.0.2.44", "trace-7"), context.GetActor());
        Assert.Equal("key-1", context.GetCaller().ActorId);
        Assert.Throws<ArgumentNullException>(() => ((HttpContext)null!).GetCaller());
        Assert.Throws<ArgumentNullException>(() => ((HttpContext)null!).GetActor());
    }

    [Fact]
    public void A_client_token_with_an_empty_subject_acts_as_its_client_id()
    {
        var identity = new System.Security.Claims.ClaimsIdentity(
        [
            new System.Security.Claims.Claim(ClaimNames.Subject, string.Empty),
            new System.Security.Claims.Claim(ClaimNames.ClientId, "ci-client"),
            new System.Security.Claims.Claim(ClaimNames.TenantId, ActiveTenant.ToString()),
            new System.Security.Claims.Claim(ClaimNames.Scope, "keys:read"),
        ]);

        var (caller, refusal) = CallerAuthenticationMiddleware.FromAccessToken(identity);

        Assert.Null(refusal);
        Assert.Equal(AuditActorType.Client, caller!.ActorType);
        Assert.Equal("ci-client", caller.ActorId);
        Assert.Equal("ci-client", caller.ClientId);
        Assert.Equal("sub:ci-client", caller.CredentialId);
    }

    private sealed class Tenants : ITenantPlanProvider
    {
        private static readonly PlanLimits Limits = new(null, null, null, null, 1000, null);

        public Task<TenantAccess?> GetAsync(Guid tenantId, CancellationToken cancellationToken) => Task.FromResult(
            tenantId == GoneTenant ? null
            : new TenantAccess(tenantId, tenantId == SuspendedTenant ? TenantStatus.Suspended : TenantStatus.Active, null, Plan.CommunityId, "community", Limits));
    }

    private sealed class Usage : IUsageMeter
    {
        public List<Guid> Consumed { get; } = [];

        public Task<OperationsConsumption> TryConsumeOperationsAsync(Guid tenantId, long? limit, int count, CancellationToken cancellationToken)
        {
            Consumed.Add(tenantId);
            if (tenantId == RedisDownTenant)
            {
                throw new TimeoutException("The quota store did not answer.");
            }

            return Task.FromResult(new OperationsConsumption(tenantId != QuotaTenant, 1000, limit, new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero)));
        }

        public Task<long> OperationsThisPeriodAsync(Guid tenantId, CancellationToken cancellationToken) => Task.FromResult(0L);

        public (DateTimeOffset Start, DateTimeOffset End) CurrentPeriod() => (DateTimeOffset.MinValue, DateTimeOffset.MaxValue);
    }

    private sealed class NoAudit : IAuditLog
    {
        public Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken) => Task.CompletedTask;
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
