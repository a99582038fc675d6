using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mislata.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class Keys : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "keys",
                schema: "mislata",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    algorithm = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    type = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    origin = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    current_version = table.Column<int>(type: "integer", nullable: false),
                    min_decryption_version = table.Column<int>(type: "integer", nullable: false),
                    is_default = table.Column<bool>(type: "boolean", nullable: false),
                    tags = table.Column<List<string>>(type: "text[]", nullable: false),
                    description = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: true),
                    rotation_period_days = table.Column<int>(type: "integer", nullable: true),
                    next_rotation_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    deletion_date = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    created_by = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_keys", x => x.id);
                    table.CheckConstraint("ck_keys_deletion", "(state = 'PendingDeletion') = (deletion_date IS NOT NULL) OR state = 'Destroyed'");
                    table.CheckConstraint("ck_keys_versions", "current_version >= 1 AND min_decryption_version BETWEEN 1 AND current_version");
                    table.ForeignKey(
                        name: "FK_keys_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalSchema: "mislata",
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "key_versions",
                schema: "mislata",
                columns: table => new
                {
                    key_id = table.Column<Guid>(type: "uuid", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    sealed_material = table.Column<byte[]>(type: "bytea", nullable: false),
                    dek_version = table.Column<int>(type: "integer", nullable: false),
                    public_key = table.Column<byte[]>(type: "bytea", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    last_used_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    invocation_count = table.Column<long>(type: "bigint", nullable: false),
                    destroyed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_key_versions", x => new { x.key_id, x.version });
                    table.CheckConstraint("ck_key_versions_destroyed", "(state = 'Destroyed') = (length(sealed_material) = 0)");
                    table.ForeignKey(
                        name: "FK_key_versions_keys_key_id",
                        column: x => x.key_id,
                        principalSchema: "mislata",
                        principalTable: "keys",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_key_versions_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalSchema: "mislata",
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_key_versions_tenant_id",
                schema: "mislata",
                table: "key_versions",
                column: "tenant_id");

            migrationBuilder.CreateIndex(
                name: "IX_keys_deletion_date",
                schema: "mislata",
                table: "keys",
                column: "deletion_date",
                filter: "deletion_date IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "IX_keys_next_rotation_at",
                schema: "mislata",
                table: "keys",
                column: "next_rotation_at",
                filter: "next_rotation_at IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "IX_keys_tenant_id_id",
                schema: "mislata",
                table: "keys",
                columns: new[] { "tenant_id", "id" });

            migrationBuilder.CreateIndex(
                name: "IX_keys_tenant_id_name",
                schema: "mislata",
                table: "keys",
                columns: new[] { "tenant_id", "name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_keys_tenant_default",
                schema: "mislata",
                table: "keys",
                columns: new[] { "tenant_id", "type" },
                unique: true,
                filter: "is_default");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "key_versions",
                schema: "mislata");

            migrationBuilder.DropTable(
                name: "keys",
                schema: "mislata");
        }
    }
}
