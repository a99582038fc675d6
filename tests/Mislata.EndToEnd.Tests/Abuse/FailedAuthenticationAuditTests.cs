using System.Net;
using System.Text.Json;
using Mislata.EndToEnd.Tests.Tenancy;
using Npgsql;

namespace Mislata.EndToEnd.Tests.Abuse;

/// <summary>
/// Failed authentications are audited in aggregate: one <c>auth.failed</c> event per source, credential prefix and
/// minute (per service replica), carrying the count, the public prefix of the key (never more of it, nothing of a
/// token) and the request path clipped to 128 characters.
/// </summary>
[Collection(SecondTenancyCollection.Name)]
public sealed class FailedAuthenticationAuditTests(SecondTenancyFixture fixture)
{
    private const string Source = "127.0.0.7";

    [Fact]
    public async Task Failed_authentications_are_audited_once_per_source_and_credential_prefix_with_the_count_a_clipped_path_and_no_secret()
    {
        using var client = SourceAddress.Client(fixture.Stack, Source);
        var apiKey = SourceAddress.UnknownApiKey();
        var identityKey = SourceAddress.UnknownApiKey();
        var junkToken = "eyJhbGciOiJIUzI1NiJ9." + TestEnvironment.RandomToken(40) + "." + TestEnvironment.RandomToken(32);
        var longPath = "/api/v1/users/" + new string('x', 500);

        for (var i = 0; i < 5; i++)
        {
            using var r = await client.SendAsync(SourceAddress.WithKey(HttpMethod.Get, "/api/v1/api-keys", apiKey));
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }

        for (var i = 0; i < 3; i++)
        {
            using var r = await client.SendAsync(SourceAddress.WithBearer(HttpMethod.Get, "/api/v1/billing/usage", junkToken));
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }

        for (var i = 0; i < 2; i++)
        {
            using var r = await client.SendAsync(SourceAddress.WithKey(HttpMethod.Get, longPath, identityKey));
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }

        // Aggregates are written at the end of each minute: poll until all ten failures are accounted for.
        var events = await EventuallyAllCountedAsync(expected: 10, within: TimeSpan.FromSeconds(150));

        var byCredential = events.GroupBy(e => e.Details.GetProperty("credential").GetString()!)
            .ToDictionary(g => g.Key, g => g.Sum(e => long.Parse(e.Details.GetProperty("count").GetString()!, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(5, byCredential[apiKey[..13]]);
        Assert.Equal(3, byCredential["bearer"]);
        Assert.Equal(2, byCredential[identityKey[..13]]);
        Assert.Equal(3, byCredential.Count);

        // One row per (replica, prefix, minute): 2 api replicas × 2 prefixes + 1 identity × 1 prefix, over at most two minutes.
        Assert.InRange(events.Count, 3, 10);
        foreach (var e in events)
        {
            Assert.Equal("anonymous", e.ActorType);
            Assert.Equal("denied", e.Outcome);
            Assert.True(e.Details.GetProperty("path").GetString()!.Length <= 128, e.Row);
            Assert.DoesNotContain(apiKey[13..], e.Row, StringComparison.Ordinal);
            Assert.DoesNotContain(identityKey[13..], e.Row, StringComparison.Ordinal);
            Assert.DoesNotContain(junkToken[..30], e.Row, StringComparison.Ordinal);
            Assert.DoesNotContain(junkToken[^20..], e.Row, StringComparison.Ordinal);
        }

        var identityPaths = events.Where(e => e.Details.GetProperty("credential").GetString() == identityKey[..13])
            .Select(e => e.Details.GetProperty("path").GetString()!).ToList();
        Assert.All(identityPaths, p => Assert.Equal(longPath[..128], p));
    }

    private sealed record AuditRow(string ActorType, string Outcome, JsonElement Details, string Row);

    private async Task<List<AuditRow>> EventuallyAllCountedAsync(long expected, TimeSpan within)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var rows = await ReadAsync();
            var counted = rows.Sum(r => r.Details.TryGetProperty("count", out var c) ? long.Parse(c.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : 0);
            if (counted >= expected || watch.Elapsed > within)
            {
                Assert.True(counted == expected, $"{counted} of {expected} failures audited after {watch.Elapsed}: {string.Join("\n", rows.Select(r => r.Row))}");
                return rows;
            }

            await Task.Delay(500);
        }
    }

    private async Task<List<AuditRow>> ReadAsync()
    {
        await using var connection = new NpgsqlConnection(fixture.Stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT actor_type, outcome, coalesce(details::text, '{}'), row_to_json(e)::text FROM mislata.audit_events e WHERE source_ip = @source AND action = 'auth.failed'",
            connection);
        command.Parameters.AddWithValue("source", Source);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<AuditRow>();
        while (await reader.ReadAsync())
        {
            rows.Add(new AuditRow(reader.GetString(0), reader.GetString(1), JsonDocument.Parse(reader.GetString(2)).RootElement.Clone(), reader.GetString(3)));
        }

        return rows;
    }
}
