using System.Net;
using Mislata.EndToEnd.Tests.Identity;
using Mislata.EndToEnd.Tests.Tenancy;

namespace Mislata.EndToEnd.Tests.Revocation;

/// <summary>
/// Issue 8 "revocation everywhere, at once": the api validates access tokens locally, yet a token issued before its
/// user was deleted, demoted or blocked, or before its application was deleted or re-keyed, is refused by both api
/// replicas and by identity's management API within one second — and unblocking does not revive it.
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class AccessRevocationTests(TenancyFixture fixture)
{
    private static readonly TimeSpan OneSecond = TimeSpan.FromSeconds(1);
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task A_deleted_users_access_token_is_refused_by_every_replica_within_one_second()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (userId, token) = await Credentials.SignedInUserAsync(_stack, op, await Oidc.CreateTenantAsync(_stack, op));
        var probe = Credentials.UserProbe(userId, token);
        await Credentials.AssertAcceptedEverywhereAsync(_stack, probe);

        var (deleted, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Delete, "/api/v1/users/" + userId, op);
        Assert.True(deleted == HttpStatusCode.NoContent, $"delete: {(int)deleted} {body}");

        await Credentials.AssertRefusedEverywhereAsync(_stack, probe, OneSecond);
    }

    [Fact]
    public async Task A_demoted_users_access_token_is_refused_by_every_replica_within_one_second_and_a_promotion_revokes_nothing()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (userId, token) = await Credentials.SignedInUserAsync(_stack, op, await Oidc.CreateTenantAsync(_stack, op));
        var probe = Credentials.UserProbe(userId, token);

        // A role added: nothing the token claims was taken away.
        var (added, addedBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Patch, "/api/v1/users/" + userId, op, new { roles = new[] { "tenant-admin", "auditor" } });
        Assert.True(added == HttpStatusCode.OK, $"patch: {(int)added} {addedBody}");
        await Credentials.AssertAcceptedEverywhereAsync(_stack, probe);

        var (demoted, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Patch, "/api/v1/users/" + userId, op, new { roles = new[] { "tenant-member" } });
        Assert.True(demoted == HttpStatusCode.OK, $"patch: {(int)demoted} {body}");

        await Credentials.AssertRefusedEverywhereAsync(_stack, probe, OneSecond);
    }

    [Fact]
    public async Task Removing_a_users_role_membership_refuses_its_access_token_on_every_replica_within_one_second()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (userId, token) = await Credentials.SignedInUserAsync(_stack, op, await Oidc.CreateTenantAsync(_stack, op));
        var probe = Credentials.UserProbe(userId, token);
        var (assigned, _, _) = await Oidc.ApiAsync(_stack, HttpMethod.Put, $"/api/v1/roles/auditor/members/{userId}", op);
        Assert.Equal(HttpStatusCode.NoContent, assigned);
        await Credentials.AssertAcceptedEverywhereAsync(_stack, probe);

        var (removed, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Delete, $"/api/v1/roles/tenant-admin/members/{userId}", op);
        Assert.True(removed == HttpStatusCode.NoContent, $"remove member: {(int)removed} {body}");

        await Credentials.AssertRefusedEverywhereAsync(_stack, probe, OneSecond);
    }

    [Fact]
    public async Task A_blocked_users_access_token_is_refused_on_every_replica_within_one_second_and_unblocking_does_not_revive_it()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenantId = await Oidc.CreateTenantAsync(_stack, op);
        var email = Oidc.NewEmail("blocked");
        var password = Oidc.StrongPassword();
        var user = await Oidc.CreateUserAsync(_stack, op, email, password, ["tenant-admin"], tenantId);
        var userId = user.GetProperty("id").GetString()!;
        var clientId = await Oidc.CreatePublicAppAsync(_stack, op, tenantId, Credentials.UserScope);
        var before = Credentials.UserProbe(userId, await SignInAsync(clientId, email, password));
        await Credentials.AssertAcceptedEverywhereAsync(_stack, before);

        var (blocked, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/users/{userId}/block", op);
        Assert.True(blocked == HttpStatusCode.OK, $"block: {(int)blocked} {body}");
        var blockedAt = DateTimeOffset.UtcNow;
        await Credentials.AssertRefusedEverywhereAsync(_stack, before, OneSecond);

        var (unblocked, unblockBody, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/users/{userId}/unblock", op);
        Assert.True(unblocked == HttpStatusCode.OK, $"unblock: {(int)unblocked} {unblockBody}");

        // A new sign-in after the unblock works everywhere (iat counts whole seconds: past the block's second)…
        await Credentials.NextSecondAsync(blockedAt);
        var after = Credentials.UserProbe(userId, await SignInAsync(clientId, email, password));
        await Credentials.AssertAcceptedEverywhereAsync(_stack, after);

        // …by which time an unblock that lifted the old not-before would have reached every replica: the old token
        // stays refused.
        await Credentials.AssertRefusedEverywhereAsync(_stack, before, TimeSpan.Zero);
    }

    [Fact]
    public async Task A_deleted_applications_access_token_is_refused_on_every_replica_within_one_second()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (id, clientId, secret) = await Credentials.PlatformApplicationAsync(_stack, op);
        var probe = Credentials.ApplicationProbe(await Oidc.ClientCredentialsAsync(_stack, clientId, secret));
        await Credentials.AssertAcceptedEverywhereAsync(_stack, probe);

        var (deleted, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Delete, "/api/v1/applications/" + id, op);
        Assert.True(deleted == HttpStatusCode.NoContent, $"delete application: {(int)deleted} {body}");

        await Credentials.AssertRefusedEverywhereAsync(_stack, probe, OneSecond);
    }

    [Fact]
    public async Task Rotating_an_applications_secret_refuses_its_outstanding_access_token_on_every_replica_within_one_second()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var (id, clientId, secret) = await Credentials.PlatformApplicationAsync(_stack, op);
        var probe = Credentials.ApplicationProbe(await Oidc.ClientCredentialsAsync(_stack, clientId, secret));
        await Credentials.AssertAcceptedEverywhereAsync(_stack, probe);

        var (rotated, body, _) = await Oidc.ApiAsync(_stack, HttpMethod.Post, $"/api/v1/applications/{id}/secret", op);
        Assert.True(rotated == HttpStatusCode.OK, $"rotate: {(int)rotated} {body}");
        var rotatedAt = DateTimeOffset.UtcNow;

        await Credentials.AssertRefusedEverywhereAsync(_stack, probe, OneSecond);

        // The new secret's tokens work (issued in a later second than the rotation).
        await Credentials.NextSecondAsync(rotatedAt);
        var fresh = await Oidc.ClientCredentialsAsync(_stack, clientId, body.GetProperty("clientSecret").GetString()!);
        await Credentials.AssertAcceptedEverywhereAsync(_stack, Credentials.ApplicationProbe(fresh));
    }

    private async Task<string> SignInAsync(string clientId, string email, string password)
    {
        using var browser = new Browser(_stack);
        await Oidc.SignInAsync(browser, await browser.NavigateAsync("/account/login"), email, password);
        var (verifier, challenge) = Oidc.Pkce();
        var code = await Oidc.AuthorizeAsync(browser, clientId, Credentials.UserScope, challenge);
        var (status, tokens) = await Oidc.RedeemAsync(_stack, clientId, code, verifier);
        Assert.True(status == HttpStatusCode.OK, $"redeem: {(int)status} {tokens}");
        return tokens.GetProperty("access_token").GetString()!;
    }
}
