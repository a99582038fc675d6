using System.Globalization;
using Npgsql;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>Direct SQL on a stack's database: what an attacker or an operator with database access does, and checks of stored state.</summary>
public static class IdentitySql
{
    public static async Task<int> ExecuteAsync(MislataStack stack, string sql)
    {
        ArgumentNullException.ThrowIfNull(stack);
        await using var connection = new NpgsqlConnection(stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync();
    }

    public static async Task<string?> ScalarAsync(MislataStack stack, string sql)
    {
        ArgumentNullException.ThrowIfNull(stack);
        await using var connection = new NpgsqlConnection(stack.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToString(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    /// <summary>The application id (OpenIddict's) of a client id.</summary>
    public static async Task<Guid> ApplicationIdAsync(MislataStack stack, string clientId) =>
        Guid.Parse((await ScalarAsync(stack, $"SELECT \"Id\" FROM identity.\"OpenIddictApplications\" WHERE \"ClientId\" = '{clientId}'"))!);

    /// <summary>Moves an application to another owner (a tenant, or the platform with null) behind the API's back.</summary>
    public static async Task SetOwnerAsync(MislataStack stack, string clientId, Guid? tenantId)
    {
        var id = await ApplicationIdAsync(stack, clientId);
        var value = tenantId is { } t ? $"'{t}'" : "NULL";
        Assert.Equal(1, await ExecuteAsync(stack, $"UPDATE identity.application_owners SET \"TenantId\" = {value} WHERE \"ApplicationId\" = '{id}'"));
    }
}
