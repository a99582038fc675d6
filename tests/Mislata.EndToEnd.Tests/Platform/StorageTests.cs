using Npgsql;
using StackExchange.Redis;

namespace Mislata.EndToEnd.Tests.Platform;

[Collection(StackCollection.Name)]
public sealed class StorageTests(StackFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    [Theory]
    [InlineData("mislata")]
    [InlineData("identity")]
    public async Task Each_schema_exists_with_its_own_migrations_history_table(string schema)
    {
        await using var connection = new NpgsqlConnection(_stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = @schema AND table_name = '__EFMigrationsHistory'", connection);
        command.Parameters.AddWithValue("schema", schema);
        Assert.Equal(1L, (long)(await command.ExecuteScalarAsync())!);

        await using var rows = new NpgsqlCommand($"SELECT count(*) FROM \"{schema}\".\"__EFMigrationsHistory\"", connection);
        Assert.True((long)(await rows.ExecuteScalarAsync())! >= 1);

        await using var publicHistory = new NpgsqlCommand(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = '__EFMigrationsHistory'", connection);
        Assert.Equal(0L, (long)(await publicHistory.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task Identity_schema_holds_the_identity_and_openiddict_tables()
    {
        await using var connection = new NpgsqlConnection(_stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = 'identity'", connection);
        var tables = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }

        Assert.Contains("AspNetUsers", tables);
        Assert.Contains("AspNetRoles", tables);
        Assert.Contains("OpenIddictApplications", tables);
        Assert.Contains("OpenIddictTokens", tables);
        Assert.Contains("OpenIddictAuthorizations", tables);
        Assert.Contains("OpenIddictScopes", tables);
    }

    [Fact]
    public async Task Data_protection_keys_in_redis_are_not_readable_key_material()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(_stack.Redis.Configuration);
        var entries = await redis.GetDatabase().ListRangeAsync("mislata:dataprotection:keys");

        // Services create the key ring at start, so there is at least one key.
        Assert.NotEmpty(entries);
        foreach (var entry in entries.Select(e => e.ToString()))
        {
            Assert.DoesNotContain("<masterKey", entry, StringComparison.Ordinal);
            Assert.DoesNotContain("Warning: the key below is in an unencrypted form", entry, StringComparison.Ordinal);
            Assert.Contains("MasterKeyXmlDecryptor", entry, StringComparison.Ordinal);
            var value = System.Xml.Linq.XElement.Parse(entry).Descendants().Single(e => e.Name.LocalName == "value").Value;
            var blob = Convert.FromBase64String(value);
            Assert.True(blob.Length > 28, "nonce + ciphertext + tag");
            Assert.DoesNotContain("masterKey", System.Text.Encoding.UTF8.GetString(blob), StringComparison.Ordinal);
        }
    }
}
