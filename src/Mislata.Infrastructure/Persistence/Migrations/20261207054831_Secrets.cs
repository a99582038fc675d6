using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mislata.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class Secrets : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "secret_versions_kept",
                schema: "mislata",
                table: "tenants",
                type: "integer",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "secrets",
                schema: "mislata",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    description = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: true),
                    labels = table.Column<List<string>>(type: "text[]", nullable: false),
                    content_type = table.Column<string>(type: "character varying(127)", maxLength: 127, nullable: true),
                    expires_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    current_version = table.Column<int>(type: "integer", nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    deleted_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    purge_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    created_by = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_secrets", x => x.id);
                    table.CheckConstraint("ck_secrets_deleted", "(state = 'Deleted') = (deleted_at IS NOT NULL AND purge_at IS NOT NULL)");
                    table.CheckConstraint("ck_secrets_version", "current_version >= 1");
                    table.ForeignKey(
                        name: "FK_secrets_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalSchema: "mislata",
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "secret_versions",
                schema: "mislata",
                columns: table => new
                {
                    secret_id = table.Column<Guid>(type: "uuid", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    sealed_value = table.Column<byte[]>(type: "bytea", nullable: false),
                    dek_version = table.Column<int>(type: "integer", nullable: false),
                    created_by = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_secret_versions", x => new { x.secret_id, x.version });
                    table.CheckConstraint("ck_secret_versions_version", "version >= 1");
                    table.ForeignKey(
                        name: "FK_secret_versions_secrets_secret_id",
                        column: x => x.secret_id,
                        principalSchema: "mislata",
                        principalTable: "secrets",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_secret_versions_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalSchema: "mislata",
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_secret_versions_tenant_id",
                schema: "mislata",
                table: "secret_versions",
                column: "tenant_id");

            migrationBuilder.CreateIndex(
                name: "IX_secrets_purge_at",
                schema: "mislata",
                table: "secrets",
                column: "purge_at",
                filter: "purge_at IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "IX_secrets_tenant_id_id",
                schema: "mislata",
                table: "secrets",
                columns: new[] { "tenant_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_secrets_tenant_live_name",
                schema: "mislata",
                table: "secrets",
                columns: new[] { "tenant_id", "name" },
                unique: true,
                filter: "state = 'Live'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "secret_versions",
                schema: "mislata");

            migrationBuilder.DropTable(
                name: "secrets",
                schema: "mislata");

            migrationBuilder.DropColumn(
                name: "secret_versions_kept",
                schema: "mislata",
                table: "tenants");
        }
    }
}
