using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Migrations.Operations;
using Mislata.Infrastructure.Identity;
using Mislata.Infrastructure.Persistence;

namespace Mislata.Infrastructure.Tests.Upgrades;

/// <summary>
/// Rolling upgrades run old and new replicas side by side on the schema the new release migrated to: every migration
/// after a context's first must keep the previous release working. Its Up operations are checked for what breaks an
/// old replica or loses data — dropping or renaming a table or column, narrowing or retyping a column, making one NOT
/// NULL, adding a NOT NULL column without a default (the old replica's INSERTs omit it), dropping a schema or a
/// primary key — and for raw SQL, which this test cannot read. Each such operation must be allow-listed below with a
/// reason; a new one fails until it is (docs/operations/upgrades.md: expand in one release, contract in a later one).
/// </summary>
public sealed class MigrationSafetyTests
{
    /// <summary>"migration id: operation" → why it is safe for the previous release running beside it.</summary>
    private static readonly Dictionary<string, string> Allowed = new(StringComparer.Ordinal)
    {
        ["20261123205828_Tenancy: sql"] =
            "inserts the two built-in plans (community, business) into the plans table the same migration creates; no existing row or column changes",
        ["20261128205659_KeyedAuditChain: sql"] =
            "sets available_to_partners = true on the two built-in plans (a column the same migration adds with a default); the release before ignores the column",
        ["20261207150000_PlatformKeys: sql"] =
            "creates three new tables (platform_keys, platform_key_origin, admin_jobs) and an index, and records in SQL whether the database " +
            "already held data (the legacy flag); no existing row or column changes. The release before ignores the new tables, and on a " +
            "legacy installation the platform key is the master key, so old and new replicas derive the same keys side by side",
        ["20261207170000_PayloadReferences: sql"] =
            "creates a new table (key_payloads) and an index, adds nullable or defaulted columns to key_versions (encryption_count, 0, then set " +
            "to invocation_count for AES keys) and admin_jobs, and a check that holds for every existing row (both new ids null). Indexes and " +
            "existing columns stay: the previous release queues and runs its admin jobs and flushes usage as before; it does not count " +
            "encryption_count, which only makes coverage low for the upgrade's minutes",
        ["20261207190000_CertificateAuthorities: sql"] =
            "creates three new tables (certificate_authorities, certificates, certificate_crls) and their indexes, referencing tenants and " +
            "keys; no existing row or column changes, and the release before never reads the new tables",
    };

    [Fact]
    public void Migrations_after_the_first_are_additive_or_allow_listed_with_a_reason()
    {
        var found = new List<string>();
        foreach (var (id, operations) in UpOperations<MislataDbContext>().Concat(UpOperations<IdentityStoreDbContext>()))
        {
            foreach (var operation in operations)
            {
                if (Risk(operation) is { } risk)
                {
                    found.Add($"{id}: {risk}");
                }
            }
        }

        var unexplained = found.Distinct(StringComparer.Ordinal).Where(f => !Allowed.ContainsKey(f)).ToList();
        Assert.True(unexplained.Count == 0,
            "migrations that can break the previous release beside them (rolling upgrade) or lose data; split them into expand and contract, "
            + "or allow-list them in MigrationSafetyTests with a reason:\n" + string.Join('\n', unexplained));
        // The allow-list names only operations that exist (a stale entry would hide nothing but confuse).
        Assert.All(Allowed.Keys, a => Assert.Contains(a, found));
    }

