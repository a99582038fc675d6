using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Npgsql;

namespace Mislata.Infrastructure.Persistence;

/// <summary>Table privileges a service's database role may hold. TRUNCATE, REFERENCES and TRIGGER are never granted.</summary>
[Flags]
public enum TableAccess
{
    None = 0,
    Select = 1,
    Insert = 2,
    Update = 4,
    Delete = 8,

    Read = Select,

    /// <summary>Add rows and read them, never change or remove one: the audit trail.</summary>
    Append = Select | Insert,

    ReadWrite = Select | Insert | Update | Delete,
}

/// <summary>What one service may do on a table; <see cref="Columns"/> narrows SELECT to those columns.</summary>
public sealed record ServiceAccess(TableAccess Access, IReadOnlyList<string>? Columns = null)
{
    public static implicit operator ServiceAccess(TableAccess access) => new(access);

    /// <summary>SELECT on these columns only (e.g. counting rows by one column without reading the others).</summary>
    public static ServiceAccess ReadColumns(params string[] columns) => new(TableAccess.Select, columns);

    public static ServiceAccess FromTableAccess(TableAccess access) => new(access);
}

/// <summary>The access of each service's role to one table (or to every table of a schema without a rule of its own).</summary>
public sealed record TableRule(ServiceAccess Identity, ServiceAccess Api, ServiceAccess Worker)
{
    public ServiceAccess For(string service) => service switch
    {
        DatabaseGrants.IdentityService => Identity,
        DatabaseGrants.ApiService => Api,
        DatabaseGrants.WorkerService => Worker,
        _ => throw new ArgumentOutOfRangeException(nameof(service), service, "not a service"),
    };
}

/// <summary>A schema's rule for its tables: <see cref="Default"/> covers every table that <see cref="Tables"/> does not name.</summary>
public sealed record SchemaRule(string Schema, TableRule Default, IReadOnlyDictionary<string, TableRule> Tables)
{
    public TableRule For(string table) => Tables.TryGetValue(table, out var rule) ? rule : Default;
}

/// <summary>
/// Least privilege in the database, in ONE place: what the run-time role of each service (<c>&lt;database&gt;_identity</c>,
/// <c>_api</c>, <c>_worker</c>, created by <c>deploy/postgres/roles.sql</c>) may do on each table of the two schemas.
/// The migration role (the schemas' owner) applies these rules after every migration run, idempotently: USAGE on a
/// schema for the roles that reach one of its tables, the privileges of each table, and the schema's default
/// privileges, so a table added by a later migration gets its schema's <see cref="SchemaRule.Default"/> the moment it
/// is created, rather than nothing or everything. A rule naming a table that does not exist (yet) is ignored; a role
/// that does not exist (a single-role install) is skipped.
/// </summary>
/// <remarks>
/// Adding a table: nothing to do when the schema's default fits (mislata: the api reads and writes, the others do not
/// see it; identity: identity reads and writes, the others do not see it); otherwise add its rule below. No service
/// role may UPDATE or DELETE <c>mislata.audit_events</c>, CREATE or DROP anything, or reach a table no rule gives it.
/// </remarks>
public static partial class DatabaseGrants
{
    public const string IdentityService = "identity";
    public const string ApiService = "api";
    public const string WorkerService = "worker";

    public static readonly IReadOnlyList<string> Services = [IdentityService, ApiService, WorkerService];

    private const TableAccess None = TableAccess.None;
    private const TableAccess Read = TableAccess.Read;
    private const TableAccess Append = TableAccess.Append;
    private const TableAccess ReadWrite = TableAccess.ReadWrite;

    /// <summary>Insert a row once, then move it forward: never deleted.</summary>
    private const TableAccess Advance = TableAccess.Select | TableAccess.Insert | TableAccess.Update;

    /// <summary>Every service reads the history, so one started without QAPI_POSTGRES_MIGRATIONS sees the schema is current.</summary>
    private static readonly TableRule MigrationHistory = new(Read, Read, Read);

