using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mislata.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class KeyedAuditChain : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "available_to_partners",
                schema: "mislata",
                table: "plans",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<string>(
                name: "mac_key_id",
                schema: "mislata",
                table: "audit_events",
                type: "character varying(32)",
                maxLength: 32,
                nullable: true);

            migrationBuilder.AddColumn<byte[]>(
                name: "mac",
                schema: "mislata",
                table: "audit_chain_heads",
                type: "bytea",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "mac_key_id",
                schema: "mislata",
                table: "audit_chain_heads",
                type: "character varying(32)",
                maxLength: 32,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "audit_checkpoints",
                schema: "mislata",
                columns: table => new
                {
                    chain = table.Column<Guid>(type: "uuid", nullable: false),
                    sequence = table.Column<long>(type: "bigint", nullable: false),
                    hash = table.Column<byte[]>(type: "bytea", nullable: false),
                    keyed_seen = table.Column<bool>(type: "boolean", nullable: false),
                    rescan_after = table.Column<long>(type: "bigint", nullable: false),
                    mac_key_id = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    mac = table.Column<byte[]>(type: "bytea", nullable: false),
                    verified_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_audit_checkpoints", x => x.chain);
                });

            // Partners sell the seeded entry plans; enterprise and any new plan only when an operator opens it to them.
            migrationBuilder.Sql("""
                UPDATE mislata.plans SET available_to_partners = true
                WHERE id IN ('0195a1c0-0000-7000-8000-000000000001', '0195a1c0-0000-7000-8000-000000000002')
                """);

            // Existing rows keep mac_key_id NULL: v1 (unkeyed) links. Their heads are sealed (MAC'd) once by the start-up
            // that applies this migration (DatabaseMigrator → AuditChainUpgrade); no audit row is rewritten.
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "audit_checkpoints",
                schema: "mislata");

            migrationBuilder.DropColumn(
                name: "available_to_partners",
                schema: "mislata",
                table: "plans");

            migrationBuilder.DropColumn(
                name: "mac_key_id",
                schema: "mislata",
                table: "audit_events");

            migrationBuilder.DropColumn(
                name: "mac",
                schema: "mislata",
                table: "audit_chain_heads");

            migrationBuilder.DropColumn(
                name: "mac_key_id",
                schema: "mislata",
                table: "audit_chain_heads");
        }
    }
}
