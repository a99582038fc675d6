using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Mislata.Core.Access;
using Mislata.Core.Audit;
using Mislata.Identity.Features.Auditing;
using Mislata.Identity.Features.Server;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Mislata.Identity.Tests.Server;

/// <summary>
/// A redeemed refresh token or authorization code presented again revokes its whole authorization (RFC 9700 §4.14.2,
/// RFC 6749 §4.1.2) and is audited as <c>token.reuse_detected</c>; a refresh token replayed within OpenIddict's reuse
/// leeway (a client's own network retry) does not; nothing else at the token endpoint is touched.
/// </summary>
public sealed class RevokeFamilyOnReplayTests
{
    private const string TokenId = "token-1";
    private const string AuthorizationId = "authz-1";
    private static readonly Guid Tenant = Guid.Parse("cccccccc-0000-0000-0000-000000000001");
    private readonly object _token = new();
    private readonly object _authorization = new();
    private readonly RecordingAuditLog _log = new();
    private readonly IOpenIddictTokenManager _tokens;
    private readonly Fake<IOpenIddictTokenManager> _tokenCalls;
    private readonly IOpenIddictAuthorizationManager _authorizations;
    private readonly Fake<IOpenIddictAuthorizationManager> _authorizationCalls;
    private string _status = Statuses.Redeemed;
    private DateTimeOffset? _redeemedAt = DateTimeOffset.UtcNow.AddMinutes(-5);
    private bool _authorizationExists = true;

    public RevokeFamilyOnReplayTests()
    {
        (_tokens, _tokenCalls) = Fake<IOpenIddictTokenManager>.Create();
        _tokenCalls
            .On(nameof(IOpenIddictTokenManager.FindByIdAsync), a => new ValueTask<object?>((string)a[0]! == TokenId ? _token : null))
            .On(nameof(IOpenIddictTokenManager.HasStatusAsync), a => new ValueTask<bool>(ReferenceEquals(a[0], _token) && (string)a[1]! == _status))
            .On(nameof(IOpenIddictTokenManager.GetRedemptionDateAsync), _ => new ValueTask<DateTimeOffset?>(_redeemedAt));
        (_authorizations, _authorizationCalls) = Fake<IOpenIddictAuthorizationManager>.Create();
        _authorizationCalls
            .On(nameof(IOpenIddictAuthorizationManager.FindByIdAsync), a => new ValueTask<object?>(_authorizationExists && (string)a[0]! == AuthorizationId ? _authorization : null))
            .On(nameof(IOpenIddictAuthorizationManager.TryRevokeAsync), _ => new ValueTask<bool>(true));
    }

    private RevokeFamilyOnReplay Handler() =>
        new(_tokens, _authorizations, new IdentityAudit(_log, new HttpContextAccessor()), NullLogger<RevokeFamilyOnReplay>.Instance);

    private static ValidateTokenContext Context(
        string tokenType = TokenTypeIdentifiers.RefreshToken,
        OpenIddictServerEndpointType endpoint = OpenIddictServerEndpointType.Token,
        TimeSpan? leeway = null,
        bool withLeeway = true,
        string? tokenId = TokenId,
        string? authorizationId = AuthorizationId,
        string? subject = "user-1",
        string? tenant = null)
    {
        var options = new OpenIddictServerOptions { RefreshTokenReuseLeeway = withLeeway ? leeway ?? TimeSpan.FromSeconds(30) : null };
        var transaction = new OpenIddictServerTransaction
        {
            EndpointType = endpoint,
            Options = options,
            Request = new OpenIddictRequest { ClientId = "dashboard" },
            Logger = NullLogger.Instance,
        };
        var identity = new ClaimsIdentity("test");
        if (subject is not null)
        {
            identity.AddClaim(new Claim(Claims.Subject, subject));
        }

        identity.AddClaim(new Claim(ClaimNames.TenantId, tenant ?? Tenant.ToString()));
        var principal = new ClaimsPrincipal(identity);
        principal.SetTokenType(tokenType);
        return new ValidateTokenContext(transaction)
        {
            Principal = principal,
            TokenId = tokenId,
            AuthorizationId = authorizationId,
        };
    }

    [Fact]
    public async Task A_redeemed_refresh_token_presented_after_the_leeway_revokes_its_authorization_and_is_audited()
    {
        await Handler().HandleAsync(Context());

        Assert.Equal(1, _authorizationCalls.CountOf(nameof(IOpenIddictAuthorizationManager.TryRevokeAsync)));
        Assert.Same(_authorization, _authorizationCalls.Calls.Single(c => c.Method == nameof(IOpenIddictAuthorizationManager.TryRevokeAsync)).Arguments[0]);
        var e = Assert.Single(_log.Events);
        Assert.Equal(AuditActions.TokenReuseDetected, e.Action);
        Assert.Equal(AuditOutcome.Denied, e.Outcome);
        Assert.Equal(AuditActorType.User, e.ActorType);
        Assert.Equal("user-1", e.ActorId);
        Assert.Equal(Tenant, e.TenantId);
        Assert.Equal("authorization", e.ResourceType);
        Assert.Equal(AuthorizationId, e.ResourceId);
        Assert.Equal(Errors.InvalidGrant, e.ErrorCode);
        Assert.Equal("dashboard", e.Details!["client_id"]);
        Assert.Equal("refresh_token", e.Details["token"]);
    }