    public static readonly IReadOnlyList<SchemaRule> Rules =
    [
        new(MislataDbContext.Schema,
            Default: new(Identity: None, Api: ReadWrite, Worker: None),
            Tables: new Dictionary<string, TableRule>(StringComparer.Ordinal)
            {
                ["__EFMigrationsHistory"] = MigrationHistory,

                // identity authenticates API keys on its management API and checks tenants, plans and partners.
                // The worker reads only how many secret versions a tenant keeps (its version pruning).
                ["tenants"] = new(Identity: Read, Api: ReadWrite, Worker: ServiceAccess.ReadColumns("id", "secret_versions_kept")),
                ["plans"] = new(Identity: Read, Api: ReadWrite, Worker: None),
                ["partners"] = new(Identity: Read, Api: ReadWrite, Worker: None),
                ["api_keys"] = new(Identity: Read, Api: ReadWrite, Worker: None),

                // The audit trail: every service records events; none may rewrite or remove one.
                ["audit_events"] = new(Identity: Append, Api: Append, Worker: Append),
                ["audit_chain_heads"] = new(Identity: Advance, Api: Advance, Worker: Advance),

                // Keys and their sealed versions: the api manages them; the worker destroys keys past their deletion
                // window and rotates keys on their period or usage (sealing the new version's material needs the
                // tenant's data key: the worker reads tenant_data_keys; its master-key rotation rewraps them — UPDATE of
                // wrapped_key and master_key_id, never a new or removed row).
                ["tenant_data_keys"] = new(Identity: None, Api: ReadWrite, Worker: new ServiceAccess(TableAccess.Select | TableAccess.Update)),
                ["keys"] = new(Identity: None, Api: ReadWrite, Worker: ReadWrite),
                ["key_versions"] = new(Identity: None, Api: ReadWrite, Worker: ReadWrite),

                // Secrets and their sealed versions: the api manages them; the worker purges deleted secrets past their
                // restore window and versions beyond a tenant's secret_versions_kept. Neither needs the other's data key.
                ["secrets"] = new(Identity: None, Api: ReadWrite, Worker: ReadWrite),
                ["secret_versions"] = new(Identity: None, Api: ReadWrite, Worker: ReadWrite),

                // The installed licence: the api installs it and reads it; the worker reads it and records its hourly
                // check (revocation, the state last audited); identity reads it (maxUsers).
                ["licence"] = new(Identity: Read, Api: ReadWrite, Worker: new ServiceAccess(TableAccess.Select | TableAccess.Update)),

                // The verified-chain checkpoints of /audit/verify (api) and the nightly verification (worker).
                ["audit_checkpoints"] = new(Identity: None, Api: Advance, Worker: Advance),

                // Monthly operation counts rolled up from Redis by the worker (never deleted by it; a tenant's rows go
                // with the tenant).
                ["usage_periods"] = new(Identity: None, Api: Read, Worker: Advance),

                // The key hierarchy: every service reads the platform key at start (the migration role creates it); the
                // worker's master-key rotation rewraps it. Nobody else changes it.
                ["platform_keys"] = new(Identity: Read, Api: Read, Worker: new ServiceAccess(TableAccess.Select | TableAccess.Update)),
                ["platform_key_origin"] = new(Identity: None, Api: None, Worker: None),

                // Admin jobs (the master-key rotation, a key's rewrap-all): the api queues them and reports their
                // progress; the worker runs them.
                ["admin_jobs"] = new(Identity: None, Api: Advance, Worker: new ServiceAccess(TableAccess.Select | TableAccess.Update)),

                // Payload references (ciphertexts a tenant registers): the api manages them; the worker's rewrap-all job
                // replaces a payload by its rewrapped one (UPDATE, never a new or removed row).
                ["key_payloads"] = new(Identity: None, Api: ReadWrite, Worker: new ServiceAccess(TableAccess.Select | TableAccess.Update)),
            }.ToFrozenDictionary(StringComparer.Ordinal)),
        new(Identity.IdentityStoreDbContext.Schema,
            Default: new(Identity: ReadWrite, Api: None, Worker: None),
            Tables: new Dictionary<string, TableRule>(StringComparer.Ordinal)
            {
                ["__EFMigrationsHistory"] = MigrationHistory,

                // The api counts a tenant's users (plan quota, /billing/usage); the worker's dashboard revalidates a
                // platform admin's session (security stamp, block, roles). Neither reads a password hash, a TOTP
                // secret or an email address.
                ["AspNetUsers"] = new(
                    Identity: ReadWrite,
                    Api: ServiceAccess.ReadColumns("Id", "TenantId"),
                    Worker: ServiceAccess.ReadColumns("Id", "SecurityStamp", "BlockedAt")),
                ["AspNetRoles"] = new(Identity: ReadWrite, Api: None, Worker: Read),
                ["AspNetUserRoles"] = new(Identity: ReadWrite, Api: None, Worker: Read),

                // Not-befores of deleted, demoted or blocked users and deleted or re-keyed applications: identity writes,
                // every api replica and the dashboard honour them.
                ["access_revocations"] = new(Identity: ReadWrite, Api: Read, Worker: Read),

                // Expired and unusable tokens and authorizations: the worker prunes them (reads to select, deletes).
                ["OpenIddictTokens"] = new(Identity: ReadWrite, Api: None, Worker: TableAccess.Select | TableAccess.Delete),
                ["OpenIddictAuthorizations"] = new(Identity: ReadWrite, Api: None, Worker: TableAccess.Select | TableAccess.Delete),
            }.ToFrozenDictionary(StringComparer.Ordinal)),
    ];

