using System.Net;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>The applications API records its audit event before it commits: audit store down → 503, nothing changed.</summary>
[Collection(IdentityCollection.Name)]
public sealed class ApplicationsAuditTests(IdentityFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Fact]
    public async Task With_the_audit_store_unavailable_application_changes_are_503_and_change_nothing()
    {
        var op = await Oidc.OperatorTokenAsync(_stack);
        var tenant = await Oidc.CreateTenantAsync(_stack, op);
        var (clientId, secret) = await CodeFlow.CreateServiceAppAsync(_stack, op, tenant, "keys:read");
        var id = await IdentitySql.ApplicationIdAsync(_stack, clientId);
        const string countApps = "SELECT count(*) FROM identity.\"OpenIddictApplications\"";
        const string countOwners = "SELECT count(*) FROM identity.application_owners";
        var appsBefore = await IdentitySql.ScalarAsync(_stack, countApps);
        var ownersBefore = await IdentitySql.ScalarAsync(_stack, countOwners);
        var nameBefore = await IdentitySql.ScalarAsync(_stack, $"SELECT \"DisplayName\" FROM identity.\"OpenIddictApplications\" WHERE \"Id\" = '{id}'");

        using var client = _stack.Gateway.CreateClient();
        await IdentitySql.ExecuteAsync(_stack, "ALTER TABLE mislata.audit_events RENAME TO audit_events_away");
        try
        {
            var create = await CodeFlow.SendAsync(client, HttpMethod.Post, "/api/v1/applications", op,
                new { name = "during outage", type = "confidential", scopes = new[] { "keys:read" }, tenantId = tenant });
            var update = await CodeFlow.SendAsync(client, HttpMethod.Patch, "/api/v1/applications/" + id, op, new { name = "renamed during outage" });
            var rotate = await CodeFlow.SendAsync(client, HttpMethod.Post, $"/api/v1/applications/{id}/secret", op);
            var delete = await CodeFlow.SendAsync(client, HttpMethod.Delete, "/api/v1/applications/" + id, op);

            Assert.Equal((HttpStatusCode.ServiceUnavailable, "unavailable"), create);
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "unavailable"), update);
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "unavailable"), rotate);
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "unavailable"), delete);
        }
        finally
        {
            await IdentitySql.ExecuteAsync(_stack, "ALTER TABLE mislata.audit_events_away RENAME TO audit_events");
        }

        Assert.Equal(appsBefore, await IdentitySql.ScalarAsync(_stack, countApps));
        Assert.Equal(ownersBefore, await IdentitySql.ScalarAsync(_stack, countOwners));
        Assert.Equal(nameBefore, await IdentitySql.ScalarAsync(_stack, $"SELECT \"DisplayName\" FROM identity.\"OpenIddictApplications\" WHERE \"Id\" = '{id}'"));
        var (status, body) = await CodeFlow.ClientCredentialsAsync(_stack, clientId, secret);
        Assert.True(status == HttpStatusCode.OK, "the secret from before the outage still works: " + body);
    }
}