    [Fact]
    public void The_check_recognises_each_kind_of_breaking_operation()
    {
        Assert.Equal("drop table t", Risk(new DropTableOperation { Name = "t" }));
        Assert.Equal("drop column t.c", Risk(new DropColumnOperation { Table = "t", Name = "c" }));
        Assert.Equal("rename column t.a → b", Risk(new RenameColumnOperation { Table = "t", Name = "a", NewName = "b" }));
        Assert.Equal("rename table a → b", Risk(new RenameTableOperation { Name = "a", NewName = "b" }));
        Assert.Equal("drop schema s", Risk(new DropSchemaOperation { Name = "s" }));
        Assert.Equal("drop primary key t.pk", Risk(new DropPrimaryKeyOperation { Table = "t", Name = "pk" }));
        Assert.Equal("sql", Risk(new SqlOperation { Sql = "SELECT 1" }));
        Assert.Equal("add NOT NULL column t.c without a default",
            Risk(new AddColumnOperation { Table = "t", Name = "c", ClrType = typeof(int), ColumnType = "integer", IsNullable = false }));
        Assert.Null(Risk(new AddColumnOperation { Table = "t", Name = "c", ClrType = typeof(int), ColumnType = "integer", IsNullable = false, DefaultValue = 0 }));
        Assert.Null(Risk(new AddColumnOperation { Table = "t", Name = "c", ClrType = typeof(int), ColumnType = "integer", IsNullable = true }));
        Assert.Equal("alter column t.c (type, length or nullability)", Risk(new AlterColumnOperation
        {
            Table = "t", Name = "c", ClrType = typeof(string), ColumnType = "character varying(10)", IsNullable = true,
            OldColumn = new AddColumnOperation { Table = "t", Name = "c", ClrType = typeof(string), ColumnType = "character varying(200)", IsNullable = true },
        }));
        Assert.Null(Risk(new AlterColumnOperation
        {
            Table = "t", Name = "c", ClrType = typeof(string), ColumnType = "character varying(200)", IsNullable = true, Comment = "c",
            OldColumn = new AddColumnOperation { Table = "t", Name = "c", ClrType = typeof(string), ColumnType = "character varying(200)", IsNullable = true },
        }));
        Assert.Null(Risk(new CreateTableOperation { Name = "t" }));
        Assert.Null(Risk(new CreateIndexOperation { Name = "ix", Table = "t", Columns = ["c"] }));
    }

    private static string? Risk(MigrationOperation operation) => operation switch
    {
        DropTableOperation o => $"drop table {o.Name}",
        DropColumnOperation o => $"drop column {o.Table}.{o.Name}",
        RenameColumnOperation o => $"rename column {o.Table}.{o.Name} → {o.NewName}",
        RenameTableOperation o => $"rename table {o.Name} → {o.NewName}",
        DropSchemaOperation o => $"drop schema {o.Name}",
        DropPrimaryKeyOperation o => $"drop primary key {o.Table}.{o.Name}",
        SqlOperation => "sql",
        AddColumnOperation o when !o.IsNullable && o.DefaultValue is null && o.DefaultValueSql is null && o.ComputedColumnSql is null
            => $"add NOT NULL column {o.Table}.{o.Name} without a default",
        AlterColumnOperation o when o.ColumnType != o.OldColumn.ColumnType || o.ClrType != o.OldColumn.ClrType
            || (!o.IsNullable && o.OldColumn.IsNullable) || o.MaxLength < o.OldColumn.MaxLength
            => $"alter column {o.Table}.{o.Name} (type, length or nullability)",
        _ => null,
    };

    /// <summary>The Up operations of every migration of <typeparamref name="TContext"/> after its first, by migration id.</summary>
    private static IEnumerable<(string Id, IReadOnlyList<MigrationOperation> Operations)> UpOperations<TContext>()
        where TContext : DbContext
    {
        var options = new DbContextOptionsBuilder<TContext>().UseNpgsql("Host=unused;Database=unused");
        if (typeof(TContext) == typeof(IdentityStoreDbContext))
        {
            options.UseOpenIddict<Guid>();
        }

        using var context = (TContext)Activator.CreateInstance(typeof(TContext), options.Options)!;
        var assembly = context.GetService<IMigrationsAssembly>();
        var ids = assembly.Migrations.Keys.Order(StringComparer.Ordinal).ToList();
        Assert.True(ids.Count >= 2, $"{typeof(TContext).Name} has {ids.Count} migrations");
        foreach (var id in ids.Skip(1))
        {
            var migration = assembly.CreateMigration(assembly.Migrations[id], context.Database.ProviderName!);
            yield return (id, migration.UpOperations);
        }
    }
}