    /// <summary>The run-time role of <paramref name="service"/> for a database: <c>&lt;database&gt;_&lt;service&gt;</c>.</summary>
    public static string RoleName(string database, string service) => database + "_" + service;

    /// <summary>
    /// Brings the privileges of the services' roles in line with <see cref="Rules"/>, on a connection of the schemas'
    /// owner, in one transaction. Returns the number of statements it had to run (0 when everything was in place).
    /// </summary>
    [SuppressMessage("Security", "CA2100", Justification = "Identifiers come from the catalog and the rules above and are quoted.")]
    public static async Task<int> ApplyAsync(NpgsqlConnection connection, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(logger);

        string database;
        await using (var who = new NpgsqlCommand("SELECT current_database()", connection))
        {
            database = (string)(await who.ExecuteScalarAsync(cancellationToken))!;
        }

        var wanted = Services.ToDictionary(s => s, s => RoleName(database, s), StringComparer.Ordinal);
        var existing = new HashSet<string>(StringComparer.Ordinal);
        await using (var roles = new NpgsqlCommand("SELECT rolname FROM pg_roles WHERE rolname = ANY(@names)", connection))
        {
            roles.Parameters.AddWithValue("names", wanted.Values.ToArray());
            await using var reader = await roles.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                existing.Add(reader.GetString(0));
            }
        }

        var services = Services.Where(s => existing.Contains(wanted[s])).ToList();
        if (services.Count == 0)
        {
            LogNoServiceRoles(logger, database);
            return 0;
        }

        var statements = new List<string>();
        foreach (var schema in Rules)
        {
            if (!await OwnsSchemaAsync(connection, schema.Schema, cancellationToken))
            {
                LogNotOwner(logger, schema.Schema);
                continue;
            }

            var state = await SchemaStateAsync(connection, schema.Schema, [.. services.Select(s => wanted[s])], cancellationToken);
            foreach (var service in services)
            {
                PlanRole(schema, service, wanted[service], state, statements);
            }
        }

