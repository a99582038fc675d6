using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Tenancy;

/// <summary>
/// Partners within limits (issue 8): tenants only on plans marked <c>availableToPartners</c>; partner API keys listed,
/// revoked, and expiring by default (90 days, at most 365).
/// </summary>
[Collection(TenancyCollection.Name)]
public sealed class PartnerPlansAndKeysTests(TenancyFixture fixture)
{
    private async Task<Guid> PartnerAsync()
    {
        using var op = fixture.Operator();
        using var created = await op.PostAsJsonAsync(new Uri("/api/v1/admin/partners", UriKind.Relative), new { name = "p-" + Guid.NewGuid().ToString("N")[..8], maxTenants = 5 });
        var body = await created.Content.ReadAsStringAsync();
        Assert.True(created.StatusCode == HttpStatusCode.Created, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("id").GetGuid();
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> CreatePartnerKeyAsync(Guid partner, object request)
    {
        using var op = fixture.Operator();
        using var response = await op.PostAsJsonAsync(new Uri($"/api/v1/admin/partners/{partner}/api-keys", UriKind.Relative), request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static async Task<(HttpStatusCode Status, string Error)> CreateTenantAsync(HttpClient partner, string? planId)
    {
        using var response = await partner.PostAsJsonAsync(new Uri("/api/v1/partner/tenants", UriKind.Relative), new { name = "pt-" + Guid.NewGuid().ToString("N")[..10], planId });
        return (response.StatusCode, response.StatusCode == HttpStatusCode.Created ? string.Empty : await TenancyFixture.ErrorCodeAsync(response));
    }

    [Fact]
    public async Task A_partner_creates_tenants_only_on_plans_available_to_partners()
    {
        var partner = await PartnerAsync();
        var (_, keyBody) = await CreatePartnerKeyAsync(partner, new { name = "portal" });
        using var portal = fixture.WithKey(keyBody.GetProperty("key").GetString());

        using var op = fixture.Operator();
        var code = "partner-test-" + Guid.NewGuid().ToString("N")[..8];
        using var planResponse = await op.PostAsJsonAsync(new Uri("/api/v1/admin/plans", UriKind.Relative), new { code, name = "Closed plan" });
        var plan = JsonDocument.Parse(await planResponse.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.Created, planResponse.StatusCode);
        Assert.False(plan.GetProperty("availableToPartners").GetBoolean());

        // A new plan, and the seeded enterprise plan, are closed to partners; the seeded entry plans are open.
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), await CreateTenantAsync(portal, code));
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), await CreateTenantAsync(portal, "enterprise"));
        Assert.Equal((HttpStatusCode.Created, string.Empty), await CreateTenantAsync(portal, "business"));
        Assert.Equal((HttpStatusCode.Created, string.Empty), await CreateTenantAsync(portal, null));

        // Opened by the operator, the plan is one the partner may sell; the operator itself was never restricted.
        using var patched = await op.PatchAsJsonAsync(new Uri($"/api/v1/admin/plans/{plan.GetProperty("id").GetGuid()}", UriKind.Relative), new { availableToPartners = true });
        Assert.True(JsonDocument.Parse(await patched.Content.ReadAsStringAsync()).RootElement.GetProperty("availableToPartners").GetBoolean());
        Assert.Equal((HttpStatusCode.Created, string.Empty), await CreateTenantAsync(portal, code));
        using var byOperator = await op.PostAsJsonAsync(new Uri("/api/v1/admin/tenants", UriKind.Relative), new { name = "op-" + Guid.NewGuid().ToString("N")[..10], planId = "enterprise", partnerId = partner });
        Assert.Equal(HttpStatusCode.Created, byOperator.StatusCode);
    }

    [Fact]
    public async Task A_partner_key_expires_after_ninety_days_by_default_and_at_most_after_a_year()
    {
        var partner = await PartnerAsync();
        var (status, body) = await CreatePartnerKeyAsync(partner, new { name = "default" });
        Assert.Equal(HttpStatusCode.Created, status);
        var expiresAt = body.GetProperty("expiresAt").GetDateTimeOffset();
        var expected = DateTimeOffset.UtcNow.AddDays(90);
        Assert.True((expiresAt - expected).Duration() < TimeSpan.FromMinutes(10), $"expiresAt {expiresAt:O}, expected about {expected:O}");

        var (tooLong, tooLongBody) = await CreatePartnerKeyAsync(partner, new { name = "forever", expiresAt = DateTimeOffset.UtcNow.AddDays(400) });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong);
        Assert.Equal("validation_failed", tooLongBody.GetProperty("error").GetString());
        Assert.True(tooLongBody.GetProperty("errors").TryGetProperty("expiresAt", out _), tooLongBody.ToString());

