using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mislata.EndToEnd.Tests.Tenancy;

[Collection(TenancyCollection.Name)]
public sealed class PartnerPortalTests(TenancyFixture fixture)
{
    private async Task<(Guid Partner, string Key)> PartnerAsync()
    {
        using var op = fixture.Operator();
        using var created = await op.PostAsJsonAsync(new Uri("/api/v1/admin/partners", UriKind.Relative), new { name = "p-" + Guid.NewGuid().ToString("N")[..8], maxTenants = 2 });
        var body = await created.Content.ReadAsStringAsync();
        Assert.True(created.StatusCode == HttpStatusCode.Created, body);
        var partner = JsonDocument.Parse(body).RootElement.GetProperty("id").GetGuid();
        using var keyResponse = await op.PostAsJsonAsync(new Uri($"/api/v1/admin/partners/{partner}/api-keys", UriKind.Relative), new { name = "portal" });
        var keyBody = await keyResponse.Content.ReadAsStringAsync();
        Assert.True(keyResponse.StatusCode == HttpStatusCode.Created, keyBody);
        return (partner, JsonDocument.Parse(keyBody).RootElement.GetProperty("key").GetString()!);
    }

    [Fact]
    public async Task A_partner_admin_creates_and_sees_only_its_own_tenants_within_its_allowance()
    {
        var (partnerA, keyA) = await PartnerAsync();
        var (_, keyB) = await PartnerAsync();
        using var a = fixture.WithKey(keyA);
        using var b = fixture.WithKey(keyB);

        using var createdA = await a.PostAsJsonAsync(new Uri("/api/v1/partner/tenants", UriKind.Relative), new { name = "acme-" + Guid.NewGuid().ToString("N")[..6] });
        Assert.Equal(HttpStatusCode.Created, createdA.StatusCode);
        var tenantA = JsonDocument.Parse(await createdA.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid();

        using var listA = await a.GetAsync(new Uri("/api/v1/partner/tenants", UriKind.Relative));
        var idsA = JsonDocument.Parse(await listA.Content.ReadAsStringAsync()).RootElement.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetGuid()).ToList();
        Assert.Equal([tenantA], idsA);

        using var listB = await b.GetAsync(new Uri("/api/v1/partner/tenants", UriKind.Relative));
        Assert.Empty(JsonDocument.Parse(await listB.Content.ReadAsStringAsync()).RootElement.GetProperty("data").EnumerateArray());

        using var crossGet = await b.GetAsync(new Uri($"/api/v1/partner/tenants/{tenantA}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, crossGet.StatusCode);
        Assert.Equal("not_found", await TenancyFixture.ErrorCodeAsync(crossGet));

        using var usage = await a.GetAsync(new Uri("/api/v1/partner/usage", UriKind.Relative));
        var usageBody = JsonDocument.Parse(await usage.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.OK, usage.StatusCode);
        Assert.Equal(partnerA, usageBody.GetProperty("partnerId").GetGuid());
        Assert.Equal(1, usageBody.GetProperty("tenants").GetInt32());

        // The allowance is two tenants: the third is refused as a quota.
        using var second = await a.PostAsJsonAsync(new Uri("/api/v1/partner/tenants", UriKind.Relative), new { name = "acme-2-" + Guid.NewGuid().ToString("N")[..6] });
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        using var third = await a.PostAsJsonAsync(new Uri("/api/v1/partner/tenants", UriKind.Relative), new { name = "acme-3-" + Guid.NewGuid().ToString("N")[..6] });
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Equal("quota_exceeded", await TenancyFixture.ErrorCodeAsync(third));

        // A partner key is not an operator: the platform administration is out of its reach.
        using var admin = await a.GetAsync(new Uri("/api/v1/admin/tenants", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Forbidden, admin.StatusCode);
    }
}