    [Fact]
    public async Task A_refresh_token_replayed_within_the_reuse_leeway_or_without_a_redemption_date_is_left_to_OpenIddict()
    {
        _redeemedAt = DateTimeOffset.UtcNow.AddSeconds(-5);
        await Handler().HandleAsync(Context(leeway: TimeSpan.FromMinutes(1)));
        _redeemedAt = null;
        await Handler().HandleAsync(Context());

        Assert.Equal(0, _authorizationCalls.CountOf(nameof(IOpenIddictAuthorizationManager.TryRevokeAsync)));
        Assert.Empty(_log.Events);

        // The same replay once the leeway is over.
        _redeemedAt = DateTimeOffset.UtcNow.AddMinutes(-2);
        await Handler().HandleAsync(Context(leeway: TimeSpan.FromMinutes(1)));
        Assert.Equal(1, _authorizationCalls.CountOf(nameof(IOpenIddictAuthorizationManager.TryRevokeAsync)));
    }

    [Fact]
    public async Task Without_a_reuse_leeway_any_replay_of_a_refresh_token_revokes_its_authorization()
    {
        _redeemedAt = DateTimeOffset.UtcNow;
        await Handler().HandleAsync(Context(withLeeway: false));

        Assert.Equal(1, _authorizationCalls.CountOf(nameof(IOpenIddictAuthorizationManager.TryRevokeAsync)));
        Assert.Equal(0, _tokenCalls.CountOf(nameof(IOpenIddictTokenManager.GetRedemptionDateAsync)));
    }

    [Fact]
    public async Task A_replayed_authorization_code_revokes_its_authorization_even_within_the_refresh_leeway()
    {
        _redeemedAt = DateTimeOffset.UtcNow;
        await Handler().HandleAsync(Context(TokenTypeIdentifiers.Private.AuthorizationCode));

        Assert.Equal(1, _authorizationCalls.CountOf(nameof(IOpenIddictAuthorizationManager.TryRevokeAsync)));
        Assert.Equal("code", Assert.Single(_log.Events).Details!["token"]);
    }

    [Fact]
    public async Task A_token_not_yet_redeemed_or_unknown_is_not_a_replay()
    {
        _status = Statuses.Valid;
        await Handler().HandleAsync(Context());
        _status = Statuses.Redeemed;
        await Handler().HandleAsync(Context(tokenId: "token-unknown"));

        Assert.Equal(0, _authorizationCalls.CountOf(nameof(IOpenIddictAuthorizationManager.FindByIdAsync)));
        Assert.Empty(_log.Events);
    }

    [Fact]
    public async Task Nothing_but_a_refresh_token_or_code_with_a_token_and_authorization_id_at_the_token_endpoint_is_looked_at()
    {
        var contexts = new[]
        {
            Context(endpoint: OpenIddictServerEndpointType.Introspection),
            Context(TokenTypeIdentifiers.AccessToken),
            Context(tokenId: null),
            Context(tokenId: string.Empty),
            Context(authorizationId: null),
            Context(authorizationId: string.Empty),
        };
        var withoutPrincipal = Context();
        withoutPrincipal.Principal = null;

        foreach (var context in contexts.Append(withoutPrincipal))
        {
            await Handler().HandleAsync(context);
        }

        Assert.Empty(_tokenCalls.Calls);
        Assert.Empty(_authorizationCalls.Calls);
        Assert.Empty(_log.Events);
    }

    [Fact]
    public async Task A_replay_is_audited_even_when_its_authorization_is_already_gone_without_a_subject_or_a_valid_tenant()
    {
        _authorizationExists = false;
        await Handler().HandleAsync(Context(subject: null, tenant: "not-a-guid"));

        Assert.Equal(0, _authorizationCalls.CountOf(nameof(IOpenIddictAuthorizationManager.TryRevokeAsync)));
        var e = Assert.Single(_log.Events);
        Assert.Equal("unknown", e.ActorId);
        Assert.Null(e.TenantId);
    }

    [Fact]
    public async Task An_audit_log_outage_does_not_undo_the_revocation_nor_fail_the_request()
    {
        _log.Unavailable = true;

        await Handler().HandleAsync(Context());

        Assert.Equal(1, _authorizationCalls.CountOf(nameof(IOpenIddictAuthorizationManager.TryRevokeAsync)));
        Assert.Empty(_log.Events);
    }

    [Fact]
    public void The_handler_runs_before_OpenIddicts_token_entry_check_which_ends_the_pipeline_for_a_redeemed_token() =>
        Assert.True(RevokeFamilyOnReplay.Descriptor.Order < OpenIddictServerHandlers.Protection.ValidateTokenEntry.Descriptor.Order);

    [Fact]
    public async Task A_replay_without_a_request_is_audited_with_an_empty_client_id()
    {
        var context = Context();
        context.Transaction.Request = null;

        await Handler().HandleAsync(context);

        Assert.Equal(string.Empty, Assert.Single(_log.Events).Details!["client_id"]);
    }

    [Fact]
    public async Task A_null_context_is_refused()
    {
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await Handler().HandleAsync(null!));
    }

    private sealed class RecordingAuditLog : IAuditLog
    {
        private readonly List<AuditEvent> _events = [];

        public bool Unavailable { get; set; }

        public IReadOnlyList<AuditEvent> Events => _events;

        public Task RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
        {
            if (Unavailable)
            {
                throw new AuditUnavailableException("down");
            }

            _events.Add(auditEvent);
            return Task.CompletedTask;
        }
    }
}