        var shorter = DateTimeOffset.UtcNow.AddDays(7);
        var (ok, okBody) = await CreatePartnerKeyAsync(partner, new { name = "week", expiresAt = shorter });
        Assert.Equal(HttpStatusCode.Created, ok);
        Assert.Equal(shorter.ToUnixTimeSeconds(), okBody.GetProperty("expiresAt").GetDateTimeOffset().ToUnixTimeSeconds());
    }

    [Fact]
    public async Task Partner_keys_are_listed_without_their_secret_and_a_revoked_one_is_refused_on_every_replica()
    {
        var (partner, other) = (await PartnerAsync(), await PartnerAsync());
        var (_, first) = await CreatePartnerKeyAsync(partner, new { name = "first" });
        var (_, second) = await CreatePartnerKeyAsync(partner, new { name = "second" });
        var (_, foreign) = await CreatePartnerKeyAsync(other, new { name = "foreign" });
        var (firstId, secondId) = (first.GetProperty("id").GetGuid(), second.GetProperty("id").GetGuid());
        var secret = first.GetProperty("key").GetString()!;

        using var op = fixture.Operator();
        using var list = await op.GetAsync(new Uri($"/api/v1/admin/partners/{partner}/api-keys", UriKind.Relative));
        var listText = await list.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        var listed = JsonDocument.Parse(listText).RootElement.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(new[] { firstId, secondId }.Order(), listed.Select(k => k.GetProperty("id").GetGuid()).Order());
        Assert.All(listed, k => Assert.False(k.TryGetProperty("key", out _)));
        Assert.DoesNotContain(secret, listText, StringComparison.Ordinal);
        Assert.All(listed, k => Assert.Equal("active", k.GetProperty("status").GetString()));

        // Another partner's key, through this partner, does not exist.
        var foreignId = foreign.GetProperty("id").GetGuid();
        Assert.Equal(HttpStatusCode.NotFound, (await op.GetAsync(new Uri($"/api/v1/admin/partners/{partner}/api-keys/{foreignId}", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await op.DeleteAsync(new Uri($"/api/v1/admin/partners/{partner}/api-keys/{foreignId}", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await op.GetAsync(new Uri($"/api/v1/admin/partners/{Guid.NewGuid()}/api-keys", UriKind.Relative))).StatusCode);

        // Used on both replicas (cached there), then revoked: refused on each within a second.
        foreach (var replica in fixture.ApiReplicas)
        {
            using var direct = fixture.WithKey(secret, replica);
            Assert.Equal(HttpStatusCode.OK, (await direct.GetAsync(new Uri("/api/v1/partner/tenants", UriKind.Relative))).StatusCode);
        }

        using var revoked = await op.DeleteAsync(new Uri($"/api/v1/admin/partners/{partner}/api-keys/{firstId}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
        foreach (var replica in fixture.ApiReplicas)
        {
            using var direct = fixture.WithKey(secret, replica);
            var (status, elapsed, _) = await TenancyFixture.EventuallyAsync(() => direct.GetAsync(new Uri("/api/v1/partner/tenants", UriKind.Relative)), HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(1));
            Assert.True(status == HttpStatusCode.Unauthorized, $"{replica}: {(int)status} after {elapsed}");
        }

        using var one = await op.GetAsync(new Uri($"/api/v1/admin/partners/{partner}/api-keys/{firstId}", UriKind.Relative));
        Assert.Equal("revoked", JsonDocument.Parse(await one.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());

        // The revocation is in the platform's trail; the other key still works.
        using var trail = await op.GetAsync(new Uri($"/api/v1/audit?action=apikey.revoke&resourceId={firstId}", UriKind.Relative));
        Assert.Equal(1, JsonDocument.Parse(await trail.Content.ReadAsStringAsync()).RootElement.GetProperty("data").GetArrayLength());
        using var still = fixture.WithKey(second.GetProperty("key").GetString());
        Assert.Equal(HttpStatusCode.OK, (await still.GetAsync(new Uri("/api/v1/partner/tenants", UriKind.Relative))).StatusCode);
    }
}
