using Npgsql;

namespace Mislata.EndToEnd.Tests.Platform;

/// <summary>
/// Least privilege in PostgreSQL: each service runs with its own role (deploy/postgres/roles.sql) holding only what
/// src/Mislata.Infrastructure/Persistence/DatabaseGrants.cs gives it; the superuser and the migration role are used
/// by nothing at run time. That the services can do what they need is shown by every other end-to-end test, which
/// runs against these roles.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class DatabaseRoleTests(StackFixture fixture)
{
    private readonly MislataStack _stack = fixture.Stack;

    public static TheoryData<string> Services() => new("identity", "api", "worker");

    [Theory]
    [MemberData(nameof(Services))]
    public async Task No_service_role_may_update_delete_or_truncate_audit_events(string service)
    {
        await using var connection = await OpenAsAsync(service);

        // It reads the trail (the reader, /audit/verify, the nightly verification)…
        await ScalarAsync(connection, "SELECT count(*) FROM mislata.audit_events");

        // …and cannot rewrite or remove any of it, nor move a chain's head backwards by deleting it.
        await AssertDeniedAsync(connection, "UPDATE mislata.audit_events SET actor_id = 'forged'");
        await AssertDeniedAsync(connection, "DELETE FROM mislata.audit_events");
        await AssertDeniedAsync(connection, "TRUNCATE mislata.audit_events");
        await AssertDeniedAsync(connection, "DELETE FROM mislata.audit_chain_heads");
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task A_service_role_cannot_create_alter_or_drop_anything(string service)
    {
        await using var connection = await OpenAsAsync(service);

        await AssertDeniedAsync(connection, "CREATE TABLE mislata.planted (id int)");
        await AssertDeniedAsync(connection, "CREATE TABLE identity.planted (id int)");
        await AssertDeniedAsync(connection, "CREATE TABLE public.planted (id int)");
        await AssertDeniedAsync(connection, "CREATE TEMPORARY TABLE planted (id int)");
        await AssertDeniedAsync(connection, "CREATE SCHEMA planted");
        await AssertDeniedAsync(connection, "DROP TABLE mislata.audit_events");
        await AssertDeniedAsync(connection, "DROP TABLE identity.\"AspNetUsers\"");
        await AssertDeniedAsync(connection, "ALTER TABLE mislata.audit_events DISABLE TRIGGER ALL");
        await AssertDeniedAsync(connection, "DROP SCHEMA mislata CASCADE");
    }

    public static TheoryData<string, string> OutsideTheRules() => new()
    {
        // The api: no identity table beyond counting users by tenant.
        { "api", "SELECT count(*) FROM identity.\"OpenIddictTokens\"" },
        { "api", "SELECT count(*) FROM identity.signing_keys" },
        { "api", "SELECT \"PasswordHash\" FROM identity.\"AspNetUsers\"" },
        { "api", "SELECT \"SecurityStamp\" FROM identity.\"AspNetUsers\"" },
        { "api", "UPDATE identity.\"AspNetUsers\" SET \"LockoutEnd\" = NULL" },
        { "api", "DELETE FROM mislata.\"__EFMigrationsHistory\"" },

        // The worker: the audit trail, keys (destruction, rotation: it reads data keys and only rewraps them), secrets
        // (purge), not API keys, of tenants only how many secret versions they keep, and identity only to revalidate
        // sessions.
        { "worker", "DELETE FROM mislata.tenant_data_keys" },
        { "worker", "INSERT INTO mislata.tenant_data_keys (tenant_id, dek_version, wrapped_key, master_key_id, created_at) SELECT tenant_id, dek_version + 100, wrapped_key, master_key_id, now() FROM mislata.tenant_data_keys LIMIT 1" },
        { "worker", "SELECT count(*) FROM mislata.api_keys" },
        { "worker", "SELECT name FROM mislata.tenants" },
        { "worker", "SELECT admin_email, plan_id FROM mislata.tenants" },
        { "worker", "UPDATE mislata.tenants SET secret_versions_kept = 1" },
        { "worker", "DELETE FROM mislata.tenants WHERE false" },
        { "worker", "SELECT count(*) FROM identity.\"OpenIddictApplications\"" },
        { "worker", "UPDATE identity.\"AspNetUsers\" SET \"LockoutEnd\" = NULL" },
        { "worker", "SELECT \"PasswordHash\" FROM identity.\"AspNetUsers\"" },
        { "worker", "SELECT \"Email\" FROM identity.\"AspNetUsers\"" },
        { "worker", "UPDATE identity.\"OpenIddictTokens\" SET \"Status\" = 'valid'" },

        // Payload references: the worker's rewrap-all only replaces payloads; identity never sees them.
        { "worker", "DELETE FROM mislata.key_payloads WHERE false" },
        { "worker", "INSERT INTO mislata.key_payloads SELECT * FROM mislata.key_payloads WHERE false" },
        { "identity", "SELECT count(*) FROM mislata.key_payloads" },
        { "worker", "INSERT INTO identity.\"OpenIddictTokens\" (\"Id\") VALUES (gen_random_uuid())" },
        { "worker", "UPDATE identity.\"OpenIddictAuthorizations\" SET \"Status\" = 'valid'" },
        { "api", "DELETE FROM identity.\"OpenIddictAuthorizations\"" },
        { "worker", "DELETE FROM mislata.usage_periods" },
        { "api", "DELETE FROM mislata.usage_periods" },
        { "identity", "SELECT count(*) FROM mislata.usage_periods" },

        // identity: reads tenants, plans, partners and API keys; writes none of them; never sees data keys.
        { "identity", "SELECT count(*) FROM mislata.tenant_data_keys" },
        { "identity", "UPDATE mislata.tenants SET name = name" },
        { "identity", "DELETE FROM mislata.api_keys" },
        { "identity", "SELECT count(*) FROM mislata.keys" },
        { "identity", "SELECT count(*) FROM mislata.key_versions" },
        { "identity", "SELECT count(*) FROM mislata.secrets" },
        { "identity", "SELECT count(*) FROM mislata.secret_versions" },
        { "identity", "UPDATE mislata.tenants SET secret_versions_kept = 1" },
        { "identity", "INSERT INTO mislata.plans (id) VALUES (gen_random_uuid())" },
        { "identity", "DELETE FROM identity.\"__EFMigrationsHistory\"" },

        // The licence: the worker records its checks but neither installs nor removes one; identity only reads it.
        { "worker", "DELETE FROM mislata.licence" },
        { "worker", "INSERT INTO mislata.licence (slot, licence_id, document, installed_at, installed_by, recorded_state) VALUES (1, gen_random_uuid(), 'x', now(), 'w', 'valid')" },
        { "identity", "UPDATE mislata.licence SET recorded_state = recorded_state" },

        // The key hierarchy: nobody but the migration role creates or removes the platform key; only the worker rewraps
        // it; the api queues admin jobs, the worker advances them, neither removes one.
        { "api", "UPDATE mislata.platform_keys SET updated_at = updated_at" },
        { "api", "DELETE FROM mislata.platform_keys" },
        { "identity", "UPDATE mislata.platform_keys SET updated_at = updated_at" },
        { "worker", "DELETE FROM mislata.platform_keys" },
        { "worker", "INSERT INTO mislata.platform_keys (id, wrapped_key, master_key_id, created_at, updated_at) VALUES ('x', '\\x00', 'y', now(), now())" },
        { "api", "SELECT legacy FROM mislata.platform_key_origin" },
        { "identity", "SELECT count(*) FROM mislata.admin_jobs" },
        { "api", "DELETE FROM mislata.admin_jobs" },
        { "worker", "DELETE FROM mislata.admin_jobs" },
        { "worker", "INSERT INTO mislata.admin_jobs (id, kind, state, requested_by, created_at) VALUES (gen_random_uuid(), 'x', 'queued', 'w', now())" },
    };

    [Theory]
    [MemberData(nameof(OutsideTheRules))]
    public async Task A_service_role_cannot_reach_what_its_rule_does_not_give_it(string service, string sql)
    {
        await using var connection = await OpenAsAsync(service);
        await AssertDeniedAsync(connection, sql);
    }

    [Fact]
    public async Task The_worker_purges_secrets_and_reads_of_tenants_only_how_many_secret_versions_they_keep()
    {
        await using var connection = await OpenAsAsync("worker");
        await ScalarAsync(connection, "SELECT count(*) FROM mislata.tenants WHERE secret_versions_kept IS NOT NULL");
        await ScalarAsync(connection, "SELECT count(*) FROM (SELECT id, secret_versions_kept FROM mislata.tenants) t");
        await ScalarAsync(connection, "WITH gone AS (DELETE FROM mislata.secret_versions WHERE false RETURNING 1) SELECT count(*) FROM gone");
        await ScalarAsync(connection, "WITH gone AS (DELETE FROM mislata.secrets WHERE false RETURNING 1) SELECT count(*) FROM gone");
        await AssertDeniedAsync(connection, "SELECT * FROM mislata.tenants");
    }

    [Fact]
    public async Task The_worker_rewraps_registered_payloads_in_place_and_records_the_jobs_progress()
    {
        await using var connection = await OpenAsAsync("worker");
        await ScalarAsync(connection, "SELECT count(*) FROM mislata.key_payloads WHERE key_version < 2");
        await ScalarAsync(connection, "WITH moved AS (UPDATE mislata.key_payloads SET key_version = key_version WHERE false RETURNING 1) SELECT count(*) FROM moved");
        await ScalarAsync(connection, "WITH moved AS (UPDATE mislata.admin_jobs SET failed = failed WHERE false RETURNING 1) SELECT count(*) FROM moved");
        await AssertDeniedAsync(connection, "INSERT INTO mislata.admin_jobs (id, kind, state, requested_by, created_at) VALUES (gen_random_uuid(), 'x', 'queued', 'w', now())");
    }

    [Fact]
    public async Task The_worker_prunes_tokens_and_authorizations_and_cannot_create_or_change_one()
    {
        await using var connection = await OpenAsAsync("worker");
        await ScalarAsync(connection, "WITH gone AS (DELETE FROM identity.\"OpenIddictTokens\" WHERE false RETURNING 1) SELECT count(*) FROM gone");
        await ScalarAsync(connection, "WITH gone AS (DELETE FROM identity.\"OpenIddictAuthorizations\" WHERE false RETURNING 1) SELECT count(*) FROM gone");
    }

    [Fact]
    public async Task The_worker_reads_the_licence_and_records_its_checks_and_identity_reads_it()
    {
        await using var connection = await OpenAsAsync("worker");
        await ScalarAsync(connection, "SELECT count(*) FROM mislata.licence");
        await ScalarAsync(connection, "WITH checked AS (UPDATE mislata.licence SET revocation_checked_at = revocation_checked_at, recorded_state = recorded_state RETURNING 1) SELECT count(*) FROM checked");
        await using var identity = await OpenAsAsync("identity");
        await ScalarAsync(identity, "SELECT count(*) FROM mislata.licence");
    }

    [Fact]
    public async Task The_api_counts_a_tenants_users_through_the_two_columns_it_may_read()
    {
        await using var connection = await OpenAsAsync("api");
        Assert.True(await ScalarAsync(connection, "SELECT count(*) FROM identity.\"AspNetUsers\" WHERE \"TenantId\" IS NULL") >= 1);
        await AssertDeniedAsync(connection, "SELECT * FROM identity.\"AspNetUsers\"");
    }

    [Fact]
    public async Task The_superuser_and_the_migration_role_are_used_by_nothing_at_run_time()
    {
        // Each service checks PostgreSQL on /health/ready, so each holds a pooled connection of its run-time role.
        using var client = new HttpClient();
        foreach (var service in _stack.Services)
        {
            using var ready = await client.GetAsync(new Uri(service.BaseAddress, "/health/ready"));
            Assert.True(ready.IsSuccessStatusCode, $"{service.Name} is not ready");
        }

        await using var admin = new NpgsqlConnection(_stack.PostgresConnectionString);
        await admin.OpenAsync();
        // The services' connections (application name "mislata", and "mislata-migrations" while they migrate).
        await using var command = new NpgsqlCommand(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'mislata%'",
            admin);
        var users = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                users.Add(reader.GetString(0));
            }
        }

        Assert.Equal(
            new[] { "api", "identity", "worker" }.Select(_stack.Database.RoleOf).Order(StringComparer.Ordinal),
            users.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_service_role_cannot_connect_to_another_stacks_database()
    {
        var other = await _stack.Postgres.CreateDatabaseWithRolesAsync("other");
        var builder = new NpgsqlConnectionStringBuilder(_stack.Database.For("api")) { Database = other.Database };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        var denied = await Assert.ThrowsAsync<PostgresException>(() => connection.OpenAsync());
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);
    }

    [Fact]
    public async Task Tables_added_by_a_later_migration_follow_their_schemas_rule()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var app = $"mislata.later_{suffix}";
        var identity = $"identity.later_{suffix}";

        // A later migration, run by the migration role: no grant statement of its own.
        await using (var owner = new NpgsqlConnection(_stack.Database.Migrations))
        {
            await owner.OpenAsync();
            await ExecuteAsync(owner, $"CREATE TABLE {app} (id int); CREATE TABLE {identity} (id int)");
        }

        try
        {
            // mislata: the api reads and writes; identity and the worker do not see it.
            await using (var api = await OpenAsAsync("api"))
            {
                await ExecuteAsync(api, $"INSERT INTO {app} VALUES (1); UPDATE {app} SET id = 2; DELETE FROM {app}");
                await AssertDeniedAsync(api, $"SELECT count(*) FROM {identity}");
            }

            // identity: identity reads and writes; the api and the worker do not see it.
            await using (var identityRole = await OpenAsAsync("identity"))
            {
                await ExecuteAsync(identityRole, $"INSERT INTO {identity} VALUES (1); DELETE FROM {identity}");
                await AssertDeniedAsync(identityRole, $"SELECT count(*) FROM {app}");
            }

            await using (var worker = await OpenAsAsync("worker"))
            {
                await AssertDeniedAsync(worker, $"SELECT count(*) FROM {app}");
                await AssertDeniedAsync(worker, $"SELECT count(*) FROM {identity}");
            }
        }
        finally
        {
            await using var owner = new NpgsqlConnection(_stack.Database.Migrations);
            await owner.OpenAsync();
            await ExecuteAsync(owner, $"DROP TABLE {app}; DROP TABLE {identity}");
        }
    }

    private async Task<NpgsqlConnection> OpenAsAsync(string service)
    {
        // Unpooled: a test connection must not linger in pg_stat_activity under a service's role.
        var builder = new NpgsqlConnectionStringBuilder(_stack.Database.For(service)) { Pooling = false };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task AssertDeniedAsync(NpgsqlConnection connection, string sql)
    {
        // Each statement in its own transaction, rolled back, so that a statement wrongly allowed changes nothing.
        await using var transaction = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        var denied = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
        Assert.True(denied.SqlState == PostgresErrorCodes.InsufficientPrivilege,
            $"{sql}: expected 42501 insufficient_privilege, got {denied.SqlState} {denied.MessageText}");
        await transaction.RollbackAsync();
    }
}