        if (statements.Count == 0)
        {
            LogUpToDate(logger, string.Join(", ", services.Select(s => wanted[s])));
            return 0;
        }

        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            await using var batch = new NpgsqlBatch(connection, transaction);
            foreach (var sql in statements)
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(sql));
            }

            await batch.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        LogApplied(logger, statements.Count, string.Join(", ", services.Select(s => wanted[s])));
        return statements.Count;
    }

    private static void PlanRole(SchemaRule schema, string service, string role, SchemaState state, List<string> statements)
    {
        var s = Quote(schema.Schema);
        var r = Quote(role);

        var reachesSchema = schema.Default.For(service).Access != None || schema.Tables.Values.Any(t => t.For(service).Access != None);
        var schemaWanted = reachesSchema ? "USAGE" : string.Empty;
        if (state.Schema.GetValueOrDefault(role, string.Empty) != schemaWanted)
        {
            statements.Add($"REVOKE ALL ON SCHEMA {s} FROM {r}");
            if (reachesSchema)
            {
                statements.Add($"GRANT USAGE ON SCHEMA {s} TO {r}");
            }
        }

        var defaultWanted = Privileges(schema.Default.For(service).Access);
        if (state.Defaults.GetValueOrDefault(role, string.Empty) != defaultWanted)
        {
            statements.Add($"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} REVOKE ALL ON TABLES FROM {r}");
            if (defaultWanted.Length > 0)
            {
                statements.Add($"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT {defaultWanted} ON TABLES TO {r}");
            }
        }

        foreach (var table in state.Tables)
        {
            var access = schema.For(table).For(service);
            var columns = access.Columns is { Count: > 0 } ? access.Columns.Order(StringComparer.Ordinal).ToList() : null;
            var tableWanted = columns is null ? Privileges(access.Access) : Privileges(access.Access & ~TableAccess.Select);
            var columnsWanted = columns is null ? string.Empty : string.Join(",", columns);
            if (state.TablePrivileges.GetValueOrDefault((table, role), string.Empty) == tableWanted &&
                state.ColumnSelects.GetValueOrDefault((table, role), string.Empty) == columnsWanted)
            {
                continue;
            }

            var t = $"{s}.{Quote(table)}";
            statements.Add($"REVOKE ALL ON TABLE {t} FROM {r}");
            if (tableWanted.Length > 0)
            {
                statements.Add($"GRANT {tableWanted} ON TABLE {t} TO {r}");
            }

            if (columns is not null)
            {
                statements.Add($"GRANT SELECT ({string.Join(", ", columns.Select(Quote))}) ON TABLE {t} TO {r}");
            }
        }
    }

    /// <summary>The SQL privilege list in a fixed order, e.g. "SELECT, INSERT" (empty for none).</summary>
    internal static string Privileges(TableAccess access)
    {
        var list = new List<string>(4);
        if (access.HasFlag(TableAccess.Select))
        {
            list.Add("SELECT");
        }

        if (access.HasFlag(TableAccess.Insert))
        {
            list.Add("INSERT");
        }

        if (access.HasFlag(TableAccess.Update))
        {
            list.Add("UPDATE");
        }

        if (access.HasFlag(TableAccess.Delete))
        {
            list.Add("DELETE");
        }

        return string.Join(", ", list);
    }

    private static async Task<bool> OwnsSchemaAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT pg_has_role(current_user, nspowner, 'USAGE') FROM pg_namespace WHERE nspname = @schema", connection);
        command.Parameters.AddWithValue("schema", schema);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    private sealed record SchemaState(
        List<string> Tables,
        Dictionary<string, string> Schema,
        Dictionary<string, string> Defaults,
        Dictionary<(string Table, string Role), string> TablePrivileges,
        Dictionary<(string Table, string Role), string> ColumnSelects);

    /// <summary>
    /// What the roles hold today, in the canonical forms <see cref="PlanRole"/> compares with: privilege lists in the
    /// order of <see cref="Privileges"/>, column lists sorted by ordinal.
    /// </summary>
    private static async Task<SchemaState> SchemaStateAsync(NpgsqlConnection connection, string schema, string[] roles, CancellationToken cancellationToken)
    {
        var state = new SchemaState([], new(StringComparer.Ordinal), new(StringComparer.Ordinal), [], []);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new("""
                    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname
                    """),
                new("""
                    SELECT g.rolname, string_agg(a.privilege_type, ',' ORDER BY a.privilege_type)
                    FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a JOIN pg_roles g ON g.oid = a.grantee
                    WHERE n.nspname = $1 AND g.rolname = ANY($2) GROUP BY g.rolname
                    """),
                new("""
                    SELECT g.rolname, string_agg(a.privilege_type, ',' ORDER BY a.privilege_type)
                    FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
                    CROSS JOIN LATERAL aclexplode(d.defaclacl) a JOIN pg_roles g ON g.oid = a.grantee
                    WHERE n.nspname = $1 AND d.defaclobjtype = 'r' AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                      AND g.rolname = ANY($2)
                    GROUP BY g.rolname
                    """),
                new("""
                    SELECT c.relname, g.rolname, string_agg(a.privilege_type, ',' ORDER BY a.privilege_type)
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles g ON g.oid = a.grantee
                    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND g.rolname = ANY($2)
                    GROUP BY c.relname, g.rolname
                    """),
                new("""
                    SELECT c.relname, g.rolname, string_agg(t.attname, ',' ORDER BY t.attname COLLATE "C")
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    JOIN pg_attribute t ON t.attrelid = c.oid AND t.attnum > 0 AND NOT t.attisdropped
                    CROSS JOIN LATERAL aclexplode(t.attacl) a JOIN pg_roles g ON g.oid = a.grantee
                    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND g.rolname = ANY($2) AND a.privilege_type = 'SELECT'
                    GROUP BY c.relname, g.rolname
                    """),
            },
        };
        foreach (var command in batch.BatchCommands)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = schema });
            if (command.CommandText.Contains("$2", StringComparison.Ordinal))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = roles });
            }
        }

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            state.Tables.Add(reader.GetString(0));
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            state.Schema[reader.GetString(0)] = Canonical(reader.GetString(1));
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            state.Defaults[reader.GetString(0)] = Canonical(reader.GetString(1));
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            state.TablePrivileges[(reader.GetString(0), reader.GetString(1))] = Canonical(reader.GetString(2));
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            state.ColumnSelects[(reader.GetString(0), reader.GetString(1))] = reader.GetString(2);
        }

        return state;
    }

    /// <summary>"INSERT,SELECT" (catalog order) → "SELECT, INSERT" (the order of <see cref="Privileges"/>); other privileges kept, so they differ.</summary>
    private static string Canonical(string catalogList)
    {
        var access = TableAccess.None;
        var others = new List<string>();
        foreach (var privilege in catalogList.Split(','))
        {
            switch (privilege)
            {
                case "SELECT": access |= TableAccess.Select; break;
                case "INSERT": access |= TableAccess.Insert; break;
                case "UPDATE": access |= TableAccess.Update; break;
                case "DELETE": access |= TableAccess.Delete; break;
                case "USAGE": others.Insert(0, privilege); break;
                default: others.Add(privilege); break;
            }
        }

        var known = Privileges(access);
        return others.Count == 0 ? known : string.Join(", ", known.Length > 0 ? [known, .. others] : others);
    }

    private static string Quote(string identifier)
    {
        var builder = new StringBuilder(identifier.Length + 2).Append('"');
        builder.Append(identifier.Replace("\"", "\"\"", StringComparison.Ordinal));
        return builder.Append('"').ToString();
    }

    [LoggerMessage(EventId = 110, Level = LogLevel.Information, Message = "Applied {Count} grant statement(s) for the roles {Roles}")]
    private static partial void LogApplied(ILogger logger, int count, string roles);

    [LoggerMessage(EventId = 111, Level = LogLevel.Information, Message = "The grants of the roles {Roles} are up to date")]
    private static partial void LogUpToDate(ILogger logger, string roles);

    [LoggerMessage(EventId = 112, Level = LogLevel.Information, Message = "Database {Database} has no service roles (<database>_identity, _api, _worker): every service uses the role it is given")]
    private static partial void LogNoServiceRoles(ILogger logger, string database);

    [LoggerMessage(EventId = 113, Level = LogLevel.Warning, Message = "The migration role does not own schema {Schema}: its grants are left as they are")]
    private static partial void LogNotOwner(ILogger logger, string schema);
}
